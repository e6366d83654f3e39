"""GET /user and PUT /user (contract sections 2, 3, 4 and 12)."""

from __future__ import annotations

import base64
import json
import uuid
import warnings
from datetime import datetime, timedelta, timezone

import jwt
import jwt.warnings
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import rsa

from gotrue_web.extensions import db
from gotrue_web.models import (
    AAL,
    AMRClaim,
    FactorStatus,
    OneTimeToken,
    OneTimeTokenType,
    RefreshToken,
    Session,
    User,
)

from ..conftest import api_for, make_jwt, table_rows
from ..factories import (
    add_factor,
    audit_actions,
    refresh_token_hash,
    statements_sent,
    token_hash,
    user_row,
    verified_claims,
)
from ..support import smtp as smtp_support


def _execute(app, statement) -> None:
    with app.app_context():
        db.session.execute(statement)
        db.session.commit()


# --- GET /user --------------------------------------------------------------------------------


def test_get_user_returns_the_user_json(api):
    session = api.session("me@example.com")
    response = api.get("/user", token=session["access_token"])
    assert response.status_code == 200
    assert response.get_json() == session["user"]
    assert list(response.get_json()) == list(session["user"])


def test_get_user_is_one_query(app, api):
    session = api.session("onequery@example.com")
    add_factor(app, session["user"]["id"], status=FactorStatus.unverified)
    # The hot path runs its statement on the driver's cursor (driver_sql); statements_sent
    # listens there as well as to SQLAlchemy.
    with statements_sent(app) as sent:
        response = api.get("/user", token=session["access_token"])
    statements = [s for s in sent if not s.lstrip().upper().startswith(
        ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"))]
    assert response.status_code == 200
    assert [f["status"] for f in response.get_json()["factors"]] == ["unverified"]
    assert len(statements) == 1, statements
    sql = statements[0].lower()
    for table in ("users", "sessions", "identities", "mfa_factors"):
        assert table in sql


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer   ", "Basic dXNlcjpwYXNz",
                                    "bearer"])
def test_missing_bearer_is_401(client, header):
    headers = {"X-Supabase-Api-Version": "2024-01-01"}
    if header is not None:
        headers["Authorization"] = header
    response = client.get("/user", headers=headers)
    assert response.status_code == 401
    assert response.get_json()["code"] == "no_authorization"
    assert response.headers["x-sb-error-code"] == "no_authorization"


def _b64(data) -> str:
    raw = json.dumps(data).encode() if isinstance(data, dict) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _hs512(claims: dict) -> str:
    with warnings.catch_warnings():
        # The right secret with a disallowed algorithm; PyJWT warns that it is short for SHA-512.
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        return make_jwt(claims, algorithm="HS512")


BAD_TOKEN_NAMES = ["wrong-secret", "alg-none", "alg-none-signed-part", "expired",
                   "unknown-rsa-key", "unknown-kid-rsa", "hs512", "tampered", "garbage",
                   "one-part", "non-object-claims", "bad-session-id"]


def _bad_tokens(claims: dict) -> dict[str, str]:
    expired = {**claims, "exp": int(datetime.now(timezone.utc).timestamp()) - 10}
    other_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {
        "wrong-secret": make_jwt(claims, secret="another-secret-that-is-long-enough-xx"),
        "alg-none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.",
        "alg-none-signed-part": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.abc",
        "expired": make_jwt(expired),
        "unknown-rsa-key": jwt.encode(claims, other_rsa, algorithm="RS256"),
        "unknown-kid-rsa": jwt.encode(claims, other_rsa, algorithm="RS256",
                                      headers={"kid": "nope"}),
        "hs512": _hs512(claims),
        "tampered": make_jwt(claims)[:-4] + "AAAA",
        "garbage": "abc.def.ghi",
        "one-part": "notajwt",
        "non-object-claims": f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64(b'[1,2]')}.x",
        "bad-session-id": make_jwt({**claims, "session_id": "not-a-uuid"}),
    }


@pytest.mark.parametrize("name", BAD_TOKEN_NAMES)
def test_bad_jwt_is_403(api, name):
    session = api.session("jwt@example.com")
    claims = verified_claims(session["access_token"])
    tokens = _bad_tokens(claims)
    assert sorted(tokens) == sorted(BAD_TOKEN_NAMES)
    token = tokens[name]
    response = api.get("/user", token=token)
    assert response.status_code == 403, response.get_data(as_text=True)
    assert response.get_json()["code"] == "bad_jwt"


@pytest.mark.parametrize("sub", ["not-a-uuid", "", "12345678-1234-1234-1234-12345678901g",
                                 None])
def test_non_uuid_sub_is_400(api, sub):
    claims = {"aud": "authenticated", "role": "authenticated",
              "exp": int(datetime.now(timezone.utc).timestamp()) + 60}
    if sub is not None:
        claims["sub"] = sub
    response = api.get("/user", token=make_jwt(claims))
    assert response.status_code == 400
    assert response.get_json()["code"] == "bad_jwt"


def test_non_string_sub_does_not_parse(api):
    token = make_jwt({"sub": 12, "exp": int(datetime.now(timezone.utc).timestamp()) + 60})
    response = api.get("/user", token=token)
    assert response.status_code == 403
    assert response.get_json()["code"] == "bad_jwt"


def test_deleted_user_is_403_user_not_found(api):
    session = api.session("gone@example.com")
    deleted = api.admin("DELETE", f"/admin/users/{session['user']['id']}")
    assert deleted.status_code == 200
    response = api.get("/user", token=session["access_token"])
    assert response.status_code == 403
    assert response.get_json() == {"code": "user_not_found",
                                   "message": "User from sub claim in JWT does not exist"}


def test_logged_out_session_is_403_session_not_found(api):
    session = api.session("out@example.com")
    assert api.post("/logout?scope=local", token=session["access_token"]).status_code == 204
    response = api.get("/user", token=session["access_token"])
    assert response.status_code == 403
    assert response.get_json()["code"] == "session_not_found"


def test_banned_user_is_403_user_banned(api):
    session = api.session("banned@example.com")
    banned = api.admin("PUT", f"/admin/users/{session['user']['id']}",
                       json={"ban_duration": "10h"})
    assert banned.status_code == 200
    response = api.get("/user", token=session["access_token"])
    assert response.status_code == 403
    assert response.get_json() == {"code": "user_banned", "message": "User is banned"}
    lifted = api.admin("PUT", f"/admin/users/{session['user']['id']}",
                       json={"ban_duration": "none"})
    assert lifted.status_code == 200
    assert api.get("/user", token=session["access_token"]).status_code == 200


def test_token_without_session_id_is_accepted(api):
    user = api.session("nosession@example.com")["user"]
    token = make_jwt({"sub": user["id"], "aud": "authenticated", "role": "authenticated",
                      "exp": int(datetime.now(timezone.utc).timestamp()) + 60})
    response = api.get("/user", token=token)
    assert response.status_code == 200
    assert response.get_json()["id"] == user["id"]


def test_x_jwt_aud_must_match_the_token(api):
    session = api.session("aud@example.com")
    mismatch = api.get("/user", token=session["access_token"],
                       headers={"X-JWT-AUD": "someone-else"})
    assert mismatch.status_code == 400
    assert mismatch.get_json() == {"code": "validation_failed",
                                   "message": "Token audience doesn't match request audience"}
    match = api.get("/user", token=session["access_token"],
                    headers={"X-JWT-AUD": "authenticated"})
    assert match.status_code == 200


@pytest.mark.parametrize("aud", [None, "", []])
def test_token_without_an_audience_is_400(api, aud):
    user = api.session("noaud@example.com")["user"]
    claims = {"sub": user["id"], "exp": int(datetime.now(timezone.utc).timestamp()) + 60}
    if aud is not None:
        claims["aud"] = aud
    response = api.get("/user", token=make_jwt(claims))
    assert response.status_code == 400
    assert response.get_json()["code"] == "validation_failed"


def test_list_audience_claim_is_compared_by_its_first_entry(api):
    user = api.session("listaud@example.com")["user"]
    token = make_jwt({"sub": user["id"], "aud": ["authenticated"],
                      "exp": int(datetime.now(timezone.utc).timestamp()) + 60})
    response = api.get("/user", token=token, headers={"X-JWT-AUD": "authenticated"})
    assert response.status_code == 200


# --- PUT /user: metadata ----------------------------------------------------------------------


def test_data_is_merged_and_null_deletes(app, api):
    session = api.session("meta@example.com")
    token = session["access_token"]
    first = api.put("/user", token=token, json={"data": {"a": 1, "b": 2, "nested": {"x": 1}}})
    assert first.status_code == 200
    second = api.put("/user", token=token, json={"data": {"b": None, "c": 3,
                                                          "nested": {"y": 2}}})
    assert second.status_code == 200
    metadata = second.get_json()["user_metadata"]
    assert metadata["a"] == 1 and metadata["c"] == 3 and "b" not in metadata
    assert metadata["nested"] == {"y": 2}
    assert metadata["sub"] == session["user"]["id"]
    assert user_row(app, session["user"]["id"]).raw_user_meta_data == metadata
    assert audit_actions(app).count("user_modified") == 2


def test_metadata_numbers_come_back_as_written(api):
    """Integers beyond 64 bits and small floats survive the database and the JSON writer
    (orjson takes 64-bit integers only: json writes the rest), on the update's answer, GET
    /user and a refresh."""
    session = api.session("numbers@example.com")
    data = {"big": 12345678901234567890123, "small": 1.5e-7, "text": "naïve ✓"}
    updated = api.put("/user", token=session["access_token"], json={"data": data})
    assert updated.status_code == 200
    read = api.get("/user", token=session["access_token"])
    refreshed = api.post("/token?grant_type=refresh_token",
                         json={"refresh_token": session["refresh_token"]})
    assert refreshed.status_code == 200
    for answer in (updated.get_json(), read.get_json(), refreshed.get_json()["user"]):
        assert {key: answer["user_metadata"][key] for key in data} == data
    assert b"12345678901234567890123" in read.data


@pytest.mark.parametrize("body", [b"", b"[]", b'{"data": [1]}', b'{"password": 5}'])
def test_put_user_bad_body_is_bad_json(api, body):
    token = api.session("badbody@example.com")["access_token"]
    response = api.put("/user", token=token, data=body)
    assert response.status_code == 400
    assert response.get_json()["code"] == "bad_json"


def test_app_metadata_from_a_normal_user_is_403(app, api):
    session = api.session("plain@example.com")
    response = api.put("/user", token=session["access_token"],
                       json={"app_metadata": {"role": "superuser"}, "data": {"x": 1}})
    assert response.status_code == 403
    assert response.get_json()["code"] == "not_admin"
    row = user_row(app, session["user"]["id"])
    assert row.raw_app_meta_data == {"provider": "email", "providers": ["email"]}
    assert "x" not in row.raw_user_meta_data


def test_app_metadata_from_a_legacy_admin_user(app, api):
    session = api.session("legacy-admin@example.com")
    promoted = api.admin("PUT", f"/admin/users/{session['user']['id']}", json={"role": "admin"})
    assert promoted.status_code == 200
    response = api.put("/user", token=session["access_token"],
                       json={"app_metadata": {"plan": "gold"}})
    assert response.status_code == 200
    assert response.get_json()["app_metadata"] == {"provider": "email", "providers": ["email"],
                                                   "plan": "gold"}


# --- PUT /user: password ----------------------------------------------------------------------


def test_password_change_kills_other_sessions_and_pending_tokens(app, api):
    current = api.session("pw@example.com", "old-password")
    other = api.login("pw@example.com", "old-password").get_json()
    user_id = current["user"]["id"]
    now = datetime.now(timezone.utc)
    _execute(app, sa.update(User).where(User.id == uuid.UUID(user_id)).values(
        recovery_token="pending-recovery-hash", recovery_sent_at=now))
    with app.app_context():
        db.session.add(OneTimeToken(user_id=uuid.UUID(user_id),
                                    token_type=OneTimeTokenType.recovery_token,
                                    token_hash="pending-recovery-hash",
                                    relates_to="pw@example.com", created_at=now,
                                    updated_at=now))
        db.session.commit()

    response = api.put("/user", token=current["access_token"], json={"password": "new-password"})
    assert response.status_code == 200

    current_session = uuid.UUID(verified_claims(current["access_token"])["session_id"])
    assert [row.id for row in table_rows(app, sa.select(Session.id))] == [current_session]
    assert api.get("/user", token=other["access_token"]).get_json()["code"] == \
        "session_not_found"
    assert api.refresh(other["refresh_token"]).get_json()["code"] == "refresh_token_not_found"
    assert api.refresh(current["refresh_token"]).status_code == 200
    row = user_row(app, user_id)
    assert row.recovery_token == ""
    assert table_rows(app, sa.select(OneTimeToken.id)) == []
    assert api.login("pw@example.com", "old-password").status_code == 400
    assert api.login("pw@example.com", "new-password").status_code == 200
    assert "user_updated_password" in audit_actions(app)


@pytest.mark.parametrize("password, status, code", [
    ("abc", 422, "weak_password"),
    ("", 422, "weak_password"),
    ("x" * 73, 400, "validation_failed"),
])
def test_password_strength_on_update(app, api, password, status, code):
    session = api.session("strength@example.com", "old-password")
    before = user_row(app, session["user"]["id"]).encrypted_password
    response = api.put("/user", token=session["access_token"], json={"password": password})
    assert response.status_code == status
    assert response.get_json()["code"] == code
    assert user_row(app, session["user"]["id"]).encrypted_password == before


def test_same_password_is_422(api):
    session = api.session("same@example.com", "the-password")
    response = api.put("/user", token=session["access_token"], json={"password": "the-password"})
    assert response.status_code == 422
    assert response.get_json() == {"code": "same_password", "message":
                                   "New password should be different from the old password."}


def test_current_password_required(make_app):
    app = make_app(**{"mailer.autoconfirm": True,
                      "security.update_password_require_current_password": True})
    client = api_for(app)
    session = client.session("current@example.com", "old-password")
    token = session["access_token"]
    missing = client.put("/user", token=token, json={"password": "new-password"})
    assert missing.status_code == 400
    assert missing.get_json()["code"] == "current_password_required"
    wrong = client.put("/user", token=token, json={"password": "new-password",
                                                   "current_password": "not-it"})
    assert wrong.status_code == 400
    assert wrong.get_json()["code"] == "current_password_invalid"
    right = client.put("/user", token=token, json={"password": "new-password",
                                                   "current_password": "old-password"})
    assert right.status_code == 200
    assert client.login("current@example.com", "new-password").status_code == 200


def test_current_password_not_required_in_a_recovery_session(make_app):
    app = make_app(**{"mailer.autoconfirm": True,
                      "security.update_password_require_current_password": True})
    client = api_for(app)
    session = client.session("recovering@example.com", "forgotten-password")
    _execute(app, sa.update(AMRClaim).values(authentication_method="otp"))
    response = client.put("/user", token=session["access_token"],
                          json={"password": "brand-new-password"})
    assert response.status_code == 200


def test_reauthentication_nonce_for_old_sessions(make_app):
    app = make_app(**{"mailer.autoconfirm": True,
                      "security.update_password_require_reauthentication": True})
    rt = app.extensions["gotrue"]
    client = api_for(app)
    start = datetime.now(timezone.utc)
    rt.clock = lambda: start
    session = client.session("reauth@example.com", "old-password")
    token = session["access_token"]
    fresh = client.put("/user", token=token, json={"password": "fresh-password"})
    assert fresh.status_code == 200

    later = start + timedelta(hours=25)
    rt.clock = lambda: later
    missing = client.put("/user", token=token, json={"password": "newer-password"})
    assert missing.status_code == 400
    assert missing.get_json()["code"] == "reauthentication_needed"
    no_code_sent = client.put("/user", token=token, json={"password": "newer-password",
                                                          "nonce": "123456"})
    assert no_code_sent.status_code == 422
    assert no_code_sent.get_json()["code"] == "reauthentication_not_valid"

    stored = token_hash("reauth@example.com", "123456")
    _execute(app, sa.update(User).values(reauthentication_token=stored,
                                         reauthentication_sent_at=later))
    wrong = client.put("/user", token=token, json={"password": "newer-password",
                                                   "nonce": "654321"})
    assert wrong.status_code == 422
    assert wrong.get_json()["code"] == "reauthentication_not_valid"
    right = client.put("/user", token=token, json={"password": "newer-password",
                                                   "nonce": "123456"})
    assert right.status_code == 200
    row = table_rows(app, sa.select(User.reauthentication_token))[0][0]
    assert row == ""


def test_password_change_needs_aal2_when_mfa_is_verified(app, api):
    session = api.session("mfa@example.com", "old-password")
    add_factor(app, session["user"]["id"])
    response = api.put("/user", token=session["access_token"], json={"password": "new-password"})
    assert response.status_code == 401
    assert response.get_json()["code"] == "insufficient_aal"
    assert api.put("/user", token=session["access_token"],
                   json={"data": {"ok": True}}).status_code == 200
    _execute(app, sa.update(Session).values(aal=AAL.aal2))
    assert api.put("/user", token=session["access_token"],
                   json={"password": "new-password"}).status_code == 200


def test_anonymous_user_cannot_set_only_a_password(make_app):
    app = make_app(**{"external.anonymous_users_enabled": True})
    client = api_for(app)
    session = client.post("/signup", json={}).get_json()
    response = client.put("/user", token=session["access_token"],
                          json={"password": "password-123"})
    assert response.status_code == 422
    assert response.get_json()["code"] == "validation_failed"


# --- PUT /user: email and phone ---------------------------------------------------------------


def test_email_change_is_mailed_and_pending(make_mail_app, smtp_server):
    app = make_mail_app(**{"mailer.autoconfirm": True})
    client = api_for(app)
    session = client.session("before@example.com")
    response = client.put("/user", token=session["access_token"],
                          json={"email": "After@Example.com"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["email"] == "before@example.com"
    assert body["new_email"] == "after@example.com"
    assert "email_change_sent_at" in body
    [mail] = smtp_server.wait_for("after@example.com")
    code = smtp_support.code(mail)
    row = user_row(app, session["user"]["id"])
    assert row.email_change == "after@example.com"
    assert row.email_change_token_new == token_hash("after@example.com", code)


def test_email_change_to_a_taken_address_is_422(app, api):
    api.session("owner@example.com")
    session = api.session("wanter@example.com")
    response = api.put("/user", token=session["access_token"],
                       json={"email": "OWNER@example.com"})
    assert response.status_code == 422
    assert response.get_json()["code"] == "email_exists"


@pytest.mark.parametrize("body", [{"email": "not-an-email"}, {"phone": "12ab"},
                                  {"phone": "+15555550100", "channel": "pigeon"}])
def test_bad_address_on_update_is_400(api, body):
    session = api.session("addr@example.com")
    response = api.put("/user", token=session["access_token"], json=body)
    assert response.status_code == 400
    assert response.get_json()["code"] == "validation_failed"


def test_anonymous_user_adds_an_email_under_autoconfirm(make_app):
    app = make_app(**{"mailer.autoconfirm": True, "external.anonymous_users_enabled": True})
    client = api_for(app)
    session = client.post("/signup", json={}).get_json()
    response = client.put("/user", token=session["access_token"],
                          json={"email": "upgraded@example.com"})
    assert response.status_code == 200
    user = response.get_json()
    assert user["email"] == "upgraded@example.com"
    assert user["is_anonymous"] is False
    assert "email_confirmed_at" in user
    assert [i["provider"] for i in user["identities"]] == ["email"]
    assert user["app_metadata"] == {"provider": "email", "providers": ["email"]}
    password = client.put("/user", token=session["access_token"],
                          json={"password": "now-permanent"})
    assert password.status_code == 200
    assert client.login("upgraded@example.com", "now-permanent").status_code == 200


def test_phone_change_with_sms_autoconfirm(make_app):
    app = make_app(**{"mailer.autoconfirm": True, "sms.autoconfirm": True,
                      "external.phone_enabled": True})
    client = api_for(app)
    session = client.session("phoneuser@example.com")
    response = client.put("/user", token=session["access_token"],
                          json={"phone": "+1 555 555 0199"})
    assert response.status_code == 200
    user = response.get_json()
    assert user["phone"] == "15555550199"
    assert "phone_confirmed_at" in user
    assert sorted(i["provider"] for i in user["identities"]) == ["email", "phone"]


def test_phone_change_without_an_sms_provider_changes_nothing(app, api):
    session = api.session("nosms@example.com")
    response = api.put("/user", token=session["access_token"],
                       json={"phone": "+15555550198", "data": {"x": 1}})
    # The code cannot be texted (with a provider: tests/api/phone/test_phone_change.py).
    assert response.status_code == 500
    assert response.get_json() == {"code": "unexpected_failure",
                                   "message": "Unable to get SMS provider"}
    row = user_row(app, session["user"]["id"])
    assert row.phone is None and "x" not in row.raw_user_meta_data


def test_refresh_tokens_of_the_current_session_survive_a_data_update(app, api):
    session = api.session("survivor@example.com")
    api.put("/user", token=session["access_token"], json={"data": {"k": "v"}})
    assert table_rows(app, sa.select(RefreshToken.token)) == [
        (refresh_token_hash(session["refresh_token"]),)]
