"""The consent page's API: GET /oauth/authorizations/{id} (details, first-call binding,
auto-approval by an earlier consent) and POST .../consent (approve with a code and the consent
row, deny), with the not-found, not-pending, expiry, Origin and locking rules."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from gotrue_web import API_PREFIX
from gotrue_web.extensions import db
from gotrue_web.models import OAuthAuthorization, OAuthClient, OAuthConsent

from ..conftest import api_for, table_rows
from ..factories import freeze_clock
from ..openapi.support import checked
from .conftest import CONSENT_PATH, REDIRECT_URI, SITE, register_client
from .test_authorize import STATE, authorize


def start(api, client, **params) -> str:
    """A pending authorization request; its authorization_id."""
    location = authorize(api, client, **params).headers["Location"]
    assert location.startswith(f"{SITE}{CONSENT_PATH}?authorization_id="), location
    return location.rsplit("=", 1)[1]


def row(app, authorization_id: str) -> OAuthAuthorization:
    [(found,)] = table_rows(app, sa.select(OAuthAuthorization).where(
        OAuthAuthorization.authorization_id == authorization_id))
    return found


def consents(app) -> list[OAuthConsent]:
    return [found for (found,) in table_rows(app, sa.select(OAuthConsent))]


class User:
    def __init__(self, api):
        session = api.session()
        self.token = session["access_token"]
        self.id = session["user"]["id"]
        self.email = session["user"]["email"]


@pytest.fixture
def user(oauth_api) -> User:
    return User(oauth_api)


def details(api, user, authorization_id, **kw):
    return api.get(f"/oauth/authorizations/{authorization_id}", token=user.token, **kw)


def consent(api, user, authorization_id, action="approve", **kw):
    kw.setdefault("json", {"action": action})
    return api.post(f"/oauth/authorizations/{authorization_id}/consent", token=user.token, **kw)


def assert_error(response, status: int, code: str, message: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.get_json() == {"code": code, "message": message}


def assert_not_found(response) -> None:
    assert_error(response, 404, "oauth_authorization_not_found", "authorization not found")


def code_of(redirect_url: str) -> str:
    query = parse_qs(urlsplit(redirect_url).query)
    return query["code"][0]


# --- details -------------------------------------------------------------------------------------


def test_details_and_first_call_binding(oauth_app, oauth_api, confidential_client, user):
    authorization_id = start(oauth_api, confidential_client, scope="openid email")
    assert row(oauth_app, authorization_id).user_id is None
    response = checked(oauth_api, "GET", f"/oauth/authorizations/{authorization_id}", 200,
                       token=user.token)
    body = response.get_json()
    assert list(body) == ["authorization_id", "redirect_uri", "client", "user", "scope"]
    assert body == {
        "authorization_id": authorization_id, "redirect_uri": REDIRECT_URI,
        "client": {"id": confidential_client.client_id, "name": "Example App"},
        "user": {"id": user.id, "email": user.email}, "scope": "openid email"}
    assert str(row(oauth_app, authorization_id).user_id) == user.id
    # Asking again shows the same request.
    assert details(oauth_api, user, authorization_id).get_json() == body


def test_details_name_every_client_value_that_is_set(oauth_app, oauth_api, user):
    client = register_client(oauth_app, name=None)
    with oauth_app.app_context():
        found = db.session.get(OAuthClient, uuid.UUID(client.client_id))
        found.client_uri, found.logo_uri = "https://app.example.com", "https://app.example.com/l"
        db.session.commit()
    body = details(oauth_api, user, start(oauth_api, client)).get_json()
    assert body["client"] == {"id": client.client_id, "uri": "https://app.example.com",
                              "logo_uri": "https://app.example.com/l"}
    assert list(body["client"]) == ["id", "uri", "logo_uri"]
    assert body["scope"] == "openid email"


def test_an_unknown_or_another_users_request_is_not_found(oauth_app, oauth_api,
                                                          confidential_client, user):
    for unknown in ("a" * 32, "%00", "A" * 32, "a" * 3000):
        assert_not_found(details(oauth_api, user, unknown))
        assert_not_found(consent(oauth_api, user, unknown))
    authorization_id = start(oauth_api, confidential_client)
    assert details(oauth_api, user, authorization_id).status_code == 200
    other = User(oauth_api)
    assert_not_found(details(oauth_api, other, authorization_id))
    assert_not_found(consent(oauth_api, other, authorization_id))
    assert str(row(oauth_app, authorization_id).user_id) == user.id


def test_a_request_of_a_client_disabled_since_is_not_found(oauth_app, oauth_api,
                                                           confidential_client, user):
    authorization_id = start(oauth_api, confidential_client)
    with oauth_app.app_context():
        db.session.execute(sa.update(OAuthClient).values(disabled_at=sa.func.now()))
        db.session.commit()
    assert_not_found(details(oauth_api, user, authorization_id))


def test_the_user_is_required_and_the_server_switch_is_checked(make_app, oauth_app, oauth_api,
                                                              confidential_client):
    assert oauth_api.get("/oauth/authorizations/x").status_code == 401
    assert oauth_api.post("/oauth/authorizations/x/consent", json={}).status_code == 401
    off = api_for(make_app(**{"site_url": SITE, "mailer.autoconfirm": True}))
    response = details(off, User(off), "x")
    assert_error(response, 404, "feature_disabled", "OAuth server is disabled")


# --- approve and deny ----------------------------------------------------------------------------


def test_approve_gives_a_code_and_stores_the_consent(oauth_app, oauth_api, confidential_client,
                                                     user):
    clock = freeze_clock(oauth_app)
    authorization_id = start(oauth_api, confidential_client, scope="openid email")
    details(oauth_api, user, authorization_id)
    response = checked(oauth_api, "POST", f"/oauth/authorizations/{authorization_id}/consent",
                       200, token=user.token, json={"action": "approve"})
    body = response.get_json()
    stored = row(oauth_app, authorization_id)
    code = stored.authorization_code
    assert uuid.UUID(code).version == 4
    assert body == {"redirect_url": f"{REDIRECT_URI}?code={code}&state={STATE}"}
    assert stored.status.value == "approved" and stored.approved_at == clock.now
    [given] = consents(oauth_app)
    assert (str(given.user_id), str(given.client_id), given.scopes) == (
        user.id, confidential_client.client_id, "openid email")
    assert given.granted_at == clock.now and given.revoked_at is None


def test_approve_without_state_and_with_a_query_in_the_redirect_uri(oauth_app, oauth_api, user):
    client = register_client(oauth_app, redirect_uris=("https://app.example.com/cb?tab=x y",))
    authorization_id = start(oauth_api, client, state=None)
    details(oauth_api, user, authorization_id)
    body = consent(oauth_api, user, authorization_id).get_json()
    code = row(oauth_app, authorization_id).authorization_code
    assert body == {"redirect_url": f"https://app.example.com/cb?code={code}&tab=x+y"}


def test_deny_sends_access_denied(oauth_app, oauth_api, confidential_client, user):
    authorization_id = start(oauth_api, confidential_client)
    details(oauth_api, user, authorization_id)
    response = consent(oauth_api, user, authorization_id, "deny")
    assert response.status_code == 200
    assert response.get_json() == {"redirect_url": (
        f"{REDIRECT_URI}?error=access_denied&error_description=User+denied+the+request"
        f"&state={STATE}")}
    stored = row(oauth_app, authorization_id)
    assert stored.status.value == "denied" and stored.authorization_code is None
    assert consents(oauth_app) == []


def test_consent_needs_a_prior_get(oauth_app, oauth_api, confidential_client, user):
    authorization_id = start(oauth_api, confidential_client)
    assert_not_found(consent(oauth_api, user, authorization_id))
    assert_not_found(consent(oauth_api, user, "unknown"))
    assert row(oauth_app, authorization_id).status.value == "pending"


@pytest.mark.parametrize("first", ["approve", "deny"])
def test_a_decided_request_is_no_longer_pending(oauth_app, oauth_api, confidential_client, user,
                                                first):
    authorization_id = start(oauth_api, confidential_client)
    details(oauth_api, user, authorization_id)
    assert consent(oauth_api, user, authorization_id, first).status_code == 200
    assert_error(details(oauth_api, user, authorization_id), 400, "validation_failed",
                 "authorization request cannot be processed")
    for action in ("approve", "deny"):
        assert_error(consent(oauth_api, user, authorization_id, action), 400,
                     "validation_failed", "authorization request is no longer pending")
    assert row(oauth_app, authorization_id).status.value == (
        "approved" if first == "approve" else "denied")


@pytest.mark.parametrize(("body", "code", "message"), [
    ("", "bad_json", "invalid JSON body"),
    ("{not json", "bad_json", "invalid JSON body"),
    ("[]", "bad_json", "invalid JSON body"),
    ('{"action": 1}', "bad_json", "invalid JSON body"),
    ("null", "validation_failed", "action must be 'approve' or 'deny'"),
    ("{}", "validation_failed", "action must be 'approve' or 'deny'"),
    ('{"action": "Approve"}', "validation_failed", "action must be 'approve' or 'deny'"),
])
def test_bad_consent_bodies(oauth_app, oauth_api, confidential_client, user, body, code,
                            message):
    authorization_id = start(oauth_api, confidential_client)
    details(oauth_api, user, authorization_id)
    response = consent(oauth_api, user, authorization_id, data=body, json=None,
                       headers={"Content-Type": "application/json"})
    assert_error(response, 400, code, message)
    assert row(oauth_app, authorization_id).status.value == "pending"


def test_the_body_is_checked_before_the_request(oauth_api, user):
    assert_error(consent(oauth_api, user, "unknown", "maybe"), 400, "validation_failed",
                 "action must be 'approve' or 'deny'")


# --- expiry --------------------------------------------------------------------------------------


@pytest.mark.parametrize("bound", [False, True])
def test_an_expired_request_is_marked_expired_and_not_found(oauth_app, oauth_api,
                                                            confidential_client, user, bound):
    clock = freeze_clock(oauth_app)
    authorization_id = start(oauth_api, confidential_client)
    if bound:
        details(oauth_api, user, authorization_id)
    clock.now += timedelta(minutes=10)
    assert row(oauth_app, authorization_id).status.value == "pending"
    clock.now += timedelta(seconds=1)
    call = consent if bound else details
    assert_not_found(call(oauth_api, user, authorization_id))
    stored = row(oauth_app, authorization_id)
    assert stored.status.value == "expired"
    assert stored.user_id == (uuid.UUID(user.id) if bound else None)
    assert_not_found(details(oauth_api, user, authorization_id))


def test_a_request_is_still_served_at_its_last_moment(oauth_app, oauth_api, confidential_client,
                                                      user):
    clock = freeze_clock(oauth_app)
    authorization_id = start(oauth_api, confidential_client)
    clock.now += timedelta(minutes=10)
    assert details(oauth_api, user, authorization_id).status_code == 200
    assert consent(oauth_api, user, authorization_id).status_code == 200


# --- Origin --------------------------------------------------------------------------------------


@pytest.mark.parametrize("origin", ["https://evil.example", "http://localhost.evil.example",
                                    "null", "http://127.0.0.2:3000"])
def test_a_foreign_origin_is_refused(oauth_app, oauth_api, confidential_client, user, origin):
    authorization_id = start(oauth_api, confidential_client)
    headers = {"Origin": origin}
    for response in (details(oauth_api, user, authorization_id, headers=headers),
                     consent(oauth_api, user, authorization_id, headers=headers),
                     details(oauth_api, user, "unknown", headers=headers)):
        assert_error(response, 400, "validation_failed", "unauthorized request origin")
    assert row(oauth_app, authorization_id).user_id is None


@pytest.mark.parametrize("origin", [SITE, "http://localhost:5173", "http://localhost"])
def test_the_site_and_loopback_origins_are_accepted(oauth_api, confidential_client, user,
                                                    origin):
    authorization_id = start(oauth_api, confidential_client)
    headers = {"Origin": origin}
    assert details(oauth_api, user, authorization_id, headers=headers).status_code == 200
    assert consent(oauth_api, user, authorization_id, headers=headers).status_code == 200


def test_an_allow_listed_origin_is_accepted(make_app, signing_keys):
    from .conftest import oauth_overrides

    app = make_app(**oauth_overrides(signing_keys, uri_allow_list=("https://*.example.com",)))
    api = api_for(app)
    client = register_client(app)
    caller = User(api)
    authorization_id = start(api, client)
    headers = {"Origin": "https://consent.example.com"}
    assert details(api, caller, authorization_id, headers=headers).status_code == 200


# --- consent reuse -------------------------------------------------------------------------------


def _approve(api, user, client, **params) -> str:
    authorization_id = start(api, client, **params)
    assert "authorization_id" in details(api, user, authorization_id).get_json()
    assert consent(api, user, authorization_id).status_code == 200
    return authorization_id


def test_a_covering_consent_approves_on_the_first_call(oauth_app, oauth_api, confidential_client,
                                                       user):
    _approve(oauth_api, user, confidential_client, scope="openid email profile")
    authorization_id = start(oauth_api, confidential_client, scope="email openid")
    response = checked(oauth_api, "GET", f"/oauth/authorizations/{authorization_id}", 200,
                       token=user.token)
    stored = row(oauth_app, authorization_id)
    assert response.get_json() == {
        "redirect_url": f"{REDIRECT_URI}?code={stored.authorization_code}&state={STATE}"}
    assert stored.status.value == "approved" and str(stored.user_id) == user.id
    # A request asking for more is shown; so is one of another user.
    wider = start(oauth_api, confidential_client, scope="email phone")
    assert details(oauth_api, user, wider).get_json()["scope"] == "email phone"
    other = start(oauth_api, confidential_client, scope="email")
    assert "authorization_id" in details(oauth_api, User(oauth_api), other).get_json()


def test_auto_approval_is_only_checked_on_the_first_call(oauth_app, oauth_api,
                                                         confidential_client, user):
    pending = start(oauth_api, confidential_client, scope="email")
    assert "authorization_id" in details(oauth_api, user, pending).get_json()
    _approve(oauth_api, user, confidential_client, scope="email")
    assert "authorization_id" in details(oauth_api, user, pending).get_json()


def test_a_revoked_consent_does_not_approve(oauth_app, oauth_api, confidential_client, user):
    _approve(oauth_api, user, confidential_client, scope="email")
    assert oauth_api.delete(f"/user/oauth/grants?client_id={confidential_client.client_id}",
                            token=user.token).status_code == 204
    authorization_id = start(oauth_api, confidential_client, scope="email")
    assert "authorization_id" in details(oauth_api, user, authorization_id).get_json()
    consent(oauth_api, user, authorization_id)
    [given] = consents(oauth_app)
    assert given.revoked_at is None and given.scopes == "email"


def test_approving_again_replaces_the_scopes(oauth_app, oauth_api, confidential_client, user):
    clock = freeze_clock(oauth_app)
    _approve(oauth_api, user, confidential_client, scope="openid email profile")
    clock.now += timedelta(minutes=1)
    _approve(oauth_api, user, confidential_client, scope="phone")
    [given] = consents(oauth_app)
    assert given.scopes == "phone" and given.granted_at == clock.now


# --- locking -------------------------------------------------------------------------------------


def test_a_row_another_transaction_holds_is_not_found(oauth_app, oauth_api, confidential_client,
                                                      user, test_database):
    if test_database.backend == "sqlite":
        pytest.skip("SQLite has no row locks (the write lock serialises decisions)")
    authorization_id = start(oauth_api, confidential_client)
    with oauth_app.app_context():
        with db.engine.connect() as holder:
            with holder.begin():
                holder.execute(sa.select(OAuthAuthorization.id).where(
                    OAuthAuthorization.authorization_id == authorization_id).with_for_update())
                assert_not_found(details(oauth_api, user, authorization_id))
    assert details(oauth_api, user, authorization_id).status_code == 200


def test_concurrent_decisions_on_one_request_have_one_winner(oauth_app, oauth_api,
                                                             confidential_client, user):
    authorization_id = start(oauth_api, confidential_client)
    details(oauth_api, user, authorization_id)
    barrier = threading.Barrier(6)

    def decide(action: str):
        api = api_for(oauth_app)
        barrier.wait()
        return consent(api, user, authorization_id, action)

    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(decide, ["approve", "deny"] * 3))
    winners = [response for response in responses if response.status_code == 200]
    assert len(winners) == 1, [response.get_json() for response in responses]
    for response in responses:
        if response.status_code != 200:
            # Pending no more, or skipped while the winner held the row.
            assert response.get_json()["code"] in ("validation_failed",
                                                   "oauth_authorization_not_found")
    stored = row(oauth_app, authorization_id)
    if "code=" in winners[0].get_json()["redirect_url"]:
        assert stored.status.value == "approved"
        assert code_of(winners[0].get_json()["redirect_url"]) == stored.authorization_code
        assert len(consents(oauth_app)) == 1
    else:
        assert stored.status.value == "denied" and consents(oauth_app) == []


def test_served_under_the_prefix(oauth_app, oauth_api, confidential_client, user):
    authorization_id = start(oauth_api, confidential_client)
    prefixed = api_for(oauth_app)
    prefixed.prefix = API_PREFIX
    assert details(prefixed, user, authorization_id).status_code == 200
    checked(prefixed, "POST", f"/oauth/authorizations/{authorization_id}/consent", 200,
            token=user.token, json={"action": "deny"})
    checked(prefixed, "POST", f"/oauth/authorizations/{authorization_id}/consent", 400,
            "validation_failed", token=user.token, json={"action": "deny"})
