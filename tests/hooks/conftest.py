"""Helpers for the hooks core tests: an app with one hook configured, and calling
``hooks.invoke`` inside its app context as a service would."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from gotrue_web.errors import GoTrueError
from gotrue_web.extensions import db
from gotrue_web.services import hooks
from gotrue_web.settings import HookConfig
from tests.support.fake_hooks import SECRET


@pytest.fixture
def hook_app(make_app):
    """``hook_app(uri, secrets=(SECRET,), name="send_sms", **overrides)``: an app whose hook
    ``name`` is enabled at ``uri``."""

    def build(uri: str, secrets: tuple[str, ...] = (SECRET,), name: str = "send_sms",
              **overrides):
        return make_app(**{f"hooks.{name}": HookConfig(True, uri, tuple(secrets)),
                           **overrides})

    return build


def call(app, payload: dict | None = None, name: str = "send_sms", **options):
    """Invoke hook ``name`` in an app context of its own (the delivery row is written when the
    context ends, as after a request)."""
    with app.app_context():
        return hooks.invoke(app.extensions["gotrue"], name,
                            {"sms": {"otp": "123456", "phone": "15550001111"}}
                            if payload is None else payload, **options)


def call_error(app, payload: dict | None = None, name: str = "send_sms",
               **options) -> GoTrueError:
    with pytest.raises(GoTrueError) as caught:
        call(app, payload, name, **options)
    return caught.value


class PgSchema:
    """The test run's PostgreSQL schema: ``run(*statements)`` creates hook functions and tables
    in it; ``uri(function)`` is the pg-functions:// URI of one of them."""

    def __init__(self, name: str, app):
        self.name = name
        self._app = app

    def run(self, *statements: str) -> None:
        with self._app.app_context(), db.engine.begin() as connection:
            for statement in statements:
                connection.exec_driver_sql(statement)

    def tables(self) -> set[str]:
        with self._app.app_context(), db.engine.connect() as connection:
            return set(sa.inspect(connection).get_table_names(schema=self.name))

    def uri(self, function: str) -> str:
        return f"pg-functions://postgres/{self.name}/{function}"


@pytest.fixture
def pg_schema(test_database, make_app):
    """PostgreSQL only: elsewhere the test is skipped, saying why. Tables a test makes there
    are dropped after it: the run's schema must keep matching the migrations
    (tests/test_migrations.py compares them)."""
    if test_database.backend != "postgresql":
        pytest.skip("pg-functions:// hooks need PostgreSQL")
    schema = PgSchema(test_database.namespace, make_app())
    before = schema.tables()
    yield schema
    schema.run(*(f'drop table if exists "{schema.name}"."{table}"'
                 for table in schema.tables() - before))
