"""The official Python client (PyPI ``supabase_auth``) doing MFA against the server over real
HTTP (api-contract §3 MFA, §5 aal/amr, §6 sessions): mfa.enroll, mfa.challenge, mfa.verify,
mfa.challenge_and_verify, mfa.get_authenticator_assurance_level, mfa.list_factors,
mfa.unenroll, admin.mfa.list_factors / delete_factor with a service_role key, and the errors
as the client raises them. TOTP codes are computed with pyotp from the secret the client was
given, phone codes read from the text the Twilio fake received; the rows are read through the
test app on the same database.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone
from urllib.parse import parse_qs, unquote, urlsplit

import pyotp
import pytest
import sqlalchemy as sa
from supabase_auth import SyncGoTrueAdminAPI, SyncGoTrueClient
from supabase_auth.errors import AuthApiError

from gotrue_web.models import Challenge, Factor, RefreshToken, Session

from ..api.phone.send_support import code_of, log_row, sms_log
from ..api.phone.verify_support import wrong
from ..conftest import table_rows
from ..factories import later, refresh_token_hash, unique_email, verified_claims
from ..support.fake_sms import FakeTwilio

pytestmark = pytest.mark.live

PASSWORD = "password-123"
SVG_URL = "data:image/svg+xml;utf-8,"  # the client prefixes the server's raw SVG with this
STALE = {"refresh_token_not_found", "session_not_found"}
FACTOR_PHONE = "15550008888"


@pytest.fixture
def server(make_app, serve):
    return serve(make_app(**{"mailer.autoconfirm": True}))


@pytest.fixture
def make_client(server):
    clients: list[SyncGoTrueClient] = []

    def build() -> SyncGoTrueClient:
        client = SyncGoTrueClient(url=server.url, headers={"apikey": "anon-key"},
                                  auto_refresh_token=False)
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()


@pytest.fixture
def admin(server, service_role_token):
    with SyncGoTrueAdminAPI(url=server.url, headers={
            "apikey": service_role_token, "Authorization": f"Bearer {service_role_token}"},
    ) as api:
        yield api


def _signed_up(make_client, email: str | None = None) -> SyncGoTrueClient:
    client = make_client()
    response = client.sign_up({"email": email or unique_email("py-mfa"), "password": PASSWORD})
    assert response.session is not None
    return client


def _signed_in(make_client, email: str) -> SyncGoTrueClient:
    client = make_client()
    assert client.sign_in_with_password({"email": email, "password": PASSWORD}).session
    return client


def _aal(client: SyncGoTrueClient) -> tuple:
    level = client.mfa.get_authenticator_assurance_level()
    return level.current_level, level.next_level


def _methods(access_token: str, clock_moved: bool = False) -> list[str]:
    return [entry["method"] for entry in
            verified_claims(access_token, clock_moved=clock_moved)["amr"]]


def _api_error(raised: pytest.ExceptionInfo) -> tuple:
    error = raised.value
    assert isinstance(error, AuthApiError), error
    return error.status, error.code


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


def test_enroll_challenge_verify_totp(server, make_client):
    client = _signed_up(make_client)
    session = client.get_session()
    user_id, session_id = session.user.id, verified_claims(session.access_token)["session_id"]
    assert _aal(client) == ("aal1", "aal1")

    enrolled = client.mfa.enroll({"factor_type": "totp", "friendly_name": "authenticator"})
    assert enrolled.type == "totp" and enrolled.friendly_name == "authenticator"
    secret, uri = enrolled.totp.secret, enrolled.totp.uri
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    assert uri.startswith("otpauth://totp/")
    assert parse_qs(urlsplit(uri).query)["secret"] == [secret]
    # The label is "<issuer>:<account>", the issuer defaulting to the SITE_URL host.
    assert unquote(urlsplit(uri).path) == f"/localhost:3000:{session.user.email}"
    assert parse_qs(urlsplit(uri).query)["issuer"] == ["localhost:3000"]
    assert enrolled.totp.qr_code.startswith(SVG_URL)
    assert "<svg" in enrolled.totp.qr_code[:200]
    assert _factor(server.app, enrolled.id).status.value == "unverified"

    # GET /user lists the unverified factor; it does not count for the next level.
    [factor] = client.get_user().user.factors
    assert (factor.id, factor.status, factor.factor_type) == (enrolled.id, "unverified", "totp")
    assert _aal(client) == ("aal1", "aal1")
    listed = client.mfa.list_factors()
    assert [f.id for f in listed.all] == [enrolled.id] and listed.totp == []

    challenge = client.mfa.challenge({"factor_id": enrolled.id})
    assert challenge.factor_type == "totp"
    row = _challenge_row(server.app, challenge.id)
    assert str(row.factor_id) == enrolled.id and row.verified_at is None
    assert abs(challenge.expires_at - (row.created_at.timestamp() + 300)) <= 1

    verified = client.mfa.verify({"factor_id": enrolled.id, "challenge_id": challenge.id,
                                  "code": pyotp.TOTP(secret).now()})
    assert verified.token_type.lower() == "bearer" and verified.user.id == user_id
    assert verified.refresh_token != session.refresh_token
    claims = verified_claims(verified.access_token)
    assert claims["aal"] == "aal2" and claims["session_id"] == session_id
    assert _methods(verified.access_token) == ["totp", "password"]

    # The client keeps the new session, now at aal2.
    assert client.get_session().access_token == verified.access_token
    assert _aal(client) == ("aal2", "aal2")
    level = client.mfa.get_authenticator_assurance_level()
    assert [m.method for m in level.current_authentication_methods] == ["totp", "password"]
    listed = client.mfa.list_factors()
    assert [(f.id, f.status) for f in listed.totp] == [(enrolled.id, "verified")]
    assert [f.id for f in listed.all] == [enrolled.id] and listed.phone == []

    assert _factor(server.app, enrolled.id).status.value == "verified"
    assert _challenge_row(server.app, challenge.id).verified_at is not None
    assert _sessions(server.app, user_id) == {session_id: ("aal2", enrolled.id)}
    # The session's refresh tokens: the sign-up one revoked, the new one live.
    assert table_rows(server.app, sa.select(RefreshToken.token, RefreshToken.revoked)
                      .where(RefreshToken.session_id == uuid.UUID(session_id))
                      .order_by(RefreshToken.id)) == [
        (refresh_token_hash(session.refresh_token), True),
        (refresh_token_hash(verified.refresh_token), False)]


def test_verify_ends_the_users_other_aal1_sessions(server, make_client):
    email = unique_email("py-mfa")
    first = _signed_up(make_client, email)
    second = _signed_in(make_client, email)
    user_id = first.get_session().user.id
    assert len(_sessions(server.app, user_id)) == 2

    enrolled = first.mfa.enroll({"factor_type": "totp"})
    verified = first.mfa.challenge_and_verify({
        "factor_id": enrolled.id, "code": pyotp.TOTP(enrolled.totp.secret).now()})
    claims = verified_claims(verified.access_token)
    assert claims["aal"] == "aal2"
    assert _sessions(server.app, user_id) == {claims["session_id"]: ("aal2", enrolled.id)}

    with pytest.raises(AuthApiError) as refused:
        second.refresh_session()
    status, code = _api_error(refused)
    assert status == 400 and code in STALE
    refreshed = first.refresh_session().session
    assert verified_claims(refreshed.access_token)["aal"] == "aal2"
    assert _methods(refreshed.access_token) == ["totp", "password"]


def test_signing_in_again_is_aal1_until_mfa(server, make_client):
    email = unique_email("py-mfa")
    first = _signed_up(make_client, email)
    enrolled = first.mfa.enroll({"factor_type": "totp"})
    factor_id, secret = enrolled.id, enrolled.totp.secret
    first.mfa.challenge_and_verify({"factor_id": factor_id, "code": pyotp.TOTP(secret).now()})

    client = _signed_in(make_client, email)
    session = client.get_session()
    assert verified_claims(session.access_token)["aal"] == "aal1"
    assert _methods(session.access_token) == ["password"]
    assert _aal(client) == ("aal1", "aal2")

    with pytest.raises(AuthApiError) as refused:
        client.mfa.unenroll({"factor_id": factor_id})
    assert _api_error(refused) == (422, "insufficient_aal")
    assert refused.value.message == "AAL2 required to unenroll verified factor"
    with pytest.raises(AuthApiError) as refused:
        client.mfa.enroll({"factor_type": "totp"})
    assert _api_error(refused) == (403, "insufficient_aal")
    assert _factor(server.app, factor_id).status.value == "verified"

    # A code of the next time step (the one just used cannot be replayed).
    now = later(server.app, 30)
    verified = client.mfa.challenge_and_verify({"factor_id": factor_id,
                                                "code": pyotp.TOTP(secret).at(now)})
    assert verified_claims(verified.access_token, clock_moved=True)["aal"] == "aal2"
    assert _methods(verified.access_token, clock_moved=True) == ["totp", "password"]
    assert _aal(client) == ("aal2", "aal2")

    assert client.mfa.unenroll({"factor_id": factor_id}).id == factor_id
    assert _factor(server.app, factor_id) is None
    # Both sessions stood at aal2 through that factor: they drop to aal1.
    assert set(_sessions(server.app, session.user.id).values()) == {("aal1", None)}
    refreshed = client.refresh_session().session
    assert verified_claims(refreshed.access_token, clock_moved=True)["aal"] == "aal1"
    assert _methods(refreshed.access_token, clock_moved=True) == ["password"]
    assert client.mfa.list_factors().all == []


def test_errors_as_the_client_raises_them(server, make_client):
    client = _signed_up(make_client)
    enrolled = client.mfa.enroll({"factor_type": "totp"})
    factor_id, secret = enrolled.id, enrolled.totp.secret
    challenge = client.mfa.challenge({"factor_id": factor_id})

    with pytest.raises(AuthApiError) as refused:
        client.mfa.verify({"factor_id": factor_id, "challenge_id": challenge.id,
                           "code": _wrong(secret)})
    assert _api_error(refused) == (422, "mfa_verification_failed")
    assert refused.value.message == "Invalid TOTP code entered"
    assert _challenge_row(server.app, challenge.id).failed_attempts == 1
    assert _factor(server.app, factor_id).status.value == "unverified"

    unknown = str(uuid.uuid4())
    with pytest.raises(AuthApiError) as refused:
        client.mfa.challenge({"factor_id": unknown})
    assert _api_error(refused) == (404, "mfa_factor_not_found")
    assert refused.value.message == "Factor not found"
    with pytest.raises(AuthApiError) as refused:
        client.mfa.unenroll({"factor_id": unknown})
    assert _api_error(refused) == (404, "mfa_factor_not_found")
    with pytest.raises(AuthApiError) as refused:
        client.mfa.verify({"factor_id": factor_id, "challenge_id": unknown,
                           "code": pyotp.TOTP(secret).now()})
    assert _api_error(refused) == (422, "mfa_factor_not_found")

    # Still aal1; the right code passes the same challenge, once.
    assert _aal(client) == ("aal1", "aal1")
    verified = client.mfa.verify({"factor_id": factor_id, "challenge_id": challenge.id,
                                  "code": pyotp.TOTP(secret).now()})
    assert verified_claims(verified.access_token)["aal"] == "aal2"
    with pytest.raises(AuthApiError) as refused:
        client.mfa.verify({"factor_id": factor_id, "challenge_id": challenge.id,
                           "code": pyotp.TOTP(secret).now()})
    assert _api_error(refused) == (422, "mfa_ip_address_mismatch")


def test_admin_lists_and_deletes_factors(server, make_client, admin):
    client = _signed_up(make_client)
    user_id = client.get_session().user.id
    first = client.mfa.enroll({"factor_type": "totp", "friendly_name": "first"})
    client.mfa.challenge_and_verify({"factor_id": first.id,
                                     "code": pyotp.TOTP(first.totp.secret).now()})
    # At aal2 a second factor can be enrolled; it stays unverified.
    second = client.mfa.enroll({"factor_type": "totp", "friendly_name": "second"})

    listed = admin.mfa.list_factors({"user_id": user_id})
    assert sorted((f.id, f.friendly_name, f.factor_type, f.status) for f in listed) == sorted([
        (first.id, "first", "totp", "verified"), (second.id, "second", "totp", "unverified")])

    assert admin.mfa.delete_factor({"user_id": user_id, "id": first.id}).id == first.id
    assert _factor(server.app, first.id) is None
    assert [f.id for f in admin.mfa.list_factors({"user_id": user_id})] == [second.id]
    with pytest.raises(AuthApiError) as missing:
        admin.mfa.delete_factor({"user_id": user_id, "id": first.id})
    assert _api_error(missing)[0] == 404

    # The user unenrolls the unverified one themself.
    assert client.mfa.unenroll({"factor_id": second.id}).id == second.id
    assert client.mfa.list_factors().all == []
    assert admin.mfa.list_factors({"user_id": user_id}) == []


def test_a_phone_factor_on_a_gunicorn_server_configured_by_environment(start_gunicorn, app,
                                                                        servers):
    """Phone factors switched on through GoTrue's variables, texting through the Twilio fake;
    the client challenges without naming a channel (it sends ``"channel": null``)."""
    twilio = servers(FakeTwilio())
    server = start_gunicorn(
        GOTRUE_MFA_PHONE_ENROLL_ENABLED="true", GOTRUE_MFA_PHONE_VERIFY_ENABLED="true",
        GOTRUE_SMS_PROVIDER="twilio", GOTRUE_SMS_TWILIO_ACCOUNT_SID="AC1",
        GOTRUE_SMS_TWILIO_AUTH_TOKEN="tok", GOTRUE_SMS_TWILIO_MESSAGE_SERVICE_SID="MG123",
        GOTRUE_SMS_TWILIO_URL=twilio.url)
    client = SyncGoTrueClient(url=server.url, headers={"apikey": "anon-key"},
                              auto_refresh_token=False)
    try:
        user_id = client.sign_up({"email": unique_email("py-mfa"),
                                  "password": PASSWORD}).user.id
        enrolled = client.mfa.enroll({"factor_type": "phone", "phone": f"+{FACTOR_PHONE}",
                                      "friendly_name": "mobile"})
        assert (enrolled.type, enrolled.phone, enrolled.totp) == (
            "phone", f"+{FACTOR_PHONE}", None)
        assert twilio.received == []
        challenge = client.mfa.challenge({"factor_id": enrolled.id})
        assert challenge.factor_type == "phone"
        code = code_of(twilio.last)
        assert twilio.last.text == (
            f"Body=Your+code+is+{code}&Channel=sms&From=MG123&To=%2B{FACTOR_PHONE}")
        with pytest.raises(AuthApiError) as refused:
            client.mfa.verify({"factor_id": enrolled.id, "challenge_id": challenge.id,
                               "code": wrong(code)})
        assert _api_error(refused) == (422, "mfa_verification_failed")
        verified = client.mfa.verify({"factor_id": enrolled.id, "challenge_id": challenge.id,
                                      "code": code})
        assert verified_claims(verified.access_token)["aal"] == "aal2"
        assert _methods(verified.access_token) == ["mfa/phone", "password"]
        assert _aal(client) == ("aal2", "aal2")
        assert [f.id for f in client.mfa.list_factors().phone] == [enrolled.id]
    finally:
        client.close()
    # The rows, read through the test app on the same database.
    factor = _factor(app, enrolled.id)
    assert (factor.status.value, factor.phone) == ("verified", FACTOR_PHONE)
    assert set(_sessions(app, user_id).values()) == {("aal2", enrolled.id)}
    assert [log_row(entry)[:3] for entry in sms_log(app)] == [("mfa", FACTOR_PHONE, "sms")]
