"""The custom_access_token hook (spec phone-sms.md 4.4 "Access-token output", api-contract.md
section 5): every mint asks it (password grant, refresh, MFA step-up, anonymous sign-in) with
the server's claims and the sign-in's authentication_method; its ``claims`` become the whole
JWT payload once they pass the schema, while expires_in / expires_at stay the server's."""

from __future__ import annotations

import json
import uuid

import pytest

from gotrue_web.models import Session
from gotrue_web.settings import HookConfig

from ..api.mfa.support import (amr_methods, app_now, challenged, enrolled_totp, session_id_of,
                               signed_in, totp_code, verify)
from ..conftest import api_for
from ..factories import (PASSWORD, claims, count, create_user, freeze_clock, session_ids,
                         sign_in, unique_email, verified_claims)
from ..support.fake_hooks import SECRET, FakeHookReceiver, Reply

SERVER_CLAIMS = ["sub", "aud", "exp", "iat", "email", "phone", "app_metadata", "user_metadata",
                 "role", "aal", "amr", "session_id", "is_anonymous"]
SCHEMA = "output claims do not conform to the expected schema: \n"


class ClaimsHook(FakeHookReceiver):
    """A custom_access_token endpoint that answers each event with the event's own claims
    passed through ``change`` (a function editing the dict), as a real hook does. The receiver
    reads ``default`` right after recording the request, so it is computed from that request."""

    def __init__(self, change=None):
        self.change = change or (lambda found: None)
        super().__init__()

    @property
    def default(self) -> Reply:
        found = dict(self.received[-1].json["claims"])
        self.change(found)
        return Reply(200, json.dumps({"claims": found}))

    @default.setter
    def default(self, _value) -> None:
        pass


def add_tenant(found: dict) -> None:
    found["tenant"] = "acme"


def hooked_app(make_app, receiver, **overrides):
    return make_app(**{"mailer.autoconfirm": True,
                       "hooks.custom_access_token": HookConfig(True, receiver.uri(), (SECRET,)),
                       **overrides})


@pytest.fixture
def tenant_hook(servers):
    return servers(ClaimsHook(add_tenant))


def member(app, service_role_token) -> tuple:
    """An ApiClient on ``app`` and a confirmed user with a password: (api, email, user id)."""
    api = api_for(app, service_role_token)
    email = unique_email("hook")
    user = create_user(api, email, password=PASSWORD)
    return api, email, user["id"]


# --- what the hook's claims become ------------------------------------------------------------


def test_password_grant_signs_the_hooks_claims(make_app, tenant_hook, service_role_token):
    app = hooked_app(make_app, tenant_hook)
    api, email, user_id = member(app, service_role_token)
    clock = freeze_clock(app)
    session = sign_in(api, email)
    token = verified_claims(session["access_token"])
    assert token["tenant"] == "acme"
    assert list(token) == SERVER_CLAIMS + ["tenant"]
    assert token["sub"] == user_id and token["aal"] == "aal1"
    # The answer keeps the server's expiry.
    assert session["expires_in"] == 3600
    assert session["expires_at"] == int(clock.now.timestamp()) + 3600
    # The token works like any other.
    response = api.get("/user", token=session["access_token"])
    assert response.status_code == 200 and response.get_json()["id"] == user_id


def test_the_event_carries_the_server_claims_and_the_method(make_app, tenant_hook,
                                                             service_role_token):
    app = hooked_app(make_app, tenant_hook)
    api, email, user_id = member(app, service_role_token)
    clock = freeze_clock(app)
    session = sign_in(api, email)
    [request] = tenant_hook.received
    event = FakeHookReceiver.verify(request)  # signed with the configured secret
    assert list(event) == ["metadata", "user_id", "claims", "authentication_method"]
    assert event["metadata"]["name"] == "customize-access-token"
    assert event["metadata"]["ip_address"] == "127.0.0.1"
    assert event["user_id"] == user_id
    assert event["authentication_method"] == "password"
    now = int(clock.now.timestamp())
    sent = event["claims"]
    assert list(sent) == SERVER_CLAIMS
    assert sent == {
        "sub": user_id, "aud": "authenticated", "exp": now + 3600, "iat": now, "email": email,
        "phone": "", "app_metadata": session["user"]["app_metadata"],
        "user_metadata": session["user"]["user_metadata"],
        "role": "authenticated", "aal": "aal1",
        "amr": [{"method": "password", "timestamp": now}],
        "session_id": str(session_id_of(session)), "is_anonymous": False,
    }
    assert sent["app_metadata"]["provider"] == "email"
    assert sent["user_metadata"]["email_verified"] is True


def test_refresh_asks_the_hook_with_token_refresh(make_app, tenant_hook, service_role_token):
    app = hooked_app(make_app, tenant_hook)
    api, email, _ = member(app, service_role_token)
    session = sign_in(api, email)
    response = api.refresh(session["refresh_token"])
    assert response.status_code == 200, response.get_data(as_text=True)
    refreshed = response.get_json()
    token = verified_claims(refreshed["access_token"])
    assert token["tenant"] == "acme"
    assert token["session_id"] == str(session_id_of(session))
    assert refreshed["expires_in"] == 3600
    event = tenant_hook.received[-1].json
    assert event["authentication_method"] == "token_refresh"
    # The amr stays the sign-in's.
    assert [entry["method"] for entry in event["claims"]["amr"]] == ["password"]


def test_mfa_step_up_asks_the_hook_with_totp(make_app, tenant_hook, service_role_token):
    app = hooked_app(make_app, tenant_hook)
    api = api_for(app, service_role_token)
    session = signed_in(api)
    token = session["access_token"]
    factor = enrolled_totp(api, token)
    chal = challenged(api, token, factor["id"])
    response = verify(api, token, factor["id"], chal["id"],
                      totp_code(factor["totp"]["secret"], app_now(app)))
    assert response.status_code == 200, response.get_data(as_text=True)
    stepped = verified_claims(response.get_json()["access_token"])
    assert stepped["tenant"] == "acme" and stepped["aal"] == "aal2"
    event = tenant_hook.received[-1].json
    assert event["authentication_method"] == "totp"
    assert event["claims"]["aal"] == "aal2"
    assert [entry["method"] for entry in event["claims"]["amr"]] == ["totp", "password"]
    assert amr_methods(app, session_id_of(session)) == {"password", "totp"}


def test_anonymous_sign_in_asks_the_hook_with_anonymous(make_app, tenant_hook):
    app = hooked_app(make_app, tenant_hook, **{"external.anonymous_users_enabled": True})
    response = api_for(app).post("/signup", json={})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert verified_claims(response.get_json()["access_token"])["tenant"] == "acme"
    event = tenant_hook.received[-1].json
    assert event["authentication_method"] == "anonymous"
    assert event["claims"]["is_anonymous"] is True


def test_the_hook_may_rewrite_and_drop_optional_claims(make_app, servers, service_role_token):
    def rewrite(found):
        del found["amr"], found["app_metadata"], found["user_metadata"]
        found["exp"] -= 600
        found["aud"] = ["authenticated", "reports"]
        found["role"] = "analyst"

    hook = servers(ClaimsHook(rewrite))
    app = hooked_app(make_app, hook)
    api, email, _ = member(app, service_role_token)
    clock = freeze_clock(app)
    session = sign_in(api, email)
    token = claims(session["access_token"])
    now = int(clock.now.timestamp())
    assert set(token) == {"sub", "aud", "exp", "iat", "email", "phone", "role", "aal",
                          "session_id", "is_anonymous"}
    assert token["exp"] == now + 3000
    assert token["aud"] == ["authenticated", "reports"] and token["role"] == "analyst"
    # expires_in / expires_at are the server's, whatever exp the hook chose.
    assert (session["expires_in"], session["expires_at"]) == (3600, now + 3600)


def test_without_the_hook_nothing_is_called(app, api, tenant_hook):
    email = unique_email("hook")
    create_user(api, email, password=PASSWORD)
    token = verified_claims(sign_in(api, email)["access_token"])
    assert "tenant" not in token and list(token) == SERVER_CLAIMS
    assert tenant_hook.received == []


# --- outputs that are refused -----------------------------------------------------------------


def assert_refused(response, message: str) -> None:
    assert response.status_code == 500, response.get_data(as_text=True)
    assert response.get_json() == {"code": "unexpected_failure", "message": message}


def test_a_missing_required_claim_is_a_500_and_no_session(make_app, servers,
                                                          service_role_token):
    hook = servers(ClaimsHook(lambda found: found.pop("role")))
    app = hooked_app(make_app, hook)
    api, email, user_id = member(app, service_role_token)
    response = api.login(email)
    assert_refused(response, SCHEMA + "- (root): role is required\n")
    assert session_ids(app, user_id) == set()


def test_every_schema_violation_is_listed(make_app, servers, service_role_token):
    def spoil(found):
        for name in ("aal", "session_id", "is_anonymous"):
            del found[name]
        found.update(exp="soon", aud=7, iat=1.5, app_metadata=[], amr=["password"],
                     email=None)

    hook = servers(ClaimsHook(spoil))
    app = hooked_app(make_app, hook)
    api, email, _ = member(app, service_role_token)
    assert_refused(api.login(email), SCHEMA + "".join(f"- {line}\n" for line in [
        "(root): aal is required",
        "(root): session_id is required",
        "(root): is_anonymous is required",
        "aud: Invalid type. Expected: [string,array], given: integer",
        "exp: Invalid type. Expected: integer, given: string",
        "iat: Invalid type. Expected: integer, given: number",
        "email: Invalid type. Expected: string, given: null",
        "app_metadata: Invalid type. Expected: object, given: array",
        "amr.0: Invalid type. Expected: object, given: string",
    ]))


@pytest.mark.parametrize("reply", [
    Reply(204, "", None),
    Reply(200, "{}"),
    Reply(200, "null"),
    Reply(200, '{"claims": null}'),
], ids=["204", "no-claims", "null-output", "null-claims"])
def test_no_claims_is_a_500(make_app, servers, service_role_token, reply):
    hook = servers(FakeHookReceiver(reply))
    app = hooked_app(make_app, hook)
    api, email, user_id = member(app, service_role_token)
    assert_refused(api.login(email), "output claims field is missing")
    assert session_ids(app, user_id) == set()


@pytest.mark.parametrize("body", ['{"claims": []}', '{"claims": "sub"}', '{"claims": 1}'])
def test_claims_that_are_not_an_object_are_a_500(make_app, servers, service_role_token, body):
    hook = servers(FakeHookReceiver(Reply(200, body)))
    app = hooked_app(make_app, hook)
    api, email, _ = member(app, service_role_token)
    assert_refused(api.login(email), "Error unmarshaling JSON output.")
    assert count(app, Session) == 0


def test_a_refused_refresh_keeps_the_refresh_token(make_app, servers, service_role_token):
    hook = servers(ClaimsHook(add_tenant))
    app = hooked_app(make_app, hook)
    api, email, _ = member(app, service_role_token)
    session = sign_in(api, email)
    hook.script(Reply(200, json.dumps({"error": {"http_code": 403, "message": "not now"}})))
    refused = api.refresh(session["refresh_token"])
    assert refused.status_code == 403
    assert refused.get_json() == {"code": "unknown", "message": "not now"}
    # The refresh was rolled back: the same token still refreshes once the hook agrees.
    response = api.refresh(session["refresh_token"])
    assert response.status_code == 200, response.get_data(as_text=True)
    assert verified_claims(response.get_json()["access_token"])["tenant"] == "acme"


def test_the_users_session_id_claim_names_the_new_session(make_app, tenant_hook,
                                                           service_role_token):
    app = hooked_app(make_app, tenant_hook)
    api, email, user_id = member(app, service_role_token)
    session = sign_in(api, email)
    [stored] = session_ids(app, user_id)
    assert uuid.UUID(verified_claims(session["access_token"])["session_id"]) == stored


# --- a pg-functions hook ----------------------------------------------------------------------


def test_a_pg_function_runs_in_the_request_and_sees_its_session(pg_schema, make_app,
                                                                service_role_token):
    schema = pg_schema.name
    pg_schema.run(
        f'create or replace function "{schema}".h_claims(e jsonb) returns jsonb '
        "language sql as $fn$ select jsonb_build_object('claims', (e->'claims') || "
        "jsonb_build_object('stored_sessions', (select count(*) from "
        f'"{schema}".sessions s where s.id = (e->\'claims\'->>\'session_id\')::uuid))) $fn$')
    hooked = make_app(**{"mailer.autoconfirm": True, "hooks.custom_access_token": HookConfig(
        True, pg_schema.uri("h_claims"), ())})
    api, email, _ = member(hooked, service_role_token)
    session = sign_in(api, email)
    # The session row was written (in the request's transaction) before the function ran.
    assert verified_claims(session["access_token"])["stored_sessions"] == 1
    response = api.refresh(session["refresh_token"])
    assert response.status_code == 200, response.get_data(as_text=True)
    assert verified_claims(response.get_json()["access_token"])["stored_sessions"] == 1
