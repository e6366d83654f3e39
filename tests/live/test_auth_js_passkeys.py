"""The official JavaScript client's passkey API and WebAuthn MFA factor (npm
``@supabase/auth-js``) against the server over real HTTP (spec idp-passkeys-web3.md sections 2
and 4): what auth-js's passkey.e2e.test.ts and GoTrueClient.test.ts's WebAuthn MFA block expect.

tests/live/js/passkey_driver.mjs calls client.passkey.startRegistration / verifyRegistration /
startAuthentication / verifyAuthentication / list / update / delete, admin.passkey and
mfa.enroll / challenge / verify. Node has no WebAuthn, so the driver hands the options auth-js
received to a loopback server of this test, where tests/support/soft_authenticator.py answers
as auth-js's own software authenticator does (ES256, attestation "none", zero AAGUID, UP and
UV, counter +1, transports ["usb"]).
"""

from __future__ import annotations

import json
import subprocess
import time
import traceback
import uuid

import pytest
import sqlalchemy as sa

from gotrue_web.models import Factor, FactorStatus, FactorType, WebAuthnCredential

from ..conftest import api_for, table_rows
from ..factories import (
    PASSWORD,
    audit_actions,
    audit_entries,
    create_user,
    unique_email,
    verified_claims,
)
from ..passkeys.conftest import ORIGIN, PASSKEYS_ON, RP_ID
from ..support.loopback_http import LoopbackHTTPServer, QuietHandler
from ..support.soft_authenticator import SoftAuthenticator, b64url, b64url_decode

pytestmark = pytest.mark.live

DRIVER_SECONDS = 120
CHALLENGE_NOT_FOUND = ("AuthApiError", 400, "webauthn_challenge_not_found",
                       "Challenge not found or already used")
VERIFICATION_FAILED = ("AuthApiError", 400, "webauthn_verification_failed",
                       "Credential verification failed")
PASSKEY_NOT_FOUND = ("AuthApiError", 404, "validation_failed", "Passkey not found")
EXPERIMENTAL_OFF = ("Error: @supabase/auth-js: the passkey API is experimental and disabled by "
                    "default.")


class AuthenticatorServer(LoopbackHTTPServer):
    """GET /setup: the users and the relying party the driver works with. POST /create and
    /get {options, credential_id?}: the SoftAuthenticator's toJSON() answer to those options."""

    def __init__(self, setup: dict):
        self.soft = SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN)
        self.setup = {**setup, "rp_id": RP_ID, "origin": ORIGIN}
        self.received: list[tuple[str, dict]] = []
        server = self

        class Handler(QuietHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                self.answer(200, json.dumps(server.setup), "application/json")

            def do_POST(self):  # noqa: N802
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                try:
                    with server.lock:
                        server.received.append((self.path, request["options"]))
                        credential = server.ceremony(self.path, request)
                except Exception:  # the driver shows it; the test fails there
                    self.answer(500, traceback.format_exc(), "text/plain")
                    return
                self.answer(200, json.dumps(credential), "application/json")

        super().__init__(Handler)

    def ceremony(self, path: str, request: dict) -> dict:
        if path == "/create":
            return self.soft.create(request["options"])
        return self.soft.get(request["options"],
                             credential_id=b64url_decode(request["credential_id"]))


def drive(js_dir, scenario: str, base_url: str, authenticator_url: str, key: str) -> dict:
    try:
        run = subprocess.run(["node", "passkey_driver.mjs", scenario, base_url, authenticator_url,
                              key], cwd=js_dir, capture_output=True, text=True,
                             timeout=DRIVER_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the auth-js driver did not finish in {DRIVER_SECONDS}s")
    assert run.returncode == 0, run.stderr[-6000:]
    return json.loads(run.stdout)


def ok(result: dict):
    assert result["error"] is None, result
    return result["data"]


def api_error(result: dict) -> tuple:
    error = result["error"]
    assert error is not None, result
    return error["name"], error["status"], error["code"], error["message"]


@pytest.fixture
def passkey_server(make_app, serve, service_role_token):
    """The app with passkeys and the WebAuthn factor on, served; (base url, admin API)."""
    app = make_app(**{**PASSKEYS_ON, "mailer.autoconfirm": True})
    return serve(app), api_for(app, service_role_token)


def new_user(admin) -> dict:
    email = unique_email("auth-js-passkey")
    user = create_user(admin, email, password=PASSWORD)
    return {"email": email, "password": PASSWORD, "user_id": user["id"]}


def passkey_rows(app, user_id: str) -> list[WebAuthnCredential]:
    return [row[0] for row in table_rows(app, sa.select(WebAuthnCredential).where(
        WebAuthnCredential.user_id == uuid.UUID(user_id)).order_by(WebAuthnCredential.created_at))]


def test_auth_js_passkey_api(auth_js, passkey_server, servers, service_role_token):
    server, admin = passkey_server
    user = new_user(admin)
    authenticator = servers(AuthenticatorServer({"passkey_user": user}))

    results = drive(auth_js, "passkeys", server.url + "/auth/v1", authenticator.url,
                    service_role_token)

    # Without auth: { experimental: { passkey: true } } the client refuses before any request.
    assert results["experimental_off"].startswith(EXPERIMENTAL_OFF)
    assert results["admin_experimental_off"].startswith(EXPERIMENTAL_OFF)

    started = ok(results["registration_options"])
    uuid.UUID(started["challenge_id"])
    assert started["expires_at"] > time.time()
    options = started["options"]
    assert options["rp"]["id"] == RP_ID
    assert options["user"]["id"] == b64url(user["user_id"].encode("ascii"))
    assert options["pubKeyCredParams"][0] == {"type": "public-key", "alg": -7}
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert "excludeCredentials" not in options

    registered = ok(results["registration"])
    assert set(registered) >= {"id", "created_at"}
    assert registered["friendly_name"] == "Passkey"  # the zero AAGUID names no authenticator
    assert api_error(results["registration_again"]) == CHALLENGE_NOT_FOUND
    assert api_error(results["registration_nil_challenge"]) == CHALLENGE_NOT_FOUND

    [listed] = ok(results["list"])
    assert listed["id"] == registered["id"] and "last_used_at" not in listed
    renamed = ok(results["update"])
    assert (renamed["id"], renamed["friendly_name"]) == (registered["id"], "Work laptop")
    assert api_error(results["update_nil"]) == PASSKEY_NOT_FOUND

    sign_in_started = ok(results["sign_in_options"])
    uuid.UUID(sign_in_started["challenge_id"])
    assert sign_in_started["expires_at"] > time.time()
    assert sign_in_started["options"]["rpId"] == RP_ID
    assert "allowCredentials" not in sign_in_started["options"]
    signed_in = ok(results["sign_in"])
    assert signed_in["user"]["id"] == user["user_id"]
    claims = verified_claims(signed_in["session"]["access_token"])
    assert claims["sub"] == user["user_id"] and claims["aal"] == "aal1"
    assert [entry["method"] for entry in claims["amr"]] == ["passkey"]
    assert ok(results["get_user"])["user"]["id"] == user["user_id"]
    assert api_error(results["replay"]) == CHALLENGE_NOT_FOUND
    [used] = ok(results["list_after_sign_in"])
    assert used["last_used_at"]

    # The second registration leaves the first passkey out; a credential the server never
    # registered, one its user deleted and one an admin deleted are all refused alike.
    second = ok(results["second_registration_options"])["options"]
    # auth-js handed the server's options to the authenticator as they came.
    first_creation = next(options for path, options in authenticator.received
                          if path == "/create")
    assert first_creation == options
    assert second["excludeCredentials"] == [
        {"type": "public-key", "id": b64url(next(iter(authenticator.soft.credentials)))}]
    assert api_error(results["unregistered"]) == VERIFICATION_FAILED
    assert ok(results["third_registration"])["id"] != registered["id"]
    assert results["delete"] == {"data": None, "error": None}
    assert api_error(results["deleted_by_user"]) == VERIFICATION_FAILED

    [administered] = ok(results["admin_list"])
    assert (administered["id"], administered["friendly_name"]) == (registered["id"],
                                                                  "Work laptop")
    assert results["admin_delete"] == {"data": None, "error": None}
    assert api_error(results["admin_delete_again"]) == PASSKEY_NOT_FOUND
    assert ok(results["admin_list_after"]) == []
    assert api_error(results["deleted_by_admin"]) == VERIFICATION_FAILED
    assert ok(results["list_final"]) == []

    assert passkey_rows(server.app, user["user_id"]) == []
    requests_for_sign_in = [options for path, options in authenticator.received if path == "/get"]
    assert len(requests_for_sign_in) == 4
    assert all("allowCredentials" not in options for options in requests_for_sign_in)
    actions = audit_actions(server.app)
    assert actions.count("passkey_created") == 2
    assert actions.count("passkey_updated") == 1
    assert [entry["traits"]["passkey_id"] for entry in audit_entries(server.app, "login")
            if "passkey_id" in entry.get("traits", {})] == [registered["id"]]
    # The user deleted the third passkey, the admin (service_role) the first.
    assert [(entry["actor_username"], entry["traits"]["passkey_id"])
            for entry in audit_entries(server.app, "passkey_deleted")] == [
        (user["email"], ok(results["third_registration"])["id"]),
        ("service_role", registered["id"])]


def factor_rows(app, user_id: str) -> list[Factor]:
    return [row[0] for row in table_rows(app, sa.select(Factor).where(
        Factor.user_id == uuid.UUID(user_id)))]


def test_auth_js_webauthn_mfa_factor(auth_js, passkey_server, servers, service_role_token):
    server, admin = passkey_server
    user = new_user(admin)
    authenticator = servers(AuthenticatorServer({"mfa_user": user}))

    results = drive(auth_js, "mfa", server.url + "/auth/v1", authenticator.url,
                    service_role_token)

    # GoTrueClient.test.ts: no session, an unnamed factor, a factor id that is no factor.
    name, status, code, message = api_error(results["enroll_without_session"])
    assert (name, status, code) == ("AuthApiError", 401, "no_authorization")
    assert "Bearer token" in message
    unnamed = ok(results["enroll_unnamed"])
    assert set(unnamed) == {"id", "type", "friendly_name"}
    assert unnamed["type"] == "webauthn" and unnamed["friendly_name"] == ""
    assert api_error(results["challenge_bad_factor"]) == (
        "AuthApiError", 404, "validation_failed", "factor_id must be an UUID")
    assert api_error(results["challenge_unknown_factor"])[:3] == (
        "AuthApiError", 404, "mfa_factor_not_found")

    factor = ok(results["enroll"])
    assert (factor["type"], factor["friendly_name"]) == ("webauthn", "Security key")
    assert results["factor_id"] == factor["id"]
    creating = ok(results["challenge_create"])
    uuid.UUID(creating["id"])
    assert creating["type"] == "webauthn" and creating["expires_at"] > time.time()
    assert creating["webauthn"]["type"] == "create"
    creation = results["challenge_create_options"]
    assert creation["rp"]["id"] == RP_ID
    assert creation["user"]["name"] == user["email"]
    assert "authenticatorSelection" not in creation

    created = ok(results["verify_create"])
    claims = verified_claims(created["access_token"])
    assert claims["aal"] == "aal2"
    assert "mfa/webauthn" in [entry["method"] for entry in claims["amr"]]
    assert ok(results["aal_after_create"])["currentLevel"] == "aal2"
    before = ok(results["aal_before_request"])
    assert (before["currentLevel"], before["nextLevel"]) == ("aal1", "aal2")

    requesting = ok(results["challenge_request"])
    assert requesting["webauthn"]["type"] == "request"
    [credential_id] = authenticator.soft.credentials
    assert results["challenge_request_options"]["allowCredentials"] == [
        {"type": "public-key", "id": b64url(credential_id)}]
    assert results["challenge_request_options"]["rpId"] == RP_ID
    used = ok(results["verify_request"])
    assert verified_claims(used["access_token"])["aal"] == "aal2"
    assert ok(results["aal_after_request"])["currentLevel"] == "aal2"
    listed = ok(results["factors"])
    assert [(f["id"], f["factor_type"], f["status"]) for f in listed["all"]] == [
        (factor["id"], "webauthn", "verified")]
    assert [f["id"] for f in listed["webauthn"]] == [factor["id"]]

    # Verifying the factor removed the unnamed one left unverified.
    [row] = factor_rows(server.app, user["user_id"])
    assert (str(row.id), row.factor_type, row.status) == (factor["id"], FactorType.webauthn,
                                                          FactorStatus.verified)
    assert row.web_authn_credential is not None
