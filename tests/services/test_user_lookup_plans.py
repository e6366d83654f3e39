"""The sign-in lookups find a user through an index on the email or phone, never through the
instance_id index, which matches every user (all rows hold the nil instance). SQLite keeps no
statistics unless ANALYZE runs and took that index, so each sign-in, signup and code check read
the whole users table."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from gotrue_web.extensions import db
from gotrue_web.models import User
from gotrue_web.services import users
from gotrue_web.services.hot_paths import reads

AUD = "authenticated"


def _plan_of(app, lookup) -> str:
    """The database's plans for the statements ``lookup`` sends that read users, as text."""
    statements: list = []

    def record(_conn, _cursor, statement, parameters, _context, _many):
        statements.append((statement, parameters))

    with app.app_context():
        # Removed at once: the test process's apps share the engine (tests/conftest.py).
        sa.event.listen(db.engine, "before_cursor_execute", record)
        try:
            lookup()
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", record)
        explain = "EXPLAIN QUERY PLAN " if db.engine.dialect.name == "sqlite" else "EXPLAIN "
        connection = db.session.connection()
        rows = [row for sql, parameters in statements if "FROM users" in sql
                for row in connection.exec_driver_sql(explain + sql, parameters).all()]
        db.session.rollback()
    assert rows
    return "\n".join(" ".join(str(value) for value in row) for row in rows)


LOOKUPS = {
    "find_by_email": lambda: users.find_by_email("ada@example.com", AUD),
    "find_by_phone": lambda: users.find_by_phone("15550001111", AUD),
    "signup_lookup": lambda: users.signup_lookup(User.email, "ada@example.com", AUD),
    # Run through the session here (the grant runs it on the driver) so that the listener sees it.
    "password grant": lambda: db.session.execute(
        reads.SIGN_IN_BY["email"].statement, {"value": "ada@example.com", "aud": AUD}).all(),
}


@pytest.mark.parametrize("name", LOOKUPS)
def test_user_lookups_do_not_walk_the_instance_index(app, name):
    plan = _plan_of(app, LOOKUPS[name])
    assert "users_instance_id_idx" not in plan
    with app.app_context():
        dialect = db.engine.dialect.name
    if dialect == "sqlite":
        column = "phone" if name == "find_by_phone" else "email"
        # users_email_partial_key, or the unique phone constraint's own index.
        assert "SEARCH users USING " in plan and f"({column}=?)" in plan


def test_a_user_in_another_instance_is_not_found(app):
    """The instance test still filters: a row outside the nil instance is no one's sign-in."""
    with app.app_context():
        db.session.execute(sa.insert(User.__table__).values(
            instance_id=uuid.uuid4(), id=uuid.uuid4(), aud=AUD,
            email="other-instance@example.com", is_sso_user=False, is_anonymous=False))
        db.session.commit()
        assert users.find_by_email("other-instance@example.com", AUD) is None
        assert reads.read_sign_in_user("email", "other-instance@example.com", AUD) is None
        # Not this instance's user, but the address is held: a signup may not take it.
        assert users.signup_lookup(User.email, "other-instance@example.com", AUD) == (None, True)
