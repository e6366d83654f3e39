"""A user's OAuth grants on their console page: the apps they let sign them in (name, scopes,
when), and Revoke, which revokes the consent, ends the user's sessions of that app (and no
other session) and is audited with the operator as the actor; its refusals, the roles that may
not revoke, the CSRF token, and the card while the OAuth server is off."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from gotrue_web.console.operations.audit_log import summaries
from gotrue_web.extensions import db
from gotrue_web.models import OAuthConsent, Session

from ..conftest import api_for
from ..factories import audit_entries, claims, freeze_clock, make_user, session_ids, sign_in
from ..oauth_server.conftest import register_client
from .conftest import OPERATOR_PASSWORD, console_client, form_error, signed_in

PASSWORD = "password-123"
EMAIL = "ada@example.com"


@pytest.fixture
def oauth_app(make_app):
    return make_app(**{"oauth_server.enabled": True})


@pytest.fixture
def operator(oauth_app):
    return signed_in(oauth_app)


@pytest.fixture
def user_api(oauth_app, service_role_token):
    return api_for(oauth_app, service_role_token)


def grant(app, user_id, client_id, scopes: str = "openid email", *, days_ago: int = 0,
          revoked: bool = False) -> None:
    """A consent as the consent API's approve leaves it."""
    now = app.extensions["gotrue"].now()
    with app.app_context():
        db.session.add(OAuthConsent(
            user_id=user_id, client_id=uuid.UUID(str(client_id)), scopes=scopes,
            granted_at=now - timedelta(days=days_ago), revoked_at=now if revoked else None))
        db.session.commit()


def session_of(app, api, email: str, client_id=None, scopes: str = "openid email"):
    """A real session (password sign-in); with ``client_id``, marked as the code exchange
    marks the sessions it starts (sessions.oauth_client_id and scopes)."""
    session_id = uuid.UUID(claims(sign_in(api, email, PASSWORD)["access_token"])["session_id"])
    if client_id is not None:
        with app.app_context():
            db.session.execute(sa.update(Session).where(Session.id == session_id).values(
                oauth_client_id=uuid.UUID(str(client_id)), scopes=scopes))
            db.session.commit()
    return session_id


def consents(app, user_id) -> dict[str, object]:
    """client_id -> revoked_at of the user's consents."""
    with app.app_context():
        rows = db.session.execute(sa.select(OAuthConsent.client_id, OAuthConsent.revoked_at)
                                  .where(OAuthConsent.user_id == user_id)).all()
    return {str(client_id): revoked_at for client_id, revoked_at in rows}


def grants_card(response) -> str:
    body = response.get_data(as_text=True)
    match = re.search(r'<section class="card flush" id="oauth-grants">(.*?)</section>', body,
                      re.S)
    return match.group(1) if match else ""


def revoke_url(user_id, client_id) -> str:
    return f"/console/users/{user_id}/oauth-grants/{client_id}/revoke"


@pytest.fixture
def world(oauth_app):
    """Ada, with grants to two apps (and a revoked one, and one of a deleted app)."""
    user_id = make_user(oauth_app, EMAIL, password=PASSWORD)
    crm = register_client(oauth_app, name="Acme CRM")
    spa = register_client(oauth_app, client_type="public", name="Acme SPA")
    old = register_client(oauth_app, name="Old Tool")
    gone = register_client(oauth_app, name="Gone App", deleted=True)
    grant(oauth_app, user_id, crm.client_id, "openid email profile", days_ago=3)
    grant(oauth_app, user_id, spa.client_id, "email", days_ago=1)
    grant(oauth_app, user_id, old.client_id, revoked=True)
    grant(oauth_app, user_id, gone.client_id)
    return {"user_id": user_id, "crm": crm, "spa": spa, "old": old, "gone": gone}


# --- the list -----------------------------------------------------------------------------------


def test_the_user_page_lists_the_apps_with_access(oauth_app, operator, world):
    crm, spa = world["crm"], world["spa"]
    page = operator.get(f"/console/users/{world['user_id']}")
    assert page.status_code == 200
    card = grants_card(page)
    assert 'Apps with access <span class="muted">2</span>' in card
    assert card.index(spa.client_id) < card.index(crm.client_id)  # newest first
    row = re.search(rf'<tr id="oauth-grant-{crm.client_id}">(.*?)</tr>', card, re.S).group(1)
    assert "Acme CRM" in row and f'data-copy="{crm.client_id}"' in row
    assert "<code>openid</code> <code>email</code> <code>profile</code>" in row
    assert "<time" in row
    assert f'action="{revoke_url(world["user_id"], crm.client_id)}"' in row
    assert "Revoke Acme CRM&#39;s access?" in row  # the confirm dialog's question
    assert "Old Tool" not in card and "Gone App" not in card


# --- revoking -----------------------------------------------------------------------------------


def test_revoke_ends_the_apps_sessions_only_and_is_audited(oauth_app, operator, world,
                                                           user_api):
    clock = freeze_clock(oauth_app)
    user_id, crm, spa = world["user_id"], world["crm"], world["spa"]
    crm_sessions = {session_of(oauth_app, user_api, EMAIL, crm.client_id) for _ in range(2)}
    spa_session = session_of(oauth_app, user_api, EMAIL, spa.client_id, "email")
    plain = sign_in(user_api, EMAIL, PASSWORD)
    plain_session = uuid.UUID(claims(plain["access_token"])["session_id"])
    other = make_user(oauth_app, "grace@example.com", password=PASSWORD)
    grant(oauth_app, other, crm.client_id)
    others_crm_session = session_of(oauth_app, user_api, "grace@example.com", crm.client_id)
    assert session_ids(oauth_app, user_id) == crm_sessions | {spa_session, plain_session}

    response = operator.post(revoke_url(user_id, crm.client_id))
    assert response.status_code == 303
    assert response.headers["Location"] == f"/console/users/{user_id}"
    assert session_ids(oauth_app, user_id) == {spa_session, plain_session}
    assert session_ids(oauth_app, other) == {others_crm_session}
    assert consents(oauth_app, user_id)[crm.client_id] == clock.now
    assert consents(oauth_app, other)[crm.client_id] is None
    page = operator.get(f"/console/users/{user_id}")
    assert "Acme CRM no longer has access; its sessions of this user have ended." in \
        page.get_data(as_text=True)
    card = grants_card(page)
    assert "Acme CRM" not in card and "Acme SPA" in card

    [entry] = audit_entries(oauth_app, "token_revoked")
    assert entry["actor_username"] == "operator@example.com"
    assert entry["actor_name"] == "operator"
    assert entry["log_type"] == "token" and entry["ip_address"] == "127.0.0.1"
    assert entry["traits"] == {"oauth_client_id": crm.client_id,
                               "action": "revoke_oauth_grant"}
    assert summaries.summary(entry["action"], entry["traits"]) == \
        "an app's access revoked (OAuth grant)"

    # htmx: the detail block comes back with a toast.
    with_htmx = operator.post(revoke_url(user_id, spa.client_id), htmx=True)
    assert with_htmx.status_code == 200
    assert with_htmx.get_data(as_text=True).lstrip().startswith('<div id="user-detail">')
    assert json.loads(with_htmx.headers["HX-Trigger"])["toast"] == {
        "message": "Acme SPA no longer has access; its sessions of this user have ended.",
        "kind": "ok"}
    assert session_ids(oauth_app, user_id) == {plain_session}
    assert "No apps" in grants_card(with_htmx)
    # The session that was not the apps' still works.
    assert user_api.refresh(plain["refresh_token"]).status_code == 200


@pytest.mark.parametrize("client_id, message", [
    ("old", "No active grant found for this client"),
    ("random", "No active grant found for this client"),
    ("not-a-uuid", "invalid client_id format"),
])
def test_revoking_what_is_not_granted_is_refused(oauth_app, operator, world, user_api,
                                                 client_id, message):
    user_id = world["user_id"]
    target = {"old": world["old"].client_id,
              "random": str(uuid.uuid4())}.get(client_id, client_id)
    sessions = {session_of(oauth_app, user_api, EMAIL, world["crm"].client_id)}
    before = consents(oauth_app, user_id)
    response = operator.post(revoke_url(user_id, target))
    assert response.status_code == 422
    assert form_error(response) == message
    assert 'id="oauth-grants"' in response.get_data(as_text=True)
    htmx = operator.post(revoke_url(user_id, target), htmx=True)
    assert htmx.status_code == 422
    assert json.loads(htmx.headers["HX-Trigger"])["toast"]["message"] == message
    assert consents(oauth_app, user_id) == before
    assert session_ids(oauth_app, user_id) == sessions
    assert audit_entries(oauth_app, "token_revoked") == []


def test_revoke_needs_the_csrf_token(oauth_app, operator, world):
    url = revoke_url(world["user_id"], world["crm"].client_id)
    for htmx in (False, True):
        response = operator.post(url, {}, htmx=htmx, csrf=False)
        assert response.status_code == 400
    assert consents(oauth_app, world["user_id"])[world["crm"].client_id] is None


@pytest.mark.parametrize("role", ["viewer", "support"])
def test_viewers_and_support_see_the_grants_and_may_not_revoke(oauth_app, world, role):
    with oauth_app.app_context():
        from gotrue_web.console.operations import operators
        operators.create(oauth_app.extensions["gotrue"], f"{role}@example.com",
                         OPERATOR_PASSWORD, role=role)
        db.session.commit()
    client = console_client(oauth_app)
    assert client.login(f"{role}@example.com", OPERATOR_PASSWORD).status_code == 303
    user_id, crm = world["user_id"], world["crm"]
    card = grants_card(client.get(f"/console/users/{user_id}"))
    assert "Acme CRM" in card and "/revoke" not in card
    response = client.post(revoke_url(user_id, crm.client_id))
    assert response.status_code == 403
    assert f"your role is {role}" in response.get_data(as_text=True)
    assert consents(oauth_app, user_id)[crm.client_id] is None
    assert audit_entries(oauth_app, "token_revoked") == []


# --- the OAuth server off -----------------------------------------------------------------------


def test_with_the_server_off_the_card_shows_only_when_there_are_grants(make_app):
    off = make_app()
    client = signed_in(off)
    plain = make_user(off, "plain@example.com")
    assert 'id="oauth-grants"' not in client.get(
        f"/console/users/{plain}").get_data(as_text=True)
    crm = register_client(off, name="Acme CRM")
    grant(off, plain, crm.client_id)
    card = grants_card(client.get(f"/console/users/{plain}"))
    assert "Acme CRM" in card
    # Revoking still works: it takes access away, which is never wrong.
    assert client.post(revoke_url(plain, crm.client_id)).status_code == 303
    assert consents(off, plain)[crm.client_id] is not None
