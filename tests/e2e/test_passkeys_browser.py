"""Passkeys and the WebAuthn MFA factor in a real browser (spec idp-passkeys-web3.md section 5,
"Passkeys" (b)): Debian's Chromium with a CDP virtual authenticator (a CTAP 2.1 platform
authenticator with resident keys and user verification) answers the page's
navigator.credentials calls.

The page (tests/e2e/pages/) and the app share one origin, http://localhost:<port>, the app
mounted at /auth/v1 beside it, so the browser's clientData origin is one of the app's
GOTRUE_WEBAUTHN_RP_ORIGINS and the relying party id is "localhost". The page does what a web
app does: the server's JSON options through PublicKeyCredential.parseCreationOptionsFromJSON
(or parseRequestOptionsFromJSON), navigator.credentials.create (or get), the credential's
toJSON() back to the server. What the virtual authenticator reports of itself (its AAGUID,
backup flags, counter) is read back from it, never assumed.
"""

from __future__ import annotations

import base64
import json
import struct
import uuid
from dataclasses import dataclass
from pathlib import Path

import cbor2
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from gotrue_web.models import Factor, FactorStatus, WebAuthnCredential

from ..conftest import ApiClient, ServedApp, api_for, table_rows
from ..factories import PASSWORD, audit_actions, create_user, unique_email, verified_claims
from ..passkeys.conftest import PASSKEYS_ON
from ..support.soft_authenticator import b64url, b64url_decode
from .conftest import ACTION_TIMEOUT_MS, BrowserProblems

pytestmark = pytest.mark.live

PAGES = Path(__file__).resolve().parent / "pages"
NODE_MODULES = Path(__file__).resolve().parents[1] / "live" / "js" / "node_modules"
AAGUID_NAMES = json.loads((Path(__file__).resolve().parents[2] / "gotrue_web" / "services"
                           / "passkeys" / "aaguids.json").read_text())
VIRTUAL_AUTHENTICATOR = {
    "protocol": "ctap2", "ctap2Version": "ctap2_1", "transport": "internal",
    "hasResidentKey": True, "hasUserVerification": True, "isUserVerified": True,
    "automaticPresenceSimulation": True,
}
FLAG_UP, FLAG_UV = 0x01, 0x04
VERIFICATION_FAILED = {"code": "webauthn_verification_failed",
                       "message": "Credential verification failed"}


def user_handle(user_id: str) -> bytes:
    """GoTrue's user handle: the user id's text, in ASCII."""
    return user_id.encode("ascii")


@dataclass(frozen=True)
class AuthenticatorData:
    flags: int
    sign_count: int
    aaguid: uuid.UUID | None  # only in a registration's authenticator data


def registration_data(credential: dict) -> AuthenticatorData:
    """What the authenticator put in a registration's attestation object."""
    data = cbor2.loads(b64url_decode(credential["response"]["attestationObject"]))["authData"]
    aaguid = data[37:53]
    return AuthenticatorData(data[32], struct.unpack(">I", data[33:37])[0],
                             uuid.UUID(bytes=aaguid) if any(aaguid) else None)


def assertion_data(credential: dict) -> AuthenticatorData:
    data = b64url_decode(credential["response"]["authenticatorData"])
    return AuthenticatorData(data[32], struct.unpack(">I", data[33:37])[0], None)


# --- the page's origin and the app ----------------------------------------------------------


class LateMount:
    """A WSGI app whose target is set after the server is up: the app's settings name the
    page's origin, and that holds the port the server was given."""

    def __init__(self):
        self.target = None

    def __call__(self, environ, start_response):
        return self.target(environ, start_response)


PAGE_FILES = {"/": "passkeys.html", "/passkeys.js": "passkeys.js",
              "/auth_js.html": "auth_js.html", "/auth_js.js": "auth_js.js"}
CONTENT_TYPES = {".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript"}


def vendor_file(path: str) -> Path | None:
    """/vendor/<path>: tests/live/js/node_modules/<path>; auth-js's module build leaves ".js"
    off its relative imports, so a missing name gets it added, as a bundler would."""
    root = NODE_MODULES.resolve()
    for candidate in (root / path, root / f"{path}.js"):
        candidate = candidate.resolve()
        if candidate.is_relative_to(root) and candidate.is_file():
            return candidate
    return None


def page_files(environ, start_response):
    """The test pages (tests/e2e/pages/) and, under /vendor/, the npm packages they import."""
    path = environ.get("PATH_INFO") or "/"
    if path.startswith("/vendor/"):
        found = vendor_file(path.removeprefix("/vendor/"))
    else:
        found = PAGES / PAGE_FILES[path] if path in PAGE_FILES else None
    if found is None:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]
    body = found.read_bytes()
    content_type = CONTENT_TYPES.get(found.suffix, "application/octet-stream")
    start_response("200 OK", [("Content-Type", f"{content_type}; charset=utf-8"),
                              ("Content-Length", str(len(body))), ("Cache-Control", "no-store")])
    return [body]


@dataclass
class Site:
    origin: str
    app: object
    admin: ApiClient


@pytest.fixture
def site(make_app, service_role_token):
    mount = LateMount()
    served = ServedApp(mount)
    try:
        origin = f"http://localhost:{served.server.server_port}"
        app = make_app(**{**PASSKEYS_ON, "webauthn.rp_origins": (origin,),
                          "mailer.autoconfirm": True})
        mount.target = DispatcherMiddleware(page_files, {"/auth/v1": app})
        yield Site(origin, app, api_for(app, service_role_token))
    finally:
        served.stop()


# --- the browser ------------------------------------------------------------------------------


class WebAuthnBrowser:
    """The test page in Chromium with a virtual authenticator attached over CDP."""

    def __init__(self, page, cdp):
        self.page = page
        self.cdp = cdp
        self.authenticator_id = cdp.send("WebAuthn.addVirtualAuthenticator",
                                         {"options": VIRTUAL_AUTHENTICATOR})["authenticatorId"]

    def run(self, function: str, *args, on: str = "gotrue"):
        """``window[on][function](...args)`` in the page; its JSON answer."""
        return self.page.evaluate("([on, name, args]) => window[on][name](...args)",
                                  [on, function, list(args)])

    def authenticator(self, method: str, **params) -> dict:
        return self.cdp.send(f"WebAuthn.{method}",
                             {"authenticatorId": self.authenticator_id, **params})

    def credentials(self, authenticator_id: str | None = None) -> list[dict]:
        """What an authenticator (the platform one unless named) holds."""
        return self.cdp.send("WebAuthn.getCredentials", {
            "authenticatorId": authenticator_id or self.authenticator_id})["credentials"]


@pytest.fixture
def chromium(browser, site):
    context = browser.new_context(base_url=site.origin)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    page = context.new_page()
    problems = BrowserProblems()
    problems.watch(page, site.origin)
    page.goto("/")
    assert page.evaluate("typeof PublicKeyCredential.parseCreationOptionsFromJSON") == "function"
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    yield WebAuthnBrowser(page, cdp)
    context.close()
    assert not problems.items, "\n".join(problems.items)


# --- helpers ------------------------------------------------------------------------------------


def new_user(site: Site) -> tuple[str, str]:
    """A confirmed user with a password; (id, email)."""
    email = unique_email("passkey-browser")
    return create_user(site.admin, email, password=PASSWORD)["id"], email


def password_session(chromium: WebAuthnBrowser, email: str) -> dict:
    signed_in = chromium.run("signIn", email, PASSWORD)
    assert signed_in["status"] == 200, signed_in
    return signed_in["body"]


def passkey_rows(app, user_id: str) -> list[WebAuthnCredential]:
    return [row[0] for row in table_rows(app, sa.select(WebAuthnCredential).where(
        WebAuthnCredential.user_id == uuid.UUID(user_id)))]


def register(chromium: WebAuthnBrowser, token: str) -> dict:
    registered = chromium.run("registerPasskey", token)
    assert registered["started"]["status"] == 200, registered
    assert "browserError" not in registered, registered
    assert registered["verified"]["status"] == 200, registered
    return registered


def assert_works_on_user(chromium: WebAuthnBrowser, token: str, user_id: str) -> None:
    me = chromium.run("api", "GET", "/user", {"token": token})
    assert me["status"] == 200, me
    assert me["body"]["id"] == user_id


def private_key_der() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return base64.b64encode(key.private_bytes(serialization.Encoding.DER,
                                              serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption())).decode()


# --- passkeys -----------------------------------------------------------------------------------


def test_chromium_registers_a_passkey_and_signs_in_with_it(site, chromium):
    user_id, email = new_user(site)
    session = password_session(chromium, email)

    registered = register(chromium, session["access_token"])

    options = registered["started"]["body"]["options"]
    assert options["rp"] == {"name": "gotrue-web tests", "id": "localhost"}
    assert options["user"]["id"] == b64url(user_handle(user_id))
    credential = registered["credential"]
    made = registration_data(credential)
    assert made.flags & (FLAG_UP | FLAG_UV) == FLAG_UP | FLAG_UV

    # The virtual authenticator holds one discoverable credential for this user.
    [held] = chromium.credentials()
    assert base64.b64decode(held["credentialId"]) == b64url_decode(credential["rawId"])
    assert held["rpId"] == "localhost" and held["isResidentCredential"] is True
    assert base64.b64decode(held["userHandle"]) == user_handle(user_id)

    answer = registered["verified"]["body"]
    assert set(answer) == {"id", "friendly_name", "created_at"}
    # Named after the authenticator's AAGUID when the list knows it, else "Passkey".
    assert answer["friendly_name"] == AAGUID_NAMES.get(str(made.aaguid), "Passkey")
    [row] = passkey_rows(site.app, user_id)
    assert str(row.id) == answer["id"]
    assert row.credential_id == b64url_decode(credential["rawId"])
    assert row.aaguid == made.aaguid
    assert row.attestation_type == "none"
    assert row.transports == credential["response"]["transports"]
    assert (row.backup_eligible, row.backed_up) == (held["backupEligibility"],
                                                    held["backupState"])
    assert row.sign_count == made.sign_count
    assert row.last_used_at is None

    signed_in = chromium.run("signInWithPasskey")
    assert signed_in["verified"]["status"] == 200, signed_in
    request_options = signed_in["started"]["body"]["options"]
    assert request_options["rpId"] == "localhost" and "allowCredentials" not in request_options
    assert signed_in["credential"]["rawId"] == credential["rawId"]
    passkey_session = signed_in["verified"]["body"]
    assert passkey_session["user"]["id"] == user_id
    claims = verified_claims(passkey_session["access_token"])
    assert claims["aal"] == "aal1"
    assert [entry["method"] for entry in claims["amr"]] == ["passkey"]
    assert_works_on_user(chromium, passkey_session["access_token"], user_id)

    [row] = passkey_rows(site.app, user_id)
    assert row.last_used_at is not None
    [held] = chromium.credentials()
    assert row.sign_count == assertion_data(signed_in["credential"]).sign_count
    assert row.sign_count == held["signCount"]
    actions = audit_actions(site.app, user_id)
    assert "passkey_created" in actions and actions[-1] == "login"


def test_removed_deleted_and_unregistered_passkeys_do_not_sign_in(site, chromium):
    user_id, email = new_user(site)
    token = password_session(chromium, email)["access_token"]
    registered = register(chromium, token)
    passkey_id = registered["verified"]["body"]["id"]
    [held] = chromium.credentials()

    # Without the credential the browser has nothing to answer with; no verify is sent.
    chromium.authenticator("removeCredential", credentialId=held["credentialId"])
    assert chromium.credentials() == []
    refused = chromium.run("signInWithPasskey")
    assert refused["browserError"] == "NotAllowedError" and "verified" not in refused

    # Put back (same key, same counter), it signs in again.
    chromium.authenticator("addCredential", credential=held)
    signed_in = chromium.run("signInWithPasskey")
    assert signed_in["verified"]["status"] == 200, signed_in

    # Deleted on the server, the browser's credential is refused.
    deleted = chromium.run("api", "DELETE", f"/passkeys/{passkey_id}", {"token": token})
    assert deleted["status"] == 204, deleted
    assert passkey_rows(site.app, user_id) == []
    refused = chromium.run("signInWithPasskey")
    assert refused["credential"]["rawId"] == registered["credential"]["rawId"]
    assert refused["verified"] == {"status": 400, "body": VERIFICATION_FAILED}

    # A credential the server never registered, though it names the user, is refused too.
    chromium.authenticator("removeCredential", credentialId=held["credentialId"])
    unregistered = b"never-registered-credential-0001"
    chromium.authenticator("addCredential", credential={
        "credentialId": base64.b64encode(unregistered).decode(), "isResidentCredential": True,
        "rpId": "localhost", "privateKey": private_key_der(),
        "userHandle": base64.b64encode(user_handle(user_id)).decode(), "signCount": 0})
    refused = chromium.run("signInWithPasskey")
    assert b64url_decode(refused["credential"]["rawId"]) == unregistered
    assert refused["verified"] == {"status": 400, "body": VERIFICATION_FAILED}


def test_a_passkey_signs_in_without_user_verification(site, chromium):
    user_id, email = new_user(site)
    register(chromium, password_session(chromium, email)["access_token"])

    chromium.authenticator("setUserVerified", isUserVerified=False)
    # Chromium refuses "preferred" when the authenticator fails verification, so the page asks
    # for none: the server requires user presence, not verification.
    signed_in = chromium.run("signInWithPasskey", {"userVerification": "discouraged"})
    assert signed_in["verified"]["status"] == 200, signed_in
    flags = assertion_data(signed_in["credential"]).flags
    assert flags & FLAG_UP and not flags & FLAG_UV
    assert_works_on_user(chromium, signed_in["verified"]["body"]["access_token"], user_id)


# --- the WebAuthn MFA factor --------------------------------------------------------------------


def factor_row(app, factor_id: str) -> Factor:
    [(factor,)] = table_rows(app, sa.select(Factor).where(Factor.id == uuid.UUID(factor_id)))
    return factor


def test_chromium_enrolls_and_uses_a_webauthn_mfa_factor(site, chromium):
    user_id, email = new_user(site)
    token = password_session(chromium, email)["access_token"]

    enrolled = chromium.run("api", "POST", "/factors", {
        "token": token, "body": {"factor_type": "webauthn", "friendly_name": "Laptop"}})
    assert enrolled["status"] == 200, enrolled
    factor_id = enrolled["body"]["id"]
    assert enrolled["body"]["type"] == "webauthn"
    assert enrolled["body"]["friendly_name"] == "Laptop"

    created = chromium.run("factorCeremony", token, factor_id)
    assert created["challenged"]["status"] == 200, created
    assert created["challenged"]["body"]["type"] == "webauthn"
    assert created["challenged"]["body"]["webauthn"]["type"] == "create"
    public_key = created["challenged"]["body"]["webauthn"]["credential_options"]["publicKey"]
    assert public_key["rp"]["id"] == "localhost"
    assert public_key["user"]["name"] == email and public_key["user"]["displayName"] == email
    assert "authenticatorSelection" not in public_key and "attestation" not in public_key
    assert created["verified"]["status"] == 200, created
    claims = verified_claims(created["verified"]["body"]["access_token"])
    assert claims["aal"] == "aal2"
    assert "mfa/webauthn" in [entry["method"] for entry in claims["amr"]]

    made = registration_data(created["credential"])
    factor = factor_row(site.app, factor_id)
    assert factor.status == FactorStatus.verified
    assert factor.web_authn_credential is not None
    assert factor.web_authn_aaguid == made.aaguid
    [held] = chromium.credentials()
    assert base64.b64decode(held["credentialId"]) == b64url_decode(created["credential"]["rawId"])

    # The next sign-in: a password (aal1), then the factor's credential (aal2).
    token = password_session(chromium, email)["access_token"]
    assert verified_claims(token)["aal"] == "aal1"
    used = chromium.run("factorCeremony", token, factor_id)
    assert used["challenged"]["status"] == 200, used
    assert used["challenged"]["body"]["webauthn"]["type"] == "request"
    request = used["challenged"]["body"]["webauthn"]["credential_options"]["publicKey"]
    assert [allowed["id"] for allowed in request["allowCredentials"]] == [
        created["credential"]["rawId"]]
    assert used["credential"]["rawId"] == created["credential"]["rawId"]
    assert used["verified"]["status"] == 200, used
    aal2_token = used["verified"]["body"]["access_token"]
    assert verified_claims(aal2_token)["aal"] == "aal2"
    assert_works_on_user(chromium, aal2_token, user_id)
    assert factor_row(site.app, factor_id).status == FactorStatus.verified

    # With a verified factor, passkeys are managed from aal2 sessions only (the session of
    # ``token`` became aal2 with the verify; a new password session is aal1).
    refused = chromium.run("registerPasskey", password_session(chromium, email)["access_token"])
    assert refused["started"] == {"status": 403, "body": {
        "code": "insufficient_aal",
        "message": "AAL2 session is required to manage passkeys when MFA is enabled"}}
    register(chromium, aal2_token)
    assert len(passkey_rows(site.app, user_id)) == 1
    assert len(chromium.credentials()) == 2

