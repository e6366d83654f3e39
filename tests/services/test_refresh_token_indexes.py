"""refresh_tokens keeps only the indexes its statements read (migration 0022): every new token
is a write to each of them, on every refresh and sign-in. The flows that touch tokens (sign-in,
refresh, a retried refresh, logout, a password change, deleting a user) still find their rows
through an index, never by reading the whole table."""

from __future__ import annotations

import sqlalchemy as sa

from gotrue_web.extensions import db
from gotrue_web.models import RefreshToken

from ..conftest import table_rows
from ..factories import statements_sent

KEPT = {"refresh_tokens_parent_idx", "refresh_tokens_session_id_revoked_idx",
        "refresh_tokens_updated_at_idx"}


def _index_names(app) -> set[str]:
    with app.app_context():
        inspector = sa.inspect(db.engine)
        names = {index["name"] for index in inspector.get_indexes("refresh_tokens")}
        unique = {constraint["name"] for constraint in
                  inspector.get_unique_constraints("refresh_tokens")}
    # MariaDB lists the unique token key among the indexes too.
    return names - unique


def test_refresh_tokens_have_no_instance_or_user_index(app):
    assert _index_names(app) == KEPT


def _token_flows(api) -> list[str]:
    """The statements that name refresh_tokens, sent by every flow that reads or writes tokens,
    each flow checked for the answer it must give."""
    signed_in = api.session()
    with statements_sent(api.client.application) as sent:
        login = api.login(signed_in["user"]["email"])
        assert login.status_code == 200
        first = api.refresh(signed_in["refresh_token"])
        assert first.status_code == 200
        # The same token again at once: within the reuse interval, the same child comes back.
        again = api.refresh(signed_in["refresh_token"])
        assert again.status_code == 200
        assert again.get_json()["refresh_token"] == first.get_json()["refresh_token"]
        access = first.get_json()["access_token"]
        assert api.post("/logout?scope=others", token=access).status_code == 204
        changed = api.put("/user", token=access, json={"password": "another-password-456"})
        assert changed.status_code == 200
        assert api.post("/logout?scope=global", token=access).status_code == 204
        other = api.session()
        deleted = api.admin("DELETE", f"/admin/users/{other['user']['id']}")
        assert deleted.status_code == 200
    return [statement for statement in sent if "refresh_tokens" in statement.lower()]


def test_the_token_flows_find_tokens_through_an_index(app, api):
    statements = _token_flows(api)
    assert statements
    # Everything was revoked or deleted: the flows really reached the tokens.
    assert table_rows(app, sa.select(RefreshToken.id).where(RefreshToken.revoked.is_(False))) == []
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            # Small tables: PostgreSQL and MariaDB rightly read them whole, so their plans say
            # nothing about a million rows; SQLite plans by the indexes it has.
            return
        connection = db.session.connection()
        plans = []
        for statement in statements:
            placeholders = (None,) * statement.count("?")
            rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement,
                                              placeholders).all()
            plans.extend(str(row[-1]) for row in rows if "refresh_tokens" in str(row[-1]))
        db.session.rollback()
    assert plans
    assert [plan for plan in plans if plan.startswith("SCAN refresh_tokens")] == []
    for plan in plans:
        assert " USING " in plan, plan
