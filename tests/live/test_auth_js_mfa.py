"""The official JavaScript client (npm ``@supabase/auth-js``) doing MFA against the server over
real HTTP (api-contract §3 MFA, §5 aal/amr, §6 sessions; phone-sms §3): mfa.enroll (TOTP and
phone), mfa.challenge, mfa.verify, mfa.challengeAndVerify, mfa.getAuthenticatorAssuranceLevel,
mfa.listFactors, mfa.unenroll, admin.mfa.listFactors / deleteFactor with a service_role key,
and the errors as the client returns them. tests/live/js/oauth_driver.mjs keeps each client
(and its session) alive between commands; TOTP codes are computed with pyotp from the secret
the client was given, phone codes read from the text the Twilio fake received.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone
from urllib.parse import parse_qs, unquote, urlsplit

import pyotp
import pytest
import sqlalchemy as sa

from gotrue_web.models import Challenge, Factor, Session

from ..api.phone.send_support import code_of, log_row, phone_app, sms_log
from ..api.phone.verify_support import wrong
from ..conftest import table_rows
from ..factories import audit_actions, later, unique_email, verified_claims
from ..support.fake_sms import FakeTwilio
from .test_auth_js_oauth import AuthJs, api_error

pytestmark = pytest.mark.live

PASSWORD = "password-123"
AUTOCONFIRM = {"mailer.autoconfirm": True}
PHONE_MFA = {"mfa.phone_enroll_enabled": True, "mfa.phone_verify_enabled": True}
FACTOR_PHONE = "15550007777"
SVG_URL = "data:image/svg+xml;utf-8,"  # auth-js prefixes the server's raw SVG with this
STALE = {"refresh_token_not_found", "session_not_found"}
MFA_AUDIT = {"factor_in_progress", "challenge_created", "verification_attempted",
             "factor_unenrolled"}


@pytest.fixture
def start(make_app, serve, auth_js, tmp_path):
    """``start(app=None)`` -> (server, auth-js driver); the app defaults to one with email
    sign-up autoconfirmed."""
    drivers: list[AuthJs] = []

    def begin(app=None):
        server = serve(app if app is not None else make_app(**AUTOCONFIRM))
        driver = AuthJs(auth_js, server.url, tmp_path / f"node-{len(drivers)}.log")
        drivers.append(driver)
        return server, driver

    yield begin
    for driver in drivers:
        driver.close()


def _ok(answer: dict) -> dict:
    assert answer["error"] is None, answer
    return answer["data"]


def _sign_up(js: AuthJs, name: str, email: str | None = None) -> dict:
    """A new client ``name`` signed up (autoconfirm) with a fresh address: its session."""
    js.new(name)
    signed_up = _ok(js.call(name, "signUp", {"email": email or unique_email("js-mfa"),
                                             "password": PASSWORD}))
    assert signed_up["session"], signed_up
    return signed_up["session"]


def _sign_in(js: AuthJs, name: str, email: str) -> dict:
    js.new(name)
    return _ok(js.call(name, "signInWithPassword", {"email": email,
                                                    "password": PASSWORD}))["session"]


def _enroll_totp(js: AuthJs, name: str, **params) -> dict:
    return _ok(js.call(name, "mfa.enroll", {"factorType": "totp", **params}))


def _aal(js: AuthJs, name: str, *jwt: str) -> tuple:
    level = _ok(js.call(name, "mfa.getAuthenticatorAssuranceLevel", *jwt))
    return level["currentLevel"], level["nextLevel"]


def _methods(access_token: str, clock_moved: bool = False) -> list[str]:
    return [entry["method"] for entry in
            verified_claims(access_token, clock_moved=clock_moved)["amr"]]


def _wrong(secret: str) -> str:
    """A six-digit code the server accepts at no time step around now."""
    totp, now = pyotp.TOTP(secret), datetime.now(timezone.utc)
    valid = {totp.at(now, counter_offset=step) for step in range(-2, 3)}
    return next(code for code in (f"{n:06d}" for n in range(0, 10 ** 6, 7919))
                if code not in valid)


def _factor(app, factor_id) -> Factor | None:
    rows = table_rows(app, sa.select(Factor).where(Factor.id == uuid.UUID(str(factor_id))))
    return rows[0][0] if rows else None


def _sessions(app, user_id) -> dict[str, tuple]:
    """The user's sessions as id -> (aal, factor_id)."""
    rows = table_rows(app, sa.select(Session).where(Session.user_id == uuid.UUID(str(user_id))))
    return {str(row.id): (row.aal.value if row.aal else None,
                          str(row.factor_id) if row.factor_id else None) for (row,) in rows}


def _challenge_row(app, challenge_id) -> Challenge:
    [(row,)] = table_rows(app, sa.select(Challenge).where(
        Challenge.id == uuid.UUID(str(challenge_id))))
    return row


def test_enroll_challenge_verify_totp(start):
    server, js = start()
    email = unique_email("js-mfa")
    session = _sign_up(js, "a", email)
    user_id = session["user"]["id"]
    session_id = verified_claims(session["access_token"])["session_id"]
    assert _aal(js, "a") == ("aal1", "aal1")

    enrolled = _enroll_totp(js, "a", friendlyName="phone app", issuer="Example")
    assert (enrolled["type"], enrolled["friendly_name"]) == ("totp", "phone app")
    secret, uri = enrolled["totp"]["secret"], enrolled["totp"]["uri"]
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    assert uri.startswith("otpauth://totp/")
    parts = urlsplit(uri)
    assert unquote(parts.path).lstrip("/") == f"Example:{email}"
    assert parse_qs(parts.query)["secret"] == [secret]
    assert parse_qs(parts.query)["issuer"] == ["Example"]
    qr_code = enrolled["totp"]["qr_code"]
    assert qr_code.startswith(SVG_URL) and "<svg" in qr_code[:200]
    assert qr_code.rstrip().endswith("</svg>")
    factor_id = enrolled["id"]
    assert _factor(server.app, factor_id).status.value == "unverified"

    # Asked with the access token, the client reads the factors of GET /user: an unverified
    # factor does not raise the next level.
    assert _aal(js, "a", session["access_token"]) == ("aal1", "aal1")
    listed = _ok(js.call("a", "mfa.listFactors"))
    assert [(f["id"], f["status"]) for f in listed["all"]] == [(factor_id, "unverified")]
    assert listed["totp"] == [] and listed["phone"] == []

    challenge = _ok(js.call("a", "mfa.challenge", {"factorId": factor_id}))
    assert challenge["type"] == "totp" and isinstance(challenge["expires_at"], int)
    row = _challenge_row(server.app, challenge["id"])
    assert str(row.factor_id) == factor_id and row.verified_at is None
    assert abs(challenge["expires_at"] - (row.created_at.timestamp() + 300)) <= 1

    verified = _ok(js.call("a", "mfa.verify", {"factorId": factor_id,
                                               "challengeId": challenge["id"],
                                               "code": pyotp.TOTP(secret).now()}))
    assert verified["token_type"] == "bearer" and verified["refresh_token"]
    assert verified["refresh_token"] != session["refresh_token"]
    assert verified["user"]["id"] == user_id
    claims = verified_claims(verified["access_token"])
    assert claims["aal"] == "aal2" and claims["session_id"] == session_id
    assert _methods(verified["access_token"]) == ["totp", "password"]

    # The client keeps the new session; it now stands at aal2.
    stored = _ok(js.call("a", "getSession"))["session"]
    assert stored["access_token"] == verified["access_token"]
    assert _aal(js, "a") == ("aal2", "aal2")
    level = _ok(js.call("a", "mfa.getAuthenticatorAssuranceLevel"))
    assert [m["method"] for m in level["currentAuthenticationMethods"]] == ["totp", "password"]
    listed = _ok(js.call("a", "mfa.listFactors"))
    assert [(f["id"], f["status"]) for f in listed["totp"]] == [(factor_id, "verified")]
    assert [f["id"] for f in listed["all"]] == [factor_id]

    assert _factor(server.app, factor_id).status.value == "verified"
    assert _challenge_row(server.app, challenge["id"]).verified_at is not None
    assert _sessions(server.app, user_id) == {session_id: ("aal2", factor_id)}
    assert [action for action in audit_actions(server.app, user_id) if action in MFA_AUDIT] == [
        "factor_in_progress", "challenge_created", "verification_attempted"]


def test_verify_ends_the_users_other_aal1_sessions(start):
    server, js = start()
    email = unique_email("js-mfa")
    first = _sign_up(js, "a", email)
    _sign_in(js, "b", email)
    user_id = first["user"]["id"]
    assert len(_sessions(server.app, user_id)) == 2

    enrolled = _enroll_totp(js, "a")
    verified = _ok(js.call("a", "mfa.challengeAndVerify", {
        "factorId": enrolled["id"], "code": pyotp.TOTP(enrolled["totp"]["secret"]).now()}))
    claims = verified_claims(verified["access_token"])
    assert claims["aal"] == "aal2"
    assert _sessions(server.app, user_id) == {claims["session_id"]: ("aal2", enrolled["id"])}

    # The other client's aal1 session is gone: its refresh token no longer works.
    refused = js.call("b", "refreshSession")
    name, status, code = api_error(refused)
    assert (name, status) == ("AuthApiError", 400) and code in STALE, refused
    # The verified client refreshes at aal2 with its amr kept.
    refreshed = _ok(js.call("a", "refreshSession"))["session"]
    assert verified_claims(refreshed["access_token"])["aal"] == "aal2"
    assert _methods(refreshed["access_token"]) == ["totp", "password"]


def test_signing_in_again_is_aal1_until_mfa(start):
    server, js = start()
    email = unique_email("js-mfa")
    _sign_up(js, "a", email)
    enrolled = _enroll_totp(js, "a")
    factor_id, secret = enrolled["id"], enrolled["totp"]["secret"]
    _ok(js.call("a", "mfa.challengeAndVerify", {"factorId": factor_id,
                                                "code": pyotp.TOTP(secret).now()}))

    session = _sign_in(js, "b", email)
    assert verified_claims(session["access_token"])["aal"] == "aal1"
    assert _methods(session["access_token"]) == ["password"]
    assert _aal(js, "b") == ("aal1", "aal2")
    assert _aal(js, "b", session["access_token"]) == ("aal1", "aal2")

    # At aal1 the verified factor cannot be unenrolled, nor another factor enrolled.
    refused = js.call("b", "mfa.unenroll", {"factorId": factor_id})
    assert api_error(refused) == ("AuthApiError", 422, "insufficient_aal")
    assert refused["error"]["message"] == "AAL2 required to unenroll verified factor"
    refused = js.call("b", "mfa.enroll", {"factorType": "totp"})
    assert api_error(refused) == ("AuthApiError", 403, "insufficient_aal")
    assert _factor(server.app, factor_id).status.value == "verified"

    # A code of the next time step (the one just used cannot be replayed).
    now = later(server.app, 30)
    verified = _ok(js.call("b", "mfa.challengeAndVerify", {
        "factorId": factor_id, "code": pyotp.TOTP(secret).at(now)}))
    claims = verified_claims(verified["access_token"], clock_moved=True)
    assert claims["aal"] == "aal2"
    assert _methods(verified["access_token"], clock_moved=True) == ["totp", "password"]
    assert _aal(js, "b") == ("aal2", "aal2")

    assert _ok(js.call("b", "mfa.unenroll", {"factorId": factor_id})) == {"id": factor_id}
    assert _factor(server.app, factor_id) is None
    user_id = session["user"]["id"]
    # Both sessions were at aal2 through that factor: they drop to aal1.
    assert set(_sessions(server.app, user_id).values()) == {("aal1", None)}
    refreshed = _ok(js.call("b", "refreshSession"))["session"]
    assert verified_claims(refreshed["access_token"], clock_moved=True)["aal"] == "aal1"
    assert _methods(refreshed["access_token"], clock_moved=True) == ["password"]
    listed = _ok(js.call("b", "mfa.listFactors"))
    assert listed["all"] == [] and listed["totp"] == []
    assert "factor_unenrolled" in audit_actions(server.app, user_id)


def test_errors_as_the_client_returns_them(start):
    server, js = start()
    _sign_up(js, "a")
    enrolled = _enroll_totp(js, "a")
    factor_id, secret = enrolled["id"], enrolled["totp"]["secret"]
    challenge = _ok(js.call("a", "mfa.challenge", {"factorId": factor_id}))

    refused = js.call("a", "mfa.verify", {"factorId": factor_id,
                                          "challengeId": challenge["id"], "code": _wrong(secret)})
    assert api_error(refused) == ("AuthApiError", 422, "mfa_verification_failed")
    assert refused["error"]["message"] == "Invalid TOTP code entered"
    assert _factor(server.app, factor_id).status.value == "unverified"
    assert _challenge_row(server.app, challenge["id"]).failed_attempts == 1

    unknown = str(uuid.uuid4())
    missing = js.call("a", "mfa.challenge", {"factorId": unknown})
    assert api_error(missing) == ("AuthApiError", 404, "mfa_factor_not_found")
    assert missing["error"]["message"] == "Factor not found"
    missing = js.call("a", "mfa.unenroll", {"factorId": unknown})
    assert api_error(missing) == ("AuthApiError", 404, "mfa_factor_not_found")
    # A challenge id nobody issued.
    stray = js.call("a", "mfa.verify", {"factorId": factor_id, "challengeId": unknown,
                                        "code": pyotp.TOTP(secret).now()})
    assert api_error(stray) == ("AuthApiError", 422, "mfa_factor_not_found")

    # The session stayed aal1 and the right code still passes the same challenge.
    assert _aal(js, "a") == ("aal1", "aal1")
    verified = _ok(js.call("a", "mfa.verify", {"factorId": factor_id,
                                               "challengeId": challenge["id"],
                                               "code": pyotp.TOTP(secret).now()}))
    assert verified_claims(verified["access_token"])["aal"] == "aal2"
    # A challenge is good for one verification only.
    again = js.call("a", "mfa.verify", {"factorId": factor_id, "challengeId": challenge["id"],
                                        "code": pyotp.TOTP(secret).now()})
    assert api_error(again) == ("AuthApiError", 422, "mfa_ip_address_mismatch")


def test_admin_lists_and_deletes_factors(start, service_role_token):
    server, js = start()
    session = _sign_up(js, "a")
    user_id = session["user"]["id"]
    verified_factor = _enroll_totp(js, "a", friendlyName="first")
    _ok(js.call("a", "mfa.challengeAndVerify", {
        "factorId": verified_factor["id"],
        "code": pyotp.TOTP(verified_factor["totp"]["secret"]).now()}))
    # At aal2 a second factor can be enrolled; it stays unverified.
    pending = _enroll_totp(js, "a", friendlyName="second")

    js.send(op="new", client="admin", flowType="implicit", serviceRoleKey=service_role_token)
    listed = _ok(js.call("admin", "admin.mfa.listFactors", {"userId": user_id}))["factors"]
    assert sorted((f["id"], f["friendly_name"], f["factor_type"], f["status"])
                  for f in listed) == sorted([
        (verified_factor["id"], "first", "totp", "verified"),
        (pending["id"], "second", "totp", "unverified")])

    # auth-js wraps the deleted factor once more: data is {data: factor, error: null}.
    deleted = _ok(_ok(js.call("admin", "admin.mfa.deleteFactor",
                              {"userId": user_id, "id": verified_factor["id"]})))
    assert deleted["id"] == verified_factor["id"] and deleted["status"] == "verified"
    assert _factor(server.app, verified_factor["id"]) is None
    listed = _ok(js.call("admin", "admin.mfa.listFactors", {"userId": user_id}))["factors"]
    assert [f["id"] for f in listed] == [pending["id"]]
    missing = js.call("admin", "admin.mfa.deleteFactor",
                      {"userId": user_id, "id": verified_factor["id"]})
    assert api_error(missing)[:2] == ("AuthApiError", 404)

    # The user unenrolls the unverified factor themself.
    assert _ok(js.call("a", "mfa.unenroll", {"factorId": pending["id"]})) == {"id": pending["id"]}
    assert _ok(js.call("a", "mfa.listFactors"))["all"] == []


def test_a_phone_factor(start, make_app, servers):
    twilio = servers(FakeTwilio())
    server, js = start(phone_app(make_app, twilio, **AUTOCONFIRM, **PHONE_MFA))
    session = _sign_up(js, "a")
    user_id = session["user"]["id"]

    enrolled = _ok(js.call("a", "mfa.enroll", {"factorType": "phone",
                                               "phone": f"+{FACTOR_PHONE}",
                                               "friendlyName": "mobile"}))
    assert (enrolled["type"], enrolled["friendly_name"]) == ("phone", "mobile")
    assert enrolled["phone"] == f"+{FACTOR_PHONE}" and "totp" not in enrolled
    factor_id = enrolled["id"]
    factor = _factor(server.app, factor_id)
    assert (factor.status.value, factor.phone) == ("unverified", FACTOR_PHONE)
    assert twilio.received == []  # enrolment texts nothing

    challenge = _ok(js.call("a", "mfa.challenge", {"factorId": factor_id}))
    assert challenge["type"] == "phone"
    code = code_of(twilio.last)
    assert twilio.last.text == (
        f"Body=Your+code+is+{code}&Channel=sms&From=MG123&To=%2B{FACTOR_PHONE}")
    assert [log_row(entry)[:3] for entry in sms_log(server.app)] == [
        ("mfa", FACTOR_PHONE, "sms")]

    refused = js.call("a", "mfa.verify", {"factorId": factor_id,
                                          "challengeId": challenge["id"], "code": wrong(code)})
    assert api_error(refused) == ("AuthApiError", 422, "mfa_verification_failed")
    assert refused["error"]["message"] == "Invalid MFA Phone code entered"

    verified = _ok(js.call("a", "mfa.verify", {"factorId": factor_id,
                                               "challengeId": challenge["id"],
                                               "code": code}))
    claims = verified_claims(verified["access_token"])
    assert claims["aal"] == "aal2"
    assert _methods(verified["access_token"]) == ["mfa/phone", "password"]
    assert _aal(js, "a") == ("aal2", "aal2")
    listed = _ok(js.call("a", "mfa.listFactors"))
    assert [(f["id"], f["factor_type"]) for f in listed["phone"]] == [(factor_id, "phone")]
    assert listed["totp"] == []
    assert _factor(server.app, factor_id).status.value == "verified"
    assert _sessions(server.app, user_id) == {claims["session_id"]: ("aal2", factor_id)}
    # A second challenge within the minute is refused, as the client returns it.
    early = js.call("a", "mfa.challenge", {"factorId": factor_id})
    assert api_error(early) == ("AuthApiError", 429, "over_sms_send_rate_limit")
    assert len(twilio.received) == 1
