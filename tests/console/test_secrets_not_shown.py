"""The console never shows a token (issue: abuse defences, finding 7): neither the refresh tokens
and emailed links and codes users hold, nor the hashes stored for them."""

from __future__ import annotations

import sqlalchemy as sa

from gotrue_web.models import OneTimeToken, RefreshToken, User

from ..conftest import table_rows
from ..factories import create_user, unique_email


def test_user_page_and_exports_show_no_token_nor_its_stored_form(console, api, app):
    email = unique_email()
    user = create_user(api, email, password="password-123")
    session = api.login(email).get_json()
    generated = api.admin("POST", "/admin/generate_link",
                          json={"type": "magiclink", "email": email}).get_json()
    # (The 6-digit code is left out: six digits may turn up in any id or time on a page.)
    held = {session["refresh_token"], session["access_token"], generated["hashed_token"]}
    stored = {row[0] for row in table_rows(app, sa.select(RefreshToken.token))}
    stored |= {row[0] for row in table_rows(app, sa.select(OneTimeToken.token_hash))}
    stored |= {row[0] for row in table_rows(app, sa.select(User.recovery_token))} - {""}
    assert len(stored) == 3

    pages = [console.get(f"/console/users/{user['id']}").get_data(as_text=True),
             console.get(f"/console/users/{user['id']}?part=timeline").get_data(as_text=True),
             console.post("/console/users/export.csv").get_data(as_text=True),
             console.post("/console/users/export.json").get_data(as_text=True)]

    assert email in pages[0] and email in pages[2]
    for page in pages:
        assert [value for value in held | stored if value in page] == []
