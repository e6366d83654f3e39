"""A read of the database is not an account takeover (issue: abuse defences, finding 7).

Before this defence refresh_tokens.token held the refresh tokens themselves, and the users
columns and one_time_tokens held GoTrue's SHA-224 of the address and the 6-digit code, which is
the link token and falls to a million guesses in about a second. Each test reads what a sign-in
or an emailed flow stored and tries to use it as an attacker with that read would.
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa

from gotrue_web.models import RefreshToken

from ..conftest import api_for, table_rows
from ..factories import (
    create_user,
    gotrue_hash,
    mail_to,
    one_time_tokens,
    path_of,
    query,
    user_row,
)
from ..support import smtp as smtp_support


def _stored_refresh_tokens(app) -> list[tuple[str, str | None]]:
    return [(row.token, row.parent) for row in table_rows(
        app, sa.select(RefreshToken.token, RefreshToken.parent).order_by(RefreshToken.id))]


def _codes_behind(address: str, stored: set[str]) -> list[str]:
    """The 6-digit codes whose GoTrue hash (or that hash's SHA-256, or the SHA-256 of the code
    itself) is among ``stored``: an offline search of the whole code space."""
    found = []
    for number in range(10 ** 6):
        code = f"{number:06d}"
        gotrue = hashlib.sha224((address + code).encode()).hexdigest()
        if {gotrue, hashlib.sha256(gotrue.encode()).hexdigest(),
                hashlib.sha256(code.encode()).hexdigest()} & stored:
            found.append(code)
    return found


def test_stored_refresh_tokens_do_not_refresh(app, api):
    first = api.session("holder@example.com")
    second = api.refresh(first["refresh_token"]).get_json()

    stored = _stored_refresh_tokens(app)
    presented = {first["refresh_token"], second["refresh_token"]}
    assert len(stored) == 2
    assert not presented & {value for row in stored for value in row}
    for token, parent in stored:
        for value in filter(None, (token, parent)):
            response = api.refresh(value)
            assert response.status_code == 400
            assert response.get_json()["code"] == "refresh_token_not_found"
    # The token the client holds still works, and its stored parent is the hashed chain.
    assert stored[1][1] == stored[0][0]
    assert api.refresh(second["refresh_token"]).status_code == 200


def test_a_lost_refresh_answer_still_gets_the_same_token_back(app, api):
    first = api.session()
    second = api.refresh(first["refresh_token"]).get_json()
    again = api.refresh(first["refresh_token"])
    assert again.status_code == 200
    assert again.get_json()["refresh_token"] == second["refresh_token"]
    # Nothing new was stored for it.
    assert len(_stored_refresh_tokens(app)) == 2


def test_stored_link_and_code_values_reverse_to_nothing(mail_app, mail_api, smtp_server):
    email = "reader@example.com"
    user = create_user(mail_api, email, password="password-123")
    assert api_for(mail_app).post("/otp", json={"email": email}).status_code == 200
    message = mail_to(smtp_server, email)
    code, link = smtp_support.code(message), smtp_support.links(message)[0]

    row = user_row(mail_app, user["id"])
    [token_row] = one_time_tokens(mail_app, user["id"]).values()
    stored = {row.recovery_token, token_row.token_hash}
    # Neither is GoTrue's hash (the old link token) nor the link the email carries.
    assert gotrue_hash(email, code) not in stored and query(link)["token"] not in stored
    # The whole code space, tried offline with SHA-224 as before the fix: nothing found.
    assert _codes_behind(email, stored) == []

    attacker = api_for(mail_app)
    for value in stored:
        by_hash = attacker.post("/verify", json={"type": "magiclink", "token_hash": value})
        assert by_hash.status_code == 403 and by_hash.get_json()["code"] == "otp_expired"
        followed = attacker.get(f"/verify?token={value}&type=magiclink")
        assert "error_code=otp_expired" in followed.headers["Location"]
    by_code = attacker.post("/verify", json={"type": "magiclink", "email": email,
                                             "token": row.recovery_token})
    assert by_code.status_code == 403

    # The owner's email still works (a wrong token_hash counts no attempts against the code).
    signed_in = api_for(mail_app).get(path_of(link))
    assert "access_token=" in signed_in.headers["Location"]


def test_the_stored_code_digest_is_keyed_by_the_jwt_secret(make_mail_app, smtp_server):
    """Two servers with different secrets store different values for the same code, so the
    stored value cannot be checked against guesses without the secret."""
    stored = []
    for secret in ("first-secret-of-at-least-32-bytes!", "second-secret-of-at-least-32-bytes"):
        app = make_mail_app(**{"jwt.secret": secret})
        api = api_for(app)
        email = f"{secret[:5]}@example.com"
        assert api.signup(email, "password-123").status_code == 200
        code = smtp_support.code(mail_to(smtp_server, email))
        stored.append((user_row(app, email).confirmation_token,
                       hashlib.sha224((email + code).encode()).hexdigest()))
        verified = api.post("/verify", json={"type": "signup", "email": email, "token": code})
        assert verified.status_code == 200
    assert all(value != gotrue for value, gotrue in stored)
    assert len({value for value, _ in stored}) == 2
