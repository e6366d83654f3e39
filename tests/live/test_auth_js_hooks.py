"""The official JavaScript client (npm ``@supabase/auth-js``) against a server whose
custom_access_token hook adds a claim (spec phone-sms.md 4.4): the claim is in the session's
JWT after signInWithPassword and again after refreshSession, the client keeps the server's
expiry, and the custom token is accepted by getUser. The hook is a loopback receiver
(tests/support/fake_hooks.py) that echoes the event's claims with one more.
"""

from __future__ import annotations

import time

import pytest

from gotrue_web.settings import HookConfig

from ..conftest import api_for
from ..factories import PASSWORD, create_user, unique_email, verified_claims
from ..hooks.test_access_token_hook import ClaimsHook, add_tenant
from ..support.fake_hooks import SECRET
from .test_auth_js_oauth import AuthJs

pytestmark = pytest.mark.live


def _ok(answer: dict) -> dict:
    assert answer["error"] is None, answer
    return answer["data"]


def test_a_custom_claim_reaches_the_client_on_sign_in_and_refresh(
        make_app, serve, servers, auth_js, tmp_path, service_role_token):
    hook = servers(ClaimsHook(add_tenant))
    app = make_app(**{"mailer.autoconfirm": True,
                      "hooks.custom_access_token": HookConfig(True, hook.uri(), (SECRET,))})
    server = serve(app)
    email = unique_email("js-hook")
    user_id = create_user(api_for(app, service_role_token), email, password=PASSWORD)["id"]
    js = AuthJs(auth_js, server.url, tmp_path / "node.log")
    try:
        js.new("a")
        before = time.time()
        signed_in = _ok(js.call("a", "signInWithPassword",
                                {"email": email, "password": PASSWORD}))["session"]
        token = verified_claims(signed_in["access_token"])
        assert token["tenant"] == "acme" and token["sub"] == user_id
        assert signed_in["expires_in"] == 3600
        assert before + 3600 - 5 <= signed_in["expires_at"] <= time.time() + 3600 + 5
        assert hook.received[-1].json["authentication_method"] == "password"

        refreshed = _ok(js.call("a", "refreshSession"))["session"]
        assert refreshed["refresh_token"] != signed_in["refresh_token"]
        again = verified_claims(refreshed["access_token"])
        assert again["tenant"] == "acme" and again["session_id"] == token["session_id"]
        assert hook.received[-1].json["authentication_method"] == "token_refresh"

        # The client keeps the refreshed session and the server accepts its custom token.
        stored = _ok(js.call("a", "getSession"))["session"]
        assert stored["access_token"] == refreshed["access_token"]
        assert _ok(js.call("a", "getUser"))["user"]["id"] == user_id
    finally:
        js.close()
