"""Signing in with a passkey (spec idp-passkeys-web3.md sections 0, 2.2 and 2.3): POST
/passkeys/authentication/options and /verify, the options JSON, the rate limit and captcha,
every refusal in GoTrue's order, the backup-flag and counter rules, and the session."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
import requests
import sqlalchemy as sa

from gotrue_web.models import AMRClaim, Session, WebAuthnChallenge

from ..api.test_captcha import captcha_on, solved
from ..conftest import table_rows
from ..factories import (
    audit_entries,
    claims,
    count,
    freeze_clock,
    make_user,
    session_ids,
    update_user,
    user_row,
)
from ..openapi.conformance import assert_conforms
from ..support.captcha_servers import CaptchaServer
from ..support.soft_authenticator import SoftAuthenticator, b64url
from .conftest import ORIGIN, RP_ID
from .passkey_flows import Passkeys, api_error, challenges, credential, credentials, session_token

NIL = "00000000-0000-0000-0000-000000000000"
FAILED = (400, "webauthn_verification_failed", "Credential verification failed")
SOLVED = "solved-captcha-passkey"


@pytest.fixture
def passkeys(app, service_role_token) -> Passkeys:
    return Passkeys(app, service_role_token)


def _registered(passkeys: Passkeys, authenticator, email: str | None = None, **overrides):
    """A user with one passkey of ``authenticator``: (user id, passkey id)."""
    user_id, token = passkeys.user(email)
    return user_id, passkeys.register(token, authenticator, **overrides)["id"]


# --- options -------------------------------------------------------------------------------------


def test_the_options_name_no_credentials_and_the_challenge_has_no_user(app, passkeys):
    clock = freeze_clock(app)
    response = passkeys.authentication_options()
    assert response.status_code == 200, response.get_json()
    assert_conforms(response, "/passkeys/authentication/options", "POST")
    body = response.get_json()
    assert list(body) == ["challenge_id", "options", "expires_at"]
    assert body["expires_at"] == int(clock.now.timestamp()) + 300
    options = body["options"]
    assert options == {"challenge": options["challenge"], "timeout": 300000, "rpId": RP_ID,
                       "userVerification": "preferred"}
    assert list(options) == ["challenge", "timeout", "rpId", "userVerification"]
    [row] = challenges(app)
    assert (str(row.id), row.user_id, row.challenge_type) == (
        body["challenge_id"], None, "authentication")
    assert row.session_data["challenge"] == options["challenge"]
    assert row.expires_at == clock.now + timedelta(minutes=5)


def test_the_options_ignore_the_body_and_a_bearer(app, passkeys):
    user_id, token = passkeys.user()
    for kwargs in ({"data": ""}, {"json": {}}, {"token": token}):
        response = passkeys.api.post("/passkeys/authentication/options", **kwargs)
        assert response.status_code == 200, response.get_json()
    assert {row.user_id for row in challenges(app)} == {None}


def test_disabled_passkeys_are_a_404(passkey_app, authenticator):
    app = passkey_app(**{"passkeys.enabled": False})
    passkeys = Passkeys(app)
    for response in (passkeys.authentication_options(),
                     passkeys.authentication_verify(NIL, {})):
        assert api_error(response) == (404, "passkey_disabled", "Passkeys are disabled")
    assert count(app, WebAuthnChallenge) == 0


def test_a_relying_party_that_is_not_configured_is_a_500(passkey_app):
    passkeys = Passkeys(passkey_app(**{"webauthn.rp_id": ""}))
    assert api_error(passkeys.authentication_options()) == (
        500, "unexpected_failure", "Failed to initialize WebAuthn")


def test_the_options_have_their_own_rate_limit_and_verify_has_none(passkey_app):
    app = passkey_app(**{"rate_limit.passkey": 2})
    passkeys = Passkeys(app)
    statuses = [passkeys.authentication_options().status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    refused = passkeys.authentication_options()
    assert api_error(refused) == (429, "over_request_rate_limit", "Request rate limit reached")
    assert "Retry-After" in refused.headers
    assert count(app, WebAuthnChallenge) == 2
    for _ in range(3):
        assert api_error(passkeys.authentication_verify(NIL, {}))[1] == (
            "webauthn_challenge_not_found")


def test_the_captcha_is_checked_after_the_rate_limit(passkey_app, servers):
    captcha = servers(CaptchaServer(SOLVED))
    app = passkey_app(**captcha_on(captcha), **{"rate_limit.passkey": 3})
    passkeys = Passkeys(app)
    missing = passkeys.authentication_options()
    assert api_error(missing) == (400, "captcha_failed", "captcha protection: request "
                                  "disallowed (no captcha_token found in gotrue_meta_security)")
    wrong = passkeys.authentication_options(solved({}, "wrong"))
    assert api_error(wrong)[:2] == (400, "captcha_failed")
    assert count(app, WebAuthnChallenge) == 0
    accepted = passkeys.authentication_options(solved({}, SOLVED))
    assert accepted.status_code == 200, accepted.get_json()
    assert [post["form"]["response"] for post in captcha.posts] == ["wrong", SOLVED]
    # The refused calls counted: the fourth is over the limit before any captcha check.
    assert passkeys.authentication_options(solved({}, SOLVED)).status_code == 429
    assert len(captcha.posts) == 2


# --- verify: success -----------------------------------------------------------------------------


def test_a_passkey_signs_its_user_in_with_an_aal1_session(app, passkeys, authenticator):
    user_id, passkey_id = _registered(passkeys, authenticator, "pat@example.com")
    before = session_ids(app, user_id)
    clock = freeze_clock(app)
    response = passkeys.login(authenticator)
    assert response.status_code == 200, response.get_json()
    assert_conforms(response, "/passkeys/authentication/verify", "POST")
    body = response.get_json()
    assert list(body) == ["access_token", "token_type", "expires_in", "expires_at",
                          "refresh_token", "user"]
    assert body["user"]["id"] == str(user_id) and body["user"]["email"] == "pat@example.com"
    token = claims(body["access_token"])
    assert token["aal"] == "aal1" and token["sub"] == str(user_id)
    assert token["amr"] == [{"method": "passkey", "timestamp": int(clock.now.timestamp())}]
    [new_session] = session_ids(app, user_id) - before
    assert token["session_id"] == str(new_session)
    methods = table_rows(app, sa.select(AMRClaim.authentication_method)
                         .where(AMRClaim.session_id == new_session))
    assert [row[0] for row in methods] == ["passkey"]
    # The session works, the passkey's use is recorded, and so is the sign-in.
    me = passkeys.api.get("/user", token=body["access_token"])
    assert me.status_code == 200 and me.get_json()["id"] == str(user_id)
    stored = credential(app, passkey_id)
    assert stored.last_used_at == stored.updated_at == clock.now
    assert stored.sign_count == 1
    assert user_row(app, user_id).last_sign_in_at == clock.now
    [entry] = [entry for entry in audit_entries(app, "login")
               if "passkey_id" in entry.get("traits", {})]
    assert entry["actor_id"] == str(user_id) and entry["traits"] == {"passkey_id": passkey_id}
    assert count(app, WebAuthnChallenge) == 0
    listed = passkeys.api.get("/passkeys", token=body["access_token"]).get_json()
    assert listed[0]["last_used_at"] == clock.now.strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def test_the_refresh_token_of_a_passkey_session_works(passkeys, authenticator):
    _registered(passkeys, authenticator)
    body = passkeys.login(authenticator).get_json()
    refreshed = passkeys.api.refresh(body["refresh_token"])
    assert refreshed.status_code == 200, refreshed.get_json()


def test_user_verification_is_not_required(passkeys, authenticator):
    _registered(passkeys, authenticator)
    assert passkeys.login(authenticator, user_verified=False).status_code == 200


def test_each_passkey_of_a_user_signs_in_as_itself(app, passkeys, authenticator):
    user_id, token = passkeys.user()
    first = passkeys.register(token, authenticator)["id"]
    first_credential = authenticator.last_credential_id
    second = passkeys.register(token, authenticator)["id"]
    assert passkeys.login(authenticator, first_credential).status_code == 200
    assert passkeys.login(authenticator).status_code == 200
    traits = [entry["traits"]["passkey_id"] for entry in audit_entries(app, "login")
              if "passkey_id" in entry.get("traits", {})]
    assert traits == [first, second]


# --- verify: refusals ----------------------------------------------------------------------------


def test_a_replayed_assertion_finds_no_challenge(app, passkeys, authenticator):
    user_id, _ = _registered(passkeys, authenticator)
    body = passkeys.options_for_login()
    assertion = authenticator.get(body["options"])
    assert passkeys.authentication_verify(body["challenge_id"], assertion).status_code == 200
    sessions_after_one = session_ids(app, user_id)
    replay = passkeys.authentication_verify(body["challenge_id"], assertion)
    assert api_error(replay) == (400, "webauthn_challenge_not_found",
                                 "Challenge not found or already used")
    assert session_ids(app, user_id) == sessions_after_one


@pytest.mark.parametrize("body, message", [
    ({}, "challenge_id is required"),
    ({"challenge_id": "", "credential": {}}, "challenge_id is required"),
    ({"challenge_id": NIL}, "credential is required"),
    ({"challenge_id": "nope", "credential": {}}, "challenge_id must be a valid UUID"),
], ids=["empty", "blank-id", "no-credential", "bad-id"])
def test_the_body_checks_in_order(passkeys, body, message):
    response = passkeys.api.post("/passkeys/authentication/verify", json=body)
    assert api_error(response) == (400, "validation_failed", message)


def test_a_body_that_is_not_an_object_is_bad_json(passkeys):
    response = passkeys.api.post("/passkeys/authentication/verify", data="[1]")
    assert api_error(response)[:2] == (400, "bad_json")


def test_a_registration_challenge_is_not_a_sign_in_challenge(app, passkeys, authenticator):
    _, token = passkeys.user()
    passkeys.register(token, authenticator)
    registration = passkeys.registration_options(token).get_json()
    assertion = authenticator.get({"challenge": registration["options"]["challenge"],
                                   "rpId": RP_ID})
    response = passkeys.authentication_verify(registration["challenge_id"], assertion)
    assert api_error(response)[1] == "webauthn_challenge_not_found"
    assert [row.challenge_type for row in challenges(app)] == ["registration"]


def test_an_expired_challenge_is_refused_and_spent(app, passkeys, authenticator):
    _registered(passkeys, authenticator)
    clock = freeze_clock(app)
    body = passkeys.options_for_login()
    assertion = authenticator.get(body["options"])
    clock.advance(minutes=5, seconds=1)
    response = passkeys.authentication_verify(body["challenge_id"], assertion)
    assert api_error(response) == (400, "webauthn_challenge_expired", "Challenge has expired")
    assert count(app, WebAuthnChallenge) == 0


def test_an_unregistered_passkey_fails(app, passkeys, authenticator):
    user_id, _ = _registered(passkeys, authenticator)
    # A credential the authenticator made for this user but never sent to the server.
    authenticator.create({"challenge": "x", "rp": {"id": RP_ID},
                          "user": {"id": b64url(str(user_id).encode())}})
    assert api_error(passkeys.login(authenticator)) == FAILED
    assert count(app, WebAuthnChallenge) == 0


def test_a_deleted_passkey_fails(app, passkeys, authenticator):
    user_id, token = passkeys.user()
    passkey_id = passkeys.register(token, authenticator)["id"]
    assert passkeys.api.delete(f"/passkeys/{passkey_id}", token=token).status_code == 204
    before = session_ids(app, user_id)
    assert api_error(passkeys.login(authenticator)) == FAILED
    assert session_ids(app, user_id) == before


def test_another_users_passkey_under_this_users_handle_fails(app, passkeys, authenticator):
    victim_id, _ = _registered(passkeys, authenticator)
    attacker = SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN)
    attacker_id, attacker_passkey = _registered(passkeys, attacker)
    handle = str(victim_id).encode("ascii")
    assert api_error(passkeys.login(attacker, user_handle=handle)) == FAILED
    assert credential(app, attacker_passkey).last_used_at is None
    # Its own handle signs the attacker in as the attacker.
    assert passkeys.login(attacker).get_json()["user"]["id"] == str(attacker_id)


@pytest.mark.parametrize("handle", [None, b"not-a-uuid", b"\xff\xfe",
                                    str(uuid.UUID(int=7)).encode()],
                         ids=["missing", "not-a-uuid", "not-ascii", "no-such-user"])
def test_a_user_handle_naming_no_user_fails(passkeys, authenticator, handle):
    _registered(passkeys, authenticator)
    assert api_error(passkeys.login(authenticator, user_handle=handle)) == FAILED


@pytest.mark.parametrize("overrides", [
    {"origin": "http://localhost:5174"}, {"rp_id": "example.com"}, {"type": "webauthn.create"},
    {"challenge": b64url(bytes(32))}, {"user_present": False}, {"signature": b"\x30\x00"},
], ids=["origin", "rp-id", "type", "challenge", "no-user-presence", "signature"])
def test_an_assertion_failing_a_check_fails_and_spends_the_challenge(app, passkeys,
                                                                    authenticator, overrides):
    user_id, passkey_id = _registered(passkeys, authenticator)
    body = passkeys.options_for_login()
    assertion = authenticator.get(body["options"], **overrides)
    assert api_error(passkeys.authentication_verify(body["challenge_id"], assertion)) == FAILED
    assert count(app, WebAuthnChallenge) == 0
    assert credential(app, passkey_id).sign_count == 0
    assert credential(app, passkey_id).last_used_at is None


@pytest.mark.parametrize("assertion", ["text", {}, {"id": "AA", "rawId": "AA"},
                                       {"id": "AA", "rawId": "AA", "type": "public-key",
                                        "response": {"clientDataJSON": "!"}}],
                         ids=["string", "empty", "no-response", "bad-base64"])
def test_an_unparsable_assertion_is_an_invalid_response(app, passkeys, assertion):
    body = passkeys.options_for_login()
    response = passkeys.authentication_verify(body["challenge_id"], assertion)
    assert api_error(response) == (400, "webauthn_verification_failed",
                                   "Invalid credential response")
    assert count(app, WebAuthnChallenge) == 0


# --- backup flags and the counter (section 2.3) --------------------------------------------------


@pytest.mark.parametrize("registered_be, asserted_be", [(False, True), (True, False)],
                         ids=["became-eligible", "lost-eligibility"])
def test_a_backup_eligibility_flip_fails(passkeys, registered_be, asserted_be):
    authenticator = SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN,
                                      backup_eligible=registered_be)
    _registered(passkeys, authenticator)
    assert api_error(passkeys.login(authenticator, backup_eligible=asserted_be)) == FAILED


def test_backed_up_without_eligibility_fails(passkeys, authenticator):
    _registered(passkeys, authenticator)
    assert api_error(passkeys.login(authenticator, backed_up=True)) == FAILED


def test_the_backup_state_may_change_and_is_stored(app, passkeys):
    authenticator = SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN, backup_eligible=True)
    _, passkey_id = _registered(passkeys, authenticator)
    assert credential(app, passkey_id).backed_up is False
    assert passkeys.login(authenticator, backed_up=True).status_code == 200
    assert credential(app, passkey_id).backed_up is True


def test_a_counter_that_goes_back_still_signs_in_and_keeps_the_stored_count(app, passkeys,
                                                                          authenticator):
    _, passkey_id = _registered(passkeys, authenticator)
    assert passkeys.login(authenticator, sign_count=5).status_code == 200
    assert credential(app, passkey_id).sign_count == 5
    for regressed in (5, 3):
        response = passkeys.login(authenticator, sign_count=regressed)
        assert response.status_code == 200, response.get_json()
        assert credential(app, passkey_id).sign_count == 5
    assert passkeys.login(authenticator, sign_count=9).status_code == 200
    assert credential(app, passkey_id).sign_count == 9


def test_an_authenticator_without_a_counter_signs_in_every_time(app, passkeys, authenticator):
    _, passkey_id = _registered(passkeys, authenticator)
    for _ in range(2):
        assert passkeys.login(authenticator, sign_count=0).status_code == 200
    assert credential(app, passkey_id).sign_count == 0


# --- the user's state, after the assertion -------------------------------------------------------


def test_an_unconfirmed_email_is_refused_after_the_assertion(app, passkeys, authenticator):
    user_id, passkey_id = _registered(passkeys, authenticator)
    update_user(app, user_id, email_confirmed_at=None)
    before = session_ids(app, user_id)
    response = passkeys.login(authenticator)
    assert api_error(response) == (403, "email_not_confirmed", "Email not confirmed")
    assert session_ids(app, user_id) == before
    assert credential(app, passkey_id).last_used_at is None
    assert count(app, WebAuthnChallenge) == 0
    # A bad assertion of the same user is the verification error, not the 403.
    assert api_error(passkeys.login(authenticator, user_present=False)) == FAILED


def test_an_unconfirmed_phone_is_refused(app, passkeys, authenticator):
    user_id, _ = _registered(passkeys, authenticator)
    update_user(app, user_id, phone="15550002222", phone_confirmed_at=None)
    assert api_error(passkeys.login(authenticator)) == (
        403, "phone_not_confirmed", "Phone not confirmed")


def test_a_phone_user_with_a_confirmed_phone_signs_in(app, passkeys, authenticator):
    user_id = make_user(app, phone="15550003333")
    passkeys.register(session_token(app, user_id), authenticator)
    assert passkeys.login(authenticator).status_code == 200


def test_a_banned_user_is_refused_after_the_confirmation_checks(app, passkeys, authenticator):
    user_id, _ = _registered(passkeys, authenticator)
    now = app.extensions["gotrue"].now()
    update_user(app, user_id, banned_until=now + timedelta(hours=1))
    before = count(app, Session)
    assert api_error(passkeys.login(authenticator)) == (403, "user_banned", "User is banned")
    update_user(app, user_id, email_confirmed_at=None)
    assert api_error(passkeys.login(authenticator))[1] == "email_not_confirmed"
    assert count(app, Session) == before
    update_user(app, user_id, banned_until=now - timedelta(seconds=1),
                email_confirmed_at=now)
    assert passkeys.login(authenticator).status_code == 200


def test_two_users_passkeys_sign_in_their_own_users(app, passkeys, authenticator):
    first_id, _ = _registered(passkeys, authenticator)
    second = SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN)
    second_id, _ = _registered(passkeys, second)
    assert passkeys.login(authenticator).get_json()["user"]["id"] == str(first_id)
    assert passkeys.login(second).get_json()["user"]["id"] == str(second_id)
    assert {row.user_id for row in credentials(app)} == {first_id, second_id}


def test_of_concurrent_verifies_of_one_challenge_exactly_one_signs_in(app, serve, passkeys,
                                                                     authenticator):
    user_id, passkey_id = _registered(passkeys, authenticator)
    server = serve(app)
    body = passkeys.options_for_login()
    payload = {"challenge_id": body["challenge_id"],
               "credential": authenticator.get(body["options"])}
    before = session_ids(app, user_id)
    racers = 6
    barrier = threading.Barrier(racers)
    answers: list = [None] * racers

    def race(number: int) -> None:
        with requests.Session() as http:
            barrier.wait(timeout=30)
            answers[number] = http.post(server.url + "/passkeys/authentication/verify",
                                        json=payload, timeout=60,
                                        headers={"X-Supabase-Api-Version": "2024-01-01"})

    threads = [threading.Thread(target=race, args=(number,)) for number in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] + [400] * (racers - 1), [answer.text for answer in answers]
    assert {answer.json()["code"] for answer in answers if answer.status_code == 400} == {
        "webauthn_challenge_not_found"}
    assert len(session_ids(app, user_id) - before) == 1
    assert credential(app, passkey_id).sign_count == 1
