"""Operator roles (issue 15): a matrix over every console endpoint of app.url_map, so a route
added later is tested without being listed here. Each role gets its answer (not 403) or a 403;
a refusal is audited (who, which action, which role) and changes nothing else in the database;
the pages show no form the role may not send.

The expectations are written out here, apart from console/roles.py: every page is readable by
every role; a POST needs an admin, except the operator's own account and the template preview
(everyone), the emails support sends (support and above), and operators_* and
configuration_* (owners)."""

from __future__ import annotations

import re
import uuid
from html import unescape
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from gotrue_web.console import roles
from gotrue_web.console.operations import operators
from gotrue_web.console.operations.audit_log import summaries
from gotrue_web.db import Base
from gotrue_web.extensions import db
from gotrue_web.models import AuditLogEntry, Factor, Identity, Operator, User

from ..factories import make_user
from .conftest import OPERATOR_PASSWORD, ConsoleClient, console_client

ROLES = ("viewer", "support", "admin", "owner")
# Reached without a console session: no role applies.
PUBLIC = {"console.login", "console.login_submit", "console.operator_join",
          "console.operator_join_submit"}
EVERYONE_POSTS = {"console.logout", "console.password_change", "console.totp_start",
                  "console.totp_confirm", "console.totp_disable", "console.preview"}
SUPPORT_POSTS = {"console.send_recovery", "console.send_magic_link",
                 "console.resend_confirmation", "console.resend_invite", "console.smtp_test"}
# Run last: it ends the session the rest of the matrix uses.
LAST = {"console.logout"}
_FORM = re.compile(r"<form\b([^>]*)>", re.I)
_ATTRIBUTE = re.compile(r'\b(action|hx-post|formaction)="([^"]*)"', re.I)


def expected_role(endpoint: str, method: str) -> str:
    if method in ("GET", "HEAD"):
        return "viewer"
    if endpoint in EVERYONE_POSTS:
        return "viewer"
    name = endpoint.removeprefix("console.")
    if name.startswith(("operators_", "configuration_")):
        return "owner"
    if endpoint in SUPPORT_POSTS:
        return "support"
    return "admin"


def allowed(role: str, needed: str) -> bool:
    return ROLES.index(role) >= ROLES.index(needed)


def console_routes(app) -> list[tuple[str, str, str]]:
    """(endpoint, method, rule) of every console route but the public ones, logout last."""
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("console.") or rule.endpoint in PUBLIC:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((rule.endpoint, method, rule.rule))
    return sorted(routes, key=lambda route: (route[0] in LAST, route))


def fill(rule: str, values: dict[str, str]) -> str:
    # A parameter with no value here gets a random id: the role check comes before the view.
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>",
                  lambda match: values.get(match.group(1), str(uuid.uuid4())), rule)


def snapshot(app) -> dict[str, list[str]]:
    """Every row of every table but the audit log."""
    with app.app_context():
        return {table.name: sorted(repr(tuple(row)) for row in
                                   db.session.execute(table.select()).all())
                for table in Base.metadata.sorted_tables if table.name != "audit_log_entries"}


def refusals(app) -> list[dict]:
    with app.app_context():
        entries = db.session.execute(
            sa.select(AuditLogEntry).order_by(AuditLogEntry.created_at)).scalars().all()
        return [{**entry.payload, "ip_address": entry.ip_address} for entry in entries
                if entry.payload.get("action") == "operator_action_refused"]


def add_operator(app, email: str, role: str) -> uuid.UUID:
    with app.app_context():
        operator = operators.create(app.extensions["gotrue"], email, OPERATOR_PASSWORD,
                                    role=role)
        db.session.commit()
        return operator.id


def signed_in_as(app, role: str) -> ConsoleClient:
    email = f"{role}-{uuid.uuid4().hex[:6]}@example.com"
    add_operator(app, email, role)
    client = console_client(app)
    assert client.login(email, OPERATOR_PASSWORD).status_code == 303
    client.email = email
    return client


@pytest.fixture
def world(app, api) -> dict[str, str]:
    """A user with a session, a second identity and a factor, a pending invitation and another
    operator: values for every parameter the console's routes take."""
    session = api.session("member@example.com")
    user_id = session["user"]["id"]
    rich = make_user(app, "rich@example.com", password="password-123",
                     providers=("email", "github"), factors=("verified",))
    assert api.admin("POST", "/invite", json={"email": "pending@example.com"}
                     ).status_code == 200
    with app.app_context():
        identity = db.session.execute(sa.select(Identity.id).where(
            Identity.user_id == rich, Identity.provider == "github")).scalar_one()
        factor = db.session.execute(sa.select(Factor.id).where(
            Factor.user_id == rich)).scalar_one()
    target = add_operator(app, "target@example.com", "viewer")
    return {"user_id": user_id, "session_id": str(uuid.UUID(int=0)), "factor_id": str(factor),
            "identity_id": str(identity), "kind": "recovery", "fmt": "csv", "name": "github",
            "operator_id": str(target), "rich_user_id": str(rich),
            "access_token": session["access_token"]}


# --- the policy ---------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint, method, needed", [
    ("console.users", "GET", "viewer"),
    ("console.settings", "GET", "viewer"),
    ("console.operators", "GET", "viewer"),
    ("console.preview", "POST", "viewer"),
    ("console.password_change", "POST", "viewer"),
    ("console.send_recovery", "POST", "support"),
    ("console.smtp_test", "POST", "support"),
    ("console.resend_invite", "POST", "support"),
    ("console.send_invites", "POST", "admin"),
    ("console.export", "POST", "admin"),
    ("console.ban", "POST", "admin"),
    ("console.bulk_ban", "POST", "admin"),  # routes other work adds are covered as written
    ("console.operators_invite", "POST", "owner"),
    ("console.operators_delete", "POST", "owner"),
    ("console.configuration_save", "POST", "owner"),
    ("console.operators", "POST", "owner"),
    ("console.operatorsx", "POST", "admin"),
])
def test_the_policy(endpoint, method, needed):
    assert roles.required_role(endpoint, method) == needed


# --- the matrix ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_every_console_endpoint_answers_each_role_as_the_policy_says(app, world, role):
    client = signed_in_as(app, role)
    routes = console_routes(app)
    assert len(routes) >= 60, routes  # the whole table
    refused_before = len(refusals(app))
    denied = []
    for endpoint, method, rule in routes:
        url = fill(rule, world)
        needed = expected_role(endpoint, method)
        if allowed(role, needed):
            response = client.client.open(url, method=method, data={
                "csrf_token": client.csrf_token} if method != "GET" else None)
            assert response.status_code != 403, (endpoint, method, response.status_code)
            assert response.status_code < 500 or response.status_code == 501, (
                endpoint, method, response.status_code)
            continue
        denied.append(endpoint)
        before = snapshot(app)
        response = client.post(url, {"keep": "nothing"})
        assert response.status_code == 403, (endpoint, response.status_code)
        body = response.get_data(as_text=True)
        assert "Not allowed" in body and f"your role is {role}" in body, endpoint
        htmx = client.post(url, {}, htmx=True)
        assert htmx.status_code == 403, endpoint
        assert f"your role is {role}" in htmx.headers["HX-Trigger"], endpoint
        assert snapshot(app) == before, endpoint
        entries = refusals(app)
        assert len(entries) == refused_before + 2 * len(denied), endpoint
        entry = entries[-1]
        assert entry["actor_username"] == client.email, endpoint
        assert entry["traits"] == {"refused_action": endpoint, "method": "POST",
                                   "path": urlsplit(url).path, "operator_role": role,
                                   "required_role": needed}
        assert entry["ip_address"] == "203.0.113.10" and entry["log_type"] == "operator"
    expected_denials = {"owner": 0, "admin": 8, "support": 30, "viewer": 35}[role]
    assert len(denied) >= expected_denials, (role, denied)
    if role == "owner":
        assert denied == []


def test_a_refusal_reads_well_in_the_audit_log(app, world):
    client = signed_in_as(app, "support")
    client.post(f"/console/users/{world['user_id']}/ban", {"duration": "24h", "reason": "x"})
    [entry] = refusals(app)
    assert summaries.summary(entry["action"], entry["traits"]) == \
        "refused to a support: ban (needs admin)"
    owner = signed_in_as(app, "owner")
    assert "refused to a support: ban (needs admin)" in owner.get(
        "/console/audit").get_data(as_text=True)


def test_a_refused_action_does_not_run(app, world):
    """Support may send a recovery email but not ban: the ban leaves the user as it was."""
    client = signed_in_as(app, "support")
    response = client.post(f"/console/users/{world['user_id']}/ban",
                           {"duration": "24h", "reason": "spam"})
    assert response.status_code == 403
    with app.app_context():
        assert db.session.get(User, uuid.UUID(world["user_id"])).banned_until is None
    sent = client.post(f"/console/users/{world['user_id']}/recovery")
    assert sent.status_code == 303


def test_an_operator_with_a_role_the_console_does_not_know_may_do_nothing(app, world):
    client = signed_in_as(app, "admin")
    with app.app_context():
        db.session.execute(sa.update(Operator).where(Operator.email == client.email)
                           .values(role="auditor"))
        db.session.commit()
    assert client.get("/console/users").status_code == 403
    assert client.post(f"/console/users/{world['user_id']}/recovery").status_code == 403
    assert [entry["traits"]["operator_role"] for entry in refusals(app)] == ["auditor"] * 2


# --- what the pages offer -----------------------------------------------------------------------


def post_targets(app, body: str) -> set[str]:
    """The endpoints the page's forms and htmx posts go to."""
    adapter = app.url_map.bind("localhost")
    targets = set()
    urls = [value for tag in _FORM.findall(body) if 'method="post"' in tag.lower()
            for name, value in _ATTRIBUTE.findall(tag) if name.lower() == "action"]
    urls += [value for name, value in _ATTRIBUTE.findall(body)
             if name.lower() in ("hx-post", "formaction")]
    for url in urls:
        endpoint, _ = adapter.match(urlsplit(unescape(url)).path, method="POST")
        targets.add(endpoint)
    return targets


@pytest.mark.parametrize("role", ROLES)
def test_pages_offer_only_the_actions_the_role_may_take(app, world, role):
    client = signed_in_as(app, role)
    offered = set()
    with app.test_request_context():
        pages = [fill(rule, world) for endpoint, method, rule in console_routes(app)
                 if method == "GET"]
    pages += [f"/console/users/{world['rich_user_id']}",
              f"/console/users/{world['rich_user_id']}/identities/{world['identity_id']}/unlink",
              "/console/templates/recovery", "/console/sessions/sign-out?q=member"]
    for page in pages:
        response = client.get(page)
        assert response.status_code < 500, page
        for endpoint in post_targets(app, response.get_data(as_text=True)):
            assert allowed(role, expected_role(endpoint, "POST")), (role, page, endpoint)
            offered.add(endpoint)
    # And what the role may do is offered.
    assert "console.logout" in offered and "console.preview" in offered
    assert ("console.send_recovery" in offered) == allowed(role, "support")
    assert ("console.ban" in offered) == allowed(role, "admin")
    assert ("console.operators_invite" in offered) == (role == "owner")
