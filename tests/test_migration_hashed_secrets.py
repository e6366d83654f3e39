"""Migration 0006_hashed_secrets on a database that 0005 filled the old way: plain refresh tokens,
and GoTrue's SHA-224 of address and code as link token and stored code.

After the upgrade nothing stored is a working token, yet what clients already hold keeps
working: refresh tokens (with rotation and reuse detection across the hashed chain), emailed
links and emailed codes, PKCE ones included.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timezone

import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from gotrue_web import create_app
from gotrue_web.extensions import db
from gotrue_web.models import OneTimeToken, OneTimeTokenType, RefreshToken, Session, User

from .conftest import api_for
from .factories import make_user, refresh_token_hash, token_hash
from .test_migrations import throwaway_settings  # noqa: F401 - the fixture

LINK_EMAIL, CODE_EMAIL, PKCE_EMAIL = ("link@example.com", "code@example.com",
                                      "pkce@example.com")
CODE = "123456"


def _gotrue_hash(address: str, code: str) -> str:
    return hashlib.sha224((address + code).encode()).hexdigest()


def _pending_recovery(app, email: str, stored: str) -> uuid.UUID:
    """A confirmed user with a recovery (magic link) token stored as GoTrue stores it."""
    now = datetime.now(timezone.utc)
    user_id = make_user(app, email, password="password-123", recovery_token=stored,
                        recovery_sent_at=now)
    with app.app_context():
        db.session.add(OneTimeToken(
            id=uuid.uuid4(), user_id=user_id, token_type=OneTimeTokenType.recovery_token,
            token_hash=stored, relates_to=email, created_at=now, updated_at=now))
        db.session.commit()
    return user_id


def _session_with_chain(app, email: str, tokens: list[str]) -> uuid.UUID:
    """A session whose refresh tokens are ``tokens`` in order, plain, only the last live."""
    now = datetime.now(timezone.utc)
    user_id = make_user(app, email, password="password-123")
    session_id = uuid.uuid4()
    with app.app_context():
        db.session.execute(sa.insert(Session.__table__).values(
            id=session_id, user_id=user_id, created_at=now, updated_at=now))
        for index, token in enumerate(tokens):
            # Only the columns revision 0005 has.
            db.session.execute(sa.insert(RefreshToken.__table__).values(
                token=token, parent=tokens[index - 1] if index else None,
                user_id=str(user_id), revoked=index < len(tokens) - 1, created_at=now,
                updated_at=now, session_id=session_id))
        db.session.commit()
    return session_id


def _stored(app, statement) -> list:
    with app.app_context():
        rows = db.session.execute(statement).all()
        db.session.remove()
    return rows


def test_upgrade_hashes_what_0005_stored_and_keeps_it_working(throwaway_settings):  # noqa: F811
    app = create_app(throwaway_settings)
    app.config["TESTING"] = True
    with app.app_context():
        upgrade(revision="0005_code_attempts")
    link_token = _gotrue_hash(LINK_EMAIL, "654321")
    _pending_recovery(app, LINK_EMAIL, link_token)
    code_user = _pending_recovery(app, CODE_EMAIL, _gotrue_hash(CODE_EMAIL, CODE))
    pkce_token = "pkce_" + _gotrue_hash(PKCE_EMAIL, "111111")
    _pending_recovery(app, PKCE_EMAIL, pkce_token)
    first, second = "aaaaaaaaaaaa", "bbbbbbbbbbbb"
    session_id = _session_with_chain(app, "refresh@example.com", [first, second])

    with app.app_context():
        upgrade()
        db.engine.dispose()

    # Nothing stored is what a client holds.
    chain = _stored(app, sa.select(RefreshToken.token, RefreshToken.parent)
                    .where(RefreshToken.session_id == session_id).order_by(RefreshToken.id))
    assert [tuple(row) for row in chain] == [
        (refresh_token_hash(first), None),
        (refresh_token_hash(second), refresh_token_hash(first))]
    link_rows = _stored(app, sa.select(OneTimeToken.token_hash).order_by(OneTimeToken.relates_to))
    assert sorted(row[0] for row in link_rows) == sorted([
        hashlib.sha256(link_token.encode()).hexdigest(),
        hashlib.sha256(_gotrue_hash(CODE_EMAIL, CODE).encode()).hexdigest(),
        "pkce_" + hashlib.sha256(pkce_token.removeprefix("pkce_").encode()).hexdigest()])
    [(stored_code,)] = _stored(app, sa.select(User.recovery_token).where(User.id == code_user))
    assert stored_code == token_hash(CODE_EMAIL, CODE)

    api = api_for(app)
    # The refresh token the client holds rotates; the stored hash does not.
    assert api.refresh(refresh_token_hash(second)).get_json()["code"] == \
        "refresh_token_not_found"
    rotated = api.refresh(second)
    assert rotated.status_code == 200, rotated.get_json()
    third = rotated.get_json()["refresh_token"]
    # Reuse detection follows the hashed parent chain: the old token revokes the session.
    reused = api.refresh(first)
    assert reused.get_json()["code"] == "refresh_token_already_used"
    assert api.refresh(third).get_json()["code"] == "refresh_token_already_used"

    # Links mailed before the upgrade work, once; a PKCE one still needs its verifier.
    assert api.post("/verify", json={"type": "magiclink", "token_hash": link_token}
                    ).status_code == 200
    assert api.post("/verify", json={"type": "magiclink", "token_hash": link_token}
                    ).status_code == 403
    refused = api.post("/verify", json={"type": "magiclink", "token_hash": pkce_token})
    assert refused.status_code == 400 and refused.get_json()["code"] == "bad_code_verifier"
    # A code mailed before the upgrade works.
    by_code = api.post("/verify", json={"type": "magiclink", "email": CODE_EMAIL,
                                        "token": CODE})
    assert by_code.status_code == 200, by_code.get_json()

    with app.app_context():
        db.engine.dispose()


def test_downgrade_forgets_the_hashes_rather_than_keep_them_as_tokens(throwaway_settings):  # noqa: F811,E501
    app = create_app(throwaway_settings)
    app.config["TESTING"] = True
    with app.app_context():
        upgrade()
        db.engine.dispose()
    api = api_for(app)
    make_user(app, "down@example.com", password="password-123")
    assert api.login("down@example.com").status_code == 200

    with app.app_context():
        downgrade(revision="0005_code_attempts")
        db.engine.dispose()

    # Code before 0006 compares plain values: a stored hash would have become a token.
    assert _stored(app, sa.select(sa.func.count()).select_from(sa.table("refresh_tokens"))
                   ) == [(0,)]
    with app.app_context():
        upgrade()
        db.engine.dispose()
