"""The official JavaScript client (npm ``@supabase/auth-js``) running its own WebAuthn
ceremonies in Chromium: registerPasskey, signInWithPasskey and mfa.webauthn.register /
authenticate, which need a browser's navigator.credentials, against the server on the page's
origin. tests/e2e/pages/auth_js.html imports auth-js's ES module build from
tests/live/js/node_modules (served under /vendor/); the harness is test_passkeys_browser.py's.
"""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from gotrue_web.models import Factor, FactorStatus

from ..conftest import table_rows
from ..factories import PASSWORD, verified_claims
from ..live.conftest import auth_js  # noqa: F401 - the fixture: npm install for the page
from .test_passkeys_browser import (  # noqa: F401 - site and chromium are fixtures
    VIRTUAL_AUTHENTICATOR,
    WebAuthnBrowser,
    chromium,
    new_user,
    passkey_rows,
    site,
)

pytestmark = pytest.mark.live


def auth_js_ok(browser_page: WebAuthnBrowser, function: str, *args):
    """``window.authJs[function](...args)``, which must answer without an error; its data."""
    answer = browser_page.run(function, *args, on="authJs")
    assert answer["error"] is None, answer
    return answer["data"]


def test_auth_js_runs_its_webauthn_ceremonies_in_chromium(site, chromium, auth_js):  # noqa: F811
    """auth-js's registerPasskey, signInWithPasskey and mfa.webauthn.register / authenticate
    (they need a browser's WebAuthn) with the page's own origin and relying party."""
    user_id, email = new_user(site)
    chromium.page.goto("/auth_js.html")
    chromium.page.wait_for_function("window.authJsReady === true")

    auth_js_ok(chromium, "signIn", email, PASSWORD)
    registered = auth_js_ok(chromium, "registerPasskey")
    [row] = passkey_rows(site.app, user_id)
    assert registered["id"] == str(row.id)

    chromium.run("restart", on="authJs")
    signed_in = auth_js_ok(chromium, "signInWithPasskey")
    assert signed_in["user"]["id"] == user_id
    assert [entry["method"] for entry in verified_claims(
        signed_in["session"]["access_token"])["amr"]] == ["passkey"]
    assert auth_js_ok(chromium, "getUser")["user"]["id"] == user_id
    assert passkey_rows(site.app, user_id)[0].last_used_at is not None

    # mfa.webauthn.register (enroll, challenge, navigator.credentials.create, verify) asks for a
    # cross-platform authenticator: a security key is plugged in.
    security_key = chromium.cdp.send("WebAuthn.addVirtualAuthenticator", {
        "options": {**VIRTUAL_AUTHENTICATOR, "transport": "usb"}})["authenticatorId"]
    enrolled = auth_js_ok(chromium, "registerFactor", "Security key")
    assert verified_claims(enrolled["access_token"])["aal"] == "aal2"
    [factor] = [row[0] for row in table_rows(site.app, sa.select(Factor).where(
        Factor.user_id == uuid.UUID(user_id)))]
    assert (factor.friendly_name, factor.status) == ("Security key", FactorStatus.verified)
    [key_credential] = chromium.credentials(security_key)

    chromium.run("restart", on="authJs")
    auth_js_ok(chromium, "signIn", email, PASSWORD)
    assert auth_js_ok(chromium, "assuranceLevel")["currentLevel"] == "aal1"
    used = auth_js_ok(chromium, "authenticateFactor", str(factor.id))
    assert verified_claims(used["access_token"])["aal"] == "aal2"
    assert auth_js_ok(chromium, "assuranceLevel")["currentLevel"] == "aal2"
    # The security key answered (its counter moved); the platform one holds just the passkey.
    [used_key_credential] = chromium.credentials(security_key)
    assert used_key_credential["signCount"] > key_credential["signCount"]
    assert len(chromium.credentials()) == 1
