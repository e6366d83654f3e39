"""The verification-attempt hooks (spec phone-sms.md 4.4 "Decisions"): the password grant asks
password_verification_attempt and MFA verify asks mfa_verification_attempt after checking the
password or code, with the result. Only a decision of exactly "reject" counts: the password hook
then answers 400 invalid_credentials (deleting every session of the user when it says
should_logout_user), the MFA hook 403 mfa_verification_rejected after deleting every session."""

from __future__ import annotations

import json
import uuid

import pytest
import sqlalchemy as sa

from gotrue_web.extensions import db
from gotrue_web.models import AuditLogEntry, FactorStatus, User
from gotrue_web.services import audit
from gotrue_web.settings import HookConfig

from ..api.mfa.phone_support import challenged_phone, enrolled_phone, mfa_phone_app
from ..api.mfa.support import (app_now, assert_error, challenge_row, challenged, enrolled_totp,
                               factor_row, session_id_of, totp_code, verify, wrong_code)
from ..conftest import api_for
from ..factories import PASSWORD, create_user, session_ids, sign_in, unique_email
from ..support.fake_hooks import SECRET, FakeHookReceiver, Reply
from ..support.fake_sms import FakeTwilio

PASSWORD_REJECTED = "Further password verification attempts will be rejected."
MFA_REJECTED = "Further MFA verification attempts will be rejected."
INVALID = "Invalid login credentials"


def decision(**output) -> Reply:
    return Reply(200, json.dumps(output))


@pytest.fixture
def receiver(servers):
    return servers(FakeHookReceiver())


def hooked(make_app, name: str, receiver, **overrides):
    return make_app(**{"mailer.autoconfirm": True,
                       f"hooks.{name}": HookConfig(True, receiver.uri(), (SECRET,)),
                       **overrides})


def member(app, service_role_token, sessions: int = 0):
    """(api, email, user id) of a confirmed user with a password, signed in ``sessions`` times
    before the test."""
    api = api_for(app, service_role_token)
    email = unique_email("attempt")
    user_id = create_user(api, email, password=PASSWORD)["id"]
    for _ in range(sessions):
        sign_in(api, email)
    return api, email, user_id


# --- password_verification_attempt ----------------------------------------------------------


@pytest.fixture
def password_app(make_app, receiver):
    return hooked(make_app, "password_verification_attempt", receiver)


@pytest.mark.parametrize("password, valid", [(PASSWORD, True), ("wrong-password", False)])
def test_the_password_hook_hears_the_result(password_app, receiver, service_role_token,
                                            password, valid):
    api, email, user_id = member(password_app, service_role_token)
    response = api.login(email, password)
    assert response.status_code == (200 if valid else 400), response.get_data(as_text=True)
    [request] = receiver.received
    event = FakeHookReceiver.verify(request)
    assert list(event) == ["metadata", "user_id", "valid"]
    assert event["metadata"]["name"] == "password-verification"
    assert (event["user_id"], event["valid"]) == (user_id, valid)
    if not valid:
        assert response.get_json() == {"code": "invalid_credentials", "message": INVALID}


@pytest.mark.parametrize("output", [
    {"decision": "continue"}, {"decision": "Reject", "message": "no"}, {"decision": "REJECT"},
    {"decision": "reject ", "should_logout_user": True}, {}, None,
], ids=["continue", "Reject", "REJECT", "reject-space", "empty", "204"])
def test_any_other_decision_continues(password_app, receiver, service_role_token, output):
    api, email, user_id = member(password_app, service_role_token, sessions=1)
    receiver.default = Reply(204, "", None) if output is None else decision(**output)
    before = session_ids(password_app, user_id)
    response = api.login(email)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert before < session_ids(password_app, user_id)
    # A wrong password still gets the usual answer.
    wrong = api.login(email, "wrong-password")
    assert wrong.get_json() == {"code": "invalid_credentials", "message": INVALID}


def test_a_rejection_keeps_the_sessions_by_default(password_app, receiver, service_role_token):
    api, email, user_id = member(password_app, service_role_token, sessions=2)
    before = session_ids(password_app, user_id)
    receiver.default = decision(decision="reject")
    response = api.login(email)
    assert_error(response, 400, "invalid_credentials", PASSWORD_REJECTED)
    assert session_ids(password_app, user_id) == before


def test_a_rejection_with_logout_deletes_every_session(password_app, receiver,
                                                       service_role_token):
    api, email, user_id = member(password_app, service_role_token, sessions=2)
    other = member(password_app, service_role_token, sessions=1)[2]
    receiver.default = decision(decision="reject", message="Account locked, call us.",
                                should_logout_user=True)
    response = api.login(email)
    assert_error(response, 400, "invalid_credentials", "Account locked, call us.")
    assert session_ids(password_app, user_id) == set()
    assert len(session_ids(password_app, other)) == 1


def test_a_wrong_password_can_be_rejected_too(password_app, receiver, service_role_token):
    api, email, user_id = member(password_app, service_role_token, sessions=1)
    receiver.default = decision(decision="reject", should_logout_user=True)
    response = api.login(email, "wrong-password")
    assert_error(response, 400, "invalid_credentials", PASSWORD_REJECTED)
    assert receiver.received[-1].json["valid"] is False
    assert session_ids(password_app, user_id) == set()


def test_unknown_users_and_banned_users_do_not_reach_the_hook(password_app, receiver,
                                                              service_role_token):
    response = api_for(password_app).post("/token?grant_type=password", json={
        "email": unique_email("nobody"), "password": PASSWORD})
    assert_error(response, 400, "invalid_credentials", INVALID)
    admin, email, user_id = member(password_app, service_role_token)
    banned = admin.admin("PUT", f"/admin/users/{user_id}", json={"ban_duration": "24h"})
    assert banned.status_code == 200, banned.get_data(as_text=True)
    assert_error(admin.login(email), 400, "user_banned")
    assert receiver.received == []


def test_hook_errors_pass_through(password_app, receiver, service_role_token):
    api, email, user_id = member(password_app, service_role_token)
    receiver.default = decision(error={"http_code": 429, "message": "slow down"})
    response = api.login(email)
    assert response.status_code == 429
    assert response.get_json() == {"code": "unknown", "message": "slow down"}
    assert session_ids(password_app, user_id) == set()


class DeletingReceiver(FakeHookReceiver):
    """A password hook that deletes the user (through the admin API) before it answers: the
    account goes between the grant's read of it and the grant's writes."""

    def __init__(self):
        self.admin = None
        super().__init__()

    @property
    def default(self) -> Reply:
        user_id = self.received[-1].json["user_id"]
        assert self.admin.admin("DELETE", f"/admin/users/{user_id}").status_code == 200
        return decision(decision="continue")

    @default.setter
    def default(self, _value) -> None:
        pass


def test_a_user_deleted_during_the_sign_in_gets_no_session(make_app, servers,
                                                           service_role_token):
    receiver = servers(DeletingReceiver())
    app = hooked(make_app, "password_verification_attempt", receiver)
    api, email, user_id = member(app, service_role_token)
    receiver.admin = api_for(app, service_role_token)
    response = api.login(email)
    assert_error(response, 400, "invalid_credentials", INVALID)
    with app.app_context():
        logins = db.session.execute(sa.select(sa.func.count()).select_from(AuditLogEntry).where(
            audit.payload_field("action") == "login")).scalar_one()
        assert db.session.get(User, uuid.UUID(user_id)) is None
    assert session_ids(app) == set()
    assert logins == 0


def test_an_output_go_cannot_decode_is_a_500(password_app, receiver, service_role_token):
    api, email, _ = member(password_app, service_role_token)
    receiver.default = decision(decision="reject", should_logout_user="yes")
    response = api.login(email)
    assert response.status_code == 500
    assert response.get_json() == {"code": "unexpected_failure",
                                   "message": "Error unmarshaling JSON output."}


# --- mfa_verification_attempt ---------------------------------------------------------------


@pytest.fixture
def mfa_app(make_app, receiver):
    return hooked(make_app, "mfa_verification_attempt", receiver)


def totp_member(app, service_role_token, sessions: int = 1):
    """A user with ``sessions`` other sessions and one signed in with an unverified TOTP factor
    and a challenge: (api, user id, session JSON, factor JSON, challenge id)."""
    api, email, user_id = member(app, service_role_token, sessions=sessions)
    session = sign_in(api, email)
    factor = enrolled_totp(api, session["access_token"])
    chal = challenged(api, session["access_token"], factor["id"])
    return api, user_id, session, factor, chal["id"]


@pytest.mark.parametrize("right", [True, False])
def test_the_mfa_hook_hears_the_totp_result(mfa_app, receiver, service_role_token, right):
    api, user_id, session, factor, chal = totp_member(mfa_app, service_role_token)
    secret, now = factor["totp"]["secret"], app_now(mfa_app)
    code = totp_code(secret, now) if right else wrong_code(secret, now)
    receiver.default = decision(decision="continue")
    response = verify(api, session["access_token"], factor["id"], chal, code)
    if right:
        assert response.status_code == 200, response.get_data(as_text=True)
    else:
        assert_error(response, 422, "mfa_verification_failed", "Invalid TOTP code entered")
    [request] = receiver.received
    event = FakeHookReceiver.verify(request)
    assert list(event) == ["metadata", "user_id", "factor_id", "factor_type", "valid"]
    assert event["metadata"]["name"] == "mfa-verification"
    assert event == {**event, "user_id": user_id, "factor_id": factor["id"],
                     "factor_type": "totp", "valid": right}


@pytest.mark.parametrize("right", [True, False])
def test_mfa_reject_deletes_every_session(mfa_app, receiver, service_role_token, right):
    api, user_id, session, factor, chal = totp_member(mfa_app, service_role_token, sessions=2)
    other = member(mfa_app, service_role_token, sessions=1)[2]
    assert len(session_ids(mfa_app, user_id)) == 3
    secret, now = factor["totp"]["secret"], app_now(mfa_app)
    receiver.default = decision(decision="reject")
    response = verify(api, session["access_token"], factor["id"], chal,
                      totp_code(secret, now) if right else wrong_code(secret, now))
    assert_error(response, 403, "mfa_verification_rejected", MFA_REJECTED)
    assert session_ids(mfa_app, user_id) == set()
    assert len(session_ids(mfa_app, other)) == 1
    # Nothing was verified, and the old access token no longer has a session.
    assert factor_row(mfa_app, factor["id"]).status == FactorStatus.unverified
    assert challenge_row(mfa_app, chal).verified_at is None
    assert api.get("/user", token=session["access_token"]).status_code == 403


def test_mfa_reject_uses_the_hooks_message(mfa_app, receiver, service_role_token):
    api, user_id, session, factor, chal = totp_member(mfa_app, service_role_token)
    receiver.default = decision(decision="reject", message="Too many tries.")
    response = verify(api, session["access_token"], factor["id"], chal,
                      totp_code(factor["totp"]["secret"], app_now(mfa_app)))
    assert_error(response, 403, "mfa_verification_rejected", "Too many tries.")
    assert session_ids(mfa_app, user_id) == set()


@pytest.mark.parametrize("output", [{"decision": "allow"}, {"decision": "rejected"}, None])
def test_mfa_other_decisions_continue(mfa_app, receiver, service_role_token, output):
    api, user_id, session, factor, chal = totp_member(mfa_app, service_role_token)
    receiver.default = Reply(204, "", None) if output is None else decision(**output)
    response = verify(api, session["access_token"], factor["id"], chal,
                      totp_code(factor["totp"]["secret"], app_now(mfa_app)))
    assert response.status_code == 200, response.get_data(as_text=True)
    # The step-up deleted the other aal1 session, as always; this one is now aal2.
    assert session_ids(mfa_app, user_id) == {session_id_of(session)}


@pytest.fixture
def sms(servers):
    return servers(FakeTwilio())


@pytest.mark.parametrize("right", [True, False])
def test_phone_factors_ask_the_hook_and_reject_deletes_every_session(
        make_app, receiver, sms, service_role_token, right):
    app = mfa_phone_app(make_app, sms, **{
        "mailer.autoconfirm": True,
        "hooks.mfa_verification_attempt": HookConfig(True, receiver.uri(), (SECRET,))})
    api, email, user_id = member(app, service_role_token, sessions=1)
    session = sign_in(api, email)
    factor_id = enrolled_phone(api, session["access_token"])
    chal, code = challenged_phone(api, session["access_token"], factor_id, sms)
    receiver.default = decision(decision="reject")
    response = verify(api, session["access_token"], factor_id, chal,
                      code if right else str((int(code) + 1) % 10 ** len(code)).zfill(len(code)))
    assert_error(response, 403, "mfa_verification_rejected", MFA_REJECTED)
    event = receiver.received[-1].json
    assert (event["factor_id"], event["factor_type"], event["valid"]) == (factor_id, "phone",
                                                                          right)
    assert event["user_id"] == user_id
    assert session_ids(app, user_id) == set()
    assert factor_row(app, factor_id).status == FactorStatus.unverified


def test_phone_factor_continue_steps_up(make_app, receiver, sms, service_role_token):
    app = mfa_phone_app(make_app, sms, **{
        "mailer.autoconfirm": True,
        "hooks.mfa_verification_attempt": HookConfig(True, receiver.uri(), (SECRET,))})
    api, email, _ = member(app, service_role_token)
    session = sign_in(api, email)
    factor_id = enrolled_phone(api, session["access_token"])
    chal, code = challenged_phone(api, session["access_token"], factor_id, sms)
    receiver.default = decision(decision="continue")
    response = verify(api, session["access_token"], factor_id, chal, code)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert receiver.received[-1].json["valid"] is True
    assert factor_row(app, factor_id).status == FactorStatus.verified


# --- a pg-functions hook runs in a transaction of its own --------------------------------------


@pytest.fixture
def attempt_log(pg_schema, make_app):
    """A table the hook function below writes each attempt into (PostgreSQL only): its name."""
    schema = pg_schema.name
    pg_schema.run(
        f'create table if not exists "{schema}".attempt_log (user_id text, valid boolean)',
        f'delete from "{schema}".attempt_log',
        f'create or replace function "{schema}".h_attempt(e jsonb) returns jsonb '
        f'language sql as $fn$ insert into "{schema}".attempt_log '
        "values (e->>'user_id', (e->>'valid')::boolean); "
        """select '{"decision":"continue"}'::jsonb $fn$""")
    yield make_app(), f'"{schema}".attempt_log'
    pg_schema.run(f'drop table "{schema}".attempt_log')


def test_a_pg_password_hook_keeps_its_writes_when_the_request_fails(
        attempt_log, test_database, make_app, service_role_token):
    setup_app, table = attempt_log
    app = make_app(**{"mailer.autoconfirm": True,
                      "hooks.password_verification_attempt": HookConfig(
                          True, f"pg-functions://postgres/{test_database.namespace}/h_attempt",
                          ())})
    api, email, user_id = member(app, service_role_token)
    # The request fails (and rolls back); what the function wrote stays.
    assert_error(api.login(email, "wrong-password"), 400, "invalid_credentials", INVALID)
    assert sign_in(api, email)["user"]["id"] == user_id
    with setup_app.app_context():
        rows = db.session.execute(sa.text(f"select user_id, valid from {table}")).all()
    assert sorted(rows) == [(user_id, False), (user_id, True)]
