"""The console's apps page (/console/apps): the registered OAuth clients, registering one (its
secret shown once, only its hash stored), regenerating a secret, disabling and enabling,
deleting with the name typed, the service's refusals shown in the form, the audit entries, the
CSRF token, what viewers and support may do, and the page while the OAuth server is off."""

from __future__ import annotations

import json
import re
import uuid
from html import unescape

import pytest
import sqlalchemy as sa

from gotrue_web.console.operations.audit_log import summaries
from gotrue_web.extensions import db
from gotrue_web.models import OAuthClient
from gotrue_web.security.client_secrets import client_secret_hash, client_secret_matches

from ..factories import audit_entries, freeze_clock
from ..oauth_server.conftest import register_client
from .conftest import OPERATOR_PASSWORD, console_client, form_error, signed_in

PAGE = "/console/apps"
CALLBACK = "https://crm.acme.example/auth/callback"
_SECRET = re.compile(r'id="app-client-secret"[^>]*value="([^"]+)"')


@pytest.fixture
def apps_app(make_app):
    return make_app(**{"oauth_server.enabled": True})


@pytest.fixture
def operator(apps_app):
    return signed_in(apps_app)


def client_rows(app, *, deleted: bool = True) -> list[OAuthClient]:
    with app.app_context():
        statement = sa.select(OAuthClient).order_by(OAuthClient.created_at)
        if not deleted:
            statement = statement.where(OAuthClient.deleted_at.is_(None))
        found = list(db.session.execute(statement).scalars())
        db.session.expunge_all()
        return found


def client_row(app, client_id) -> OAuthClient:
    with app.app_context():
        row = db.session.get(OAuthClient, uuid.UUID(str(client_id)))
        db.session.expunge_all()
        return row


def snapshot(app) -> list[str]:
    with app.app_context():
        return sorted(map(repr, db.session.execute(sa.select(OAuthClient.__table__)).all()))


def app_entries(app) -> list[dict]:
    return audit_entries(app, "oauth_client_changed")


def html(response) -> str:
    return response.get_data(as_text=True)


def toast_of(response) -> dict:
    return json.loads(response.headers["HX-Trigger"])["toast"]


def app_card(body: str, client_id: str) -> str:
    return re.search(rf'<article class="card" id="app-{client_id}"(.*?)</article>', body,
                     re.S).group(1)


def secret_in(response) -> str | None:
    match = _SECRET.search(html(response))
    return match.group(1) if match else None


def register_form(**fields) -> dict:
    return {"client_name": "Acme CRM", "redirect_uris": CALLBACK,
            "client_type": "confidential", **fields}


# --- the list -----------------------------------------------------------------------------------


def test_the_page_lists_the_apps_newest_first_without_secrets(apps_app, operator):
    crm = register_client(apps_app, name="Acme CRM",
                          redirect_uris=(CALLBACK, "http://localhost:4000/cb"))
    spa = register_client(apps_app, client_type="public", name="Acme SPA")
    paused = register_client(apps_app, name="Paused App", disabled=True)
    gone = register_client(apps_app, name="Gone App", deleted=True)

    page = operator.get(PAGE)
    assert page.status_code == 200
    body = html(page)
    assert 'aria-current="page">Apps</a>' in body
    assert "The OAuth server is off" not in body
    assert 'Registered apps <span class="muted">3</span>' in body
    order = [body.index(f'id="app-{c.client_id}"') for c in (paused, spa, crm)]
    assert order == sorted(order)  # newest first
    row = app_card(body, crm.client_id)
    assert f'<h3 id="app-{crm.client_id}-name">Acme CRM</h3>' in row
    assert f'data-copy="{crm.client_id}"' in row
    assert "Confidential" in row and "<code>client_secret_basic</code>" in row
    assert CALLBACK in row and "http://localhost:4000/cb" in row
    assert "Manual" in row and "<time" in row and "Enabled" in row
    assert "Regenerate secret" in row
    row = app_card(body, spa.client_id)
    assert "Public" in row and "<code>none</code>" in row
    assert "Regenerate secret" not in row  # a public app has no secret
    row = app_card(body, paused.client_id)
    assert "Disabled" in row and f'action="{PAGE}/{paused.client_id}/enable"' in row
    assert gone.client_id not in body and "Gone App" not in body
    assert crm.secret not in body
    assert client_secret_hash(crm.secret) not in body
    assert f'action="{PAGE}"' in body  # the register form (an owner, the server on)


def test_no_apps(operator):
    body = html(operator.get(PAGE))
    assert "No apps" in body and "POST /admin/oauth/clients" in body


# --- registering --------------------------------------------------------------------------------


def test_register_a_confidential_app_shows_its_secret_once(apps_app, operator):
    clock = freeze_clock(apps_app)
    response = operator.post(PAGE, register_form(
        redirect_uris=f"{CALLBACK}\n  myapp://callback\n\n"))
    assert response.status_code == 200, html(response)
    secret = secret_in(response)
    assert secret and len(secret) == 43
    body = html(response)
    assert "Acme CRM registered." in body  # the flash
    assert "Copy the secret now: it cannot be shown again." in body
    assert f'data-copy="{secret}"' in body
    assert response.headers["Cache-Control"] == "no-store"

    [row] = client_rows(apps_app)
    assert row.client_name == "Acme CRM"
    assert row.redirect_uri_list == [CALLBACK, "myapp://callback"]
    assert row.client_type.value == "confidential"
    assert row.token_endpoint_auth_method == "client_secret_basic"
    assert row.registration_type.value == "manual"
    assert row.grant_type_list == ["authorization_code", "refresh_token"]
    assert row.created_at == clock.now and row.disabled_at is None
    # Only the hash is kept, and the secret shown is the one it was made from.
    assert row.client_secret_hash == client_secret_hash(secret) != secret
    assert client_secret_matches(secret, row.client_secret_hash)
    assert secret not in "".join(snapshot(apps_app))
    assert str(row.id) in body

    [entry] = app_entries(apps_app)
    assert entry["actor_username"] == "operator@example.com"
    assert entry["log_type"] == "operator"
    assert entry["ip_address"] == "127.0.0.1"
    assert entry["traits"] == {"oauth_client_id": str(row.id), "client_name": "Acme CRM",
                               "change": "created", "client_type": "confidential",
                               "redirect_uris": [CALLBACK, "myapp://callback"]}
    assert secret not in json.dumps(entry)
    assert summaries.summary(entry["action"], entry["traits"]) == "OAuth app Acme CRM registered"

    # Never again: the page lists the app without the secret.
    again = html(operator.get(PAGE))
    assert secret not in again and "app-client-secret" not in again
    assert f'id="app-{row.id}"' in again


def test_register_with_htmx_answers_the_block_with_the_secret(apps_app, operator):
    response = operator.post(PAGE, register_form(client_name="Hx App"), htmx=True)
    assert response.status_code == 200
    body = html(response)
    assert body.lstrip().startswith('<div id="apps"')  # the block, not the page
    assert toast_of(response) == {"message": "Hx App registered.", "kind": "ok"}
    [row] = client_rows(apps_app)
    assert client_secret_matches(secret_in(response), row.client_secret_hash)


def test_register_a_public_app(apps_app, operator):
    response = operator.post(PAGE, register_form(client_name="", client_type="public"))
    assert response.status_code == 200
    [row] = client_rows(apps_app)
    assert row.client_type.value == "public" and row.token_endpoint_auth_method == "none"
    assert row.client_secret_hash is None and row.client_name is None
    body = html(response)
    assert secret_in(response) is None and "A public app has no secret" in body
    assert f"App {row.id} registered." in body
    [entry] = app_entries(apps_app)
    assert entry["traits"]["client_name"] == ""
    assert summaries.summary(entry["action"], entry["traits"]) == \
        f"OAuth app {row.id} registered"


@pytest.mark.parametrize("fields, message", [
    ({"redirect_uris": "  \n "}, "redirect_uris is required"),
    ({"redirect_uris": "http://crm.acme.example/cb"},
     "invalid redirect_uri 'http://crm.acme.example/cb': HTTP scheme only allowed for localhost"),
    ({"redirect_uris": "https://crm.acme.example/cb#top"},
     "invalid redirect_uri 'https://crm.acme.example/cb#top': fragment not allowed in redirect "
     "URI"),
    ({"redirect_uris": "javascript://x/alert"},
     "invalid redirect_uri 'javascript://x/alert': scheme 'javascript' is not allowed for "
     "security reasons"),
    ({"redirect_uris": "\n".join(f"https://a.example/{n}" for n in range(11))},
     "redirect_uris cannot exceed 10 items"),
    ({"client_type": "secret"}, "client_type must be 'public' or 'confidential'"),
    ({"client_name": "x" * 1025}, "client_name cannot exceed 1024 characters"),
])
def test_refusals_are_the_services_and_shown_in_the_form(apps_app, operator, fields, message):
    response = operator.post(PAGE, register_form(**{"client_name": "Kept as typed", **fields}))
    assert response.status_code == 422, html(response)
    assert unescape(form_error(response)) == message  # without GoTrue's "400: " prefix
    assert 'id="app-register"' in html(response)
    if "client_name" not in fields:
        assert 'value="Kept as typed"' in html(response)
    assert client_rows(apps_app) == [] and app_entries(apps_app) == []


def test_an_htmx_refusal_answers_the_block_with_a_toast(apps_app, operator):
    response = operator.post(PAGE, register_form(redirect_uris=""), htmx=True)
    assert response.status_code == 422
    body = html(response)
    assert body.lstrip().startswith('<div id="apps"') and "redirect_uris is required" in body
    assert toast_of(response) == {"message": "redirect_uris is required", "kind": "error"}
    assert client_rows(apps_app) == []


# --- regenerating -------------------------------------------------------------------------------


def test_regenerate_shows_the_new_secret_once_and_the_old_one_stops_matching(apps_app,
                                                                             operator):
    crm = register_client(apps_app, name="Acme CRM")
    before = client_row(apps_app, crm.client_id).client_secret_hash
    response = operator.post(f"{PAGE}/{crm.client_id}/secret")
    assert response.status_code == 200, html(response)
    secret = secret_in(response)
    body = html(response)
    assert "New secret for Acme CRM" in body and "cannot be shown again" in body
    assert "the previous one no longer works" in body
    row = client_row(apps_app, crm.client_id)
    assert row.client_secret_hash != before
    assert client_secret_matches(secret, row.client_secret_hash)
    assert not client_secret_matches(crm.secret, row.client_secret_hash)
    [entry] = app_entries(apps_app)
    assert entry["traits"] == {"oauth_client_id": crm.client_id, "client_name": "Acme CRM",
                               "change": "secret_regenerated"}
    assert secret not in json.dumps(entry)
    assert summaries.summary(entry["action"], entry["traits"]) == \
        "OAuth app Acme CRM given a new secret"
    assert secret not in html(operator.get(PAGE))

    with_htmx = operator.post(f"{PAGE}/{crm.client_id}/secret", htmx=True)
    assert with_htmx.status_code == 200
    assert client_secret_matches(secret_in(with_htmx),
                                 client_row(apps_app, crm.client_id).client_secret_hash)
    assert "New secret for Acme CRM" in toast_of(with_htmx)["message"]


def test_regenerate_refusals_are_shown_and_change_nothing(apps_app, operator):
    spa = register_client(apps_app, client_type="public", name="Acme SPA")
    before = snapshot(apps_app)
    plain = operator.post(f"{PAGE}/{spa.client_id}/secret")
    assert plain.status_code == 303 and plain.headers["Location"] == PAGE
    assert "Cannot regenerate secret for public client" in html(operator.get(PAGE))

    response = operator.post(f"{PAGE}/{spa.client_id}/secret", htmx=True)
    assert response.status_code == 422
    body = html(response)
    assert toast_of(response)["message"] == "Cannot regenerate secret for public client"
    row = app_card(body, spa.client_id)
    assert '<details class="app-actions" open>' in row  # the message beside the app
    assert "Cannot regenerate secret for public client" in row

    unknown = operator.post(f"{PAGE}/{uuid.uuid4()}/secret", htmx=True)
    assert unknown.status_code == 404
    assert toast_of(unknown)["message"] == "OAuth client not found"
    malformed = operator.post(f"{PAGE}/not-a-uuid/secret")
    assert malformed.status_code == 303
    assert "invalid client_id format" in html(operator.get(PAGE))
    assert snapshot(apps_app) == before and app_entries(apps_app) == []


# --- disabling and enabling ---------------------------------------------------------------------


def test_disable_and_enable(apps_app, operator):
    clock = freeze_clock(apps_app)
    crm = register_client(apps_app, name="Acme CRM")
    url = f"{PAGE}/{crm.client_id}"
    response = operator.post(url + "/disable")
    assert response.status_code == 303 and response.headers["Location"] == PAGE
    assert client_row(apps_app, crm.client_id).disabled_at == clock.now
    page = html(operator.get(PAGE))
    assert "Acme CRM is disabled: it cannot sign users in until it is enabled again." in page
    assert f'action="{url}/enable"' in page and f'action="{url}/disable"' not in page

    again = operator.post(url + "/disable", htmx=True)  # nothing to do: not audited
    assert again.status_code == 200
    assert toast_of(again)["message"] == "Acme CRM was disabled already."

    clock.advance(seconds=1)  # audit entries are read back in time order
    enabled = operator.post(url + "/enable", htmx=True)
    assert enabled.status_code == 200
    assert enabled.get_data(as_text=True).lstrip().startswith('<div id="apps"')
    assert toast_of(enabled)["message"] == "Acme CRM is enabled again."
    assert client_row(apps_app, crm.client_id).disabled_at is None
    entries = app_entries(apps_app)
    assert [entry["traits"]["change"] for entry in entries] == ["disabled", "enabled"]
    assert [summaries.summary(e["action"], e["traits"]) for e in entries] == [
        "OAuth app Acme CRM disabled", "OAuth app Acme CRM enabled again"]
    assert operator.post(f"{PAGE}/{uuid.uuid4()}/enable").status_code == 303


# --- deleting -----------------------------------------------------------------------------------


def test_delete_needs_the_name_typed_and_soft_deletes(apps_app, operator):
    clock = freeze_clock(apps_app)
    crm = register_client(apps_app, name="Acme CRM")
    url = f"{PAGE}/{crm.client_id}/delete"
    page = html(operator.get(PAGE))
    assert f'action="{url}"' in page and "Type <code>Acme CRM</code> to delete it" in page

    wrong = operator.post(url, {"confirm": "acme crm"})
    assert wrong.status_code == 303
    assert "Type Acme CRM to confirm. Nothing was deleted." in html(operator.get(PAGE))
    wrong = operator.post(url, {"confirm": ""}, htmx=True)
    assert wrong.status_code == 422
    assert toast_of(wrong)["message"] == "Type Acme CRM to confirm. Nothing was deleted."
    assert client_row(apps_app, crm.client_id).deleted_at is None and app_entries(apps_app) == []

    deleted = operator.post(url, {"confirm": " Acme CRM "})
    assert deleted.status_code == 303 and deleted.headers["Location"] == PAGE
    row = client_row(apps_app, crm.client_id)
    assert row.deleted_at == clock.now  # soft: the row stays
    page = html(operator.get(PAGE))
    assert "Acme CRM was deleted." in page and f'id="app-{crm.client_id}"' not in page
    [entry] = app_entries(apps_app)
    assert entry["traits"] == {"oauth_client_id": crm.client_id, "client_name": "Acme CRM",
                               "change": "deleted", "redirect_uris": [crm.redirect_uris[0]]}
    # Gone for the console as for the admin API.
    assert operator.post(url, {"confirm": "Acme CRM"}).status_code == 303
    assert "OAuth client not found" in html(operator.get(PAGE))
    assert len(app_entries(apps_app)) == 1


def test_an_unnamed_app_is_deleted_by_typing_its_client_id(apps_app, operator):
    unnamed = register_client(apps_app, name=None)
    url = f"{PAGE}/{unnamed.client_id}/delete"
    assert f"Type <code>{unnamed.client_id}</code>" in html(operator.get(PAGE))
    response = operator.post(url, {"confirm": unnamed.client_id}, htmx=True)
    assert response.status_code == 200
    assert toast_of(response)["message"] == f"App {unnamed.client_id} was deleted."
    assert client_row(apps_app, unnamed.client_id).deleted_at is not None


def test_the_audit_log_words_and_filters_app_changes(apps_app, operator):
    operator.post(PAGE, register_form())
    page = html(operator.get("/console/audit?happened=apps"))
    assert "OAuth app Acme CRM registered" in page and "OAuth app changes" in page


# --- CSRF, roles, and the server off ------------------------------------------------------------


def test_every_post_needs_the_csrf_token(apps_app, operator):
    crm = register_client(apps_app, name="Acme CRM")
    before = snapshot(apps_app)
    for path, data in ((PAGE, register_form()), (f"{PAGE}/{crm.client_id}/secret", {}),
                       (f"{PAGE}/{crm.client_id}/disable", {}),
                       (f"{PAGE}/{crm.client_id}/delete", {"confirm": "Acme CRM"})):
        for htmx in (False, True):
            response = operator.post(path, data, htmx=htmx, csrf=False)
            assert response.status_code == 400, path
            assert "This form has expired" in html(response)
    assert snapshot(apps_app) == before and app_entries(apps_app) == []


@pytest.mark.parametrize("role", ["viewer", "support"])
def test_viewers_and_support_see_the_apps_and_may_change_nothing(apps_app, role):
    crm = register_client(apps_app, name="Acme CRM")
    with apps_app.app_context():
        from gotrue_web.console.operations import operators
        operators.create(apps_app.extensions["gotrue"], f"{role}@example.com",
                         OPERATOR_PASSWORD, role=role)
        db.session.commit()
    client = console_client(apps_app)
    assert client.login(f"{role}@example.com", OPERATOR_PASSWORD).status_code == 303
    body = html(client.get(PAGE))
    assert "Acme CRM" in body and crm.client_id in body
    assert 'action="/console/apps' not in body and "hx-post=\"/console/apps" not in body
    assert "Manage" not in body
    before = snapshot(apps_app)
    for path, data in ((PAGE, register_form()), (f"{PAGE}/{crm.client_id}/secret", {}),
                       (f"{PAGE}/{crm.client_id}/disable", {}),
                       (f"{PAGE}/{crm.client_id}/enable", {}),
                       (f"{PAGE}/{crm.client_id}/delete", {"confirm": "Acme CRM"})):
        response = client.post(path, data)
        assert response.status_code == 403, path
        assert f"your role is {role}" in html(response)
    assert snapshot(apps_app) == before and app_entries(apps_app) == []


def test_an_admin_may_change_apps(apps_app):
    crm = register_client(apps_app, name="Acme CRM")
    with apps_app.app_context():
        from gotrue_web.console.operations import operators
        operators.create(apps_app.extensions["gotrue"], "admin@example.com", OPERATOR_PASSWORD,
                         role="admin")
        db.session.commit()
    client = console_client(apps_app)
    assert client.login("admin@example.com", OPERATOR_PASSWORD).status_code == 303
    assert client.post(f"{PAGE}/{crm.client_id}/disable").status_code == 303
    assert client_row(apps_app, crm.client_id).disabled_at is not None


def test_server_off_says_how_to_turn_it_on_lists_the_apps_and_refuses_changes(make_app):
    off = make_app()
    crm = register_client(off, name="Acme CRM")
    client = signed_in(off)
    body = html(client.get(PAGE))
    assert "The OAuth server is off" in body and "GOTRUE_OAUTH_SERVER_ENABLED=true" in body
    assert "Acme CRM" in body and crm.client_id in body
    assert 'action="/console/apps' not in body and "Manage" not in body
    before = snapshot(off)
    for path, data in ((PAGE, register_form()), (f"{PAGE}/{crm.client_id}/secret", {}),
                       (f"{PAGE}/{crm.client_id}/disable", {}),
                       (f"{PAGE}/{crm.client_id}/delete", {"confirm": "Acme CRM"})):
        response = client.post(path, data)
        assert response.status_code == 303, path
        assert "OAuth server is disabled" in html(client.get(PAGE)), path
        with_htmx = client.post(path, data, htmx=True)
        assert with_htmx.status_code == 422, path
        assert toast_of(with_htmx)["message"] == "OAuth server is disabled"
        assert html(with_htmx).lstrip().startswith('<div id="apps"')  # the list stays
        assert "Acme CRM" in html(with_htmx)
    assert snapshot(off) == before and app_entries(off) == []
