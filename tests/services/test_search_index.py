"""``flask --app wsgi search-index``: the pg_trgm indexes migration 0012 could not build (the
role could not create the extension) are built once an administrator has installed it."""

from __future__ import annotations

import secrets
import threading
import time

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from gotrue_web import create_app
from gotrue_web.console.operations.user_text_search import (
    NO_INDEX,
    TOO_SLOW,
    SearchTooSlow,
    search_time_limit,
)
from gotrue_web.extensions import db

from ..conftest import BASE_SETTINGS
from ..test_migrations import autogenerate_diff

NAMES = ("users_email_trgm_idx", "users_name_trgm_idx")


def test_other_databases_have_nothing_to_build(app, test_database):
    if test_database.backend == "postgresql":
        pytest.skip("PostgreSQL builds the indexes (below)")
    result = app.test_cli_runner().invoke(args=["search-index"])
    assert result.exit_code == 0, result.output
    assert result.output == ("substring search index: nothing to build: on this database the "
                             "substring search index comes with migration 0012\n")


@pytest.fixture
def database_without_pg_trgm(test_database):
    """A database of its own (the run's has pg_trgm) and a role that owns the auth schema in it
    but may not create extensions there, as a managed PostgreSQL's auth role may not."""
    if test_database.backend != "postgresql":
        pytest.skip("pg_trgm is a PostgreSQL extension")
    suffix = secrets.token_hex(4)
    name, role = f"trgm_later_{suffix}", f"auth_owner_{suffix}"
    admin = sa.create_engine(test_database.admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        connection.execute(sa.text(f'CREATE ROLE "{role}" LOGIN'))
    url = sa.engine.make_url(test_database.admin_url).set(database=name)
    database_admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with database_admin.connect() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA auth AUTHORIZATION "{role}"'))
    try:
        yield url.set(username=role, password=None), database_admin
    finally:
        database_admin.dispose()
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()


def _trigram_indexes(database_admin) -> dict[str, bool]:
    with database_admin.connect() as connection:
        return dict(connection.execute(sa.text(
            "SELECT c.relname, i.indisvalid FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = 'auth.users'::regclass AND c.relname LIKE '%trgm%'")).all())


def _migrated_app(role_url):
    """The app on that database as the role, after flask db upgrade (which warned)."""
    app = create_app(BASE_SETTINGS.replace(**{
        "db.url": role_url.render_as_string(hide_password=False), "db.namespace": "auth"}))
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return app


def _built_both(result) -> None:
    assert result.exit_code == 0, result.output
    assert result.output == ("substring search index: built users_email_trgm_idx; "
                             "built users_name_trgm_idx\n")


def test_indexes_built_once_the_extension_is_installed(database_without_pg_trgm):
    role_url, database_admin = database_without_pg_trgm
    app = _migrated_app(role_url)
    assert _trigram_indexes(database_admin) == {}
    missing = {diff[1].name for diff in autogenerate_diff(app)}
    assert missing == set(NAMES)
    runner = app.test_cli_runner()

    # The role may not create the extension: the command says who must, and builds nothing.
    result = runner.invoke(args=["search-index"])
    assert result.exit_code == 1
    assert "pg_trgm is not installed and this role may not create it" in result.output
    assert "CREATE EXTENSION pg_trgm SCHEMA public;" in result.output
    assert _trigram_indexes(database_admin) == {}

    with database_admin.connect() as connection:
        connection.execute(sa.text("CREATE EXTENSION pg_trgm SCHEMA public"))
    _built_both(runner.invoke(args=["search-index"]))
    assert _trigram_indexes(database_admin) == {name: True for name in NAMES}
    # The schema is now what the models declare (the search's statements are written for it).
    assert autogenerate_diff(app) == []

    result = runner.invoke(args=["search-index"])
    assert result.exit_code == 0, result.output
    assert result.output == ("substring search index: users_email_trgm_idx already there; "
                             "users_name_trgm_idx already there\n")

    # A concurrent build that failed (cancelled, say) leaves its index invalid: rebuilt.
    with database_admin.connect() as connection:
        connection.execute(sa.text(
            "UPDATE pg_index SET indisvalid = false "
            "WHERE indexrelid = 'auth.users_email_trgm_idx'::regclass"))
    assert _trigram_indexes(database_admin)["users_email_trgm_idx"] is False
    result = runner.invoke(args=["search-index"])
    assert result.exit_code == 0, result.output
    assert result.output == ("substring search index: rebuilt users_email_trgm_idx (an earlier "
                             "build had failed); users_name_trgm_idx already there\n")
    assert _trigram_indexes(database_admin) == {name: True for name in NAMES}
    with app.app_context():
        db.engine.dispose()


def test_the_role_creates_the_extension_when_it_may(database_without_pg_trgm):
    """pg_trgm is a trusted extension: a role with CREATE on the database installs it itself."""
    role_url, database_admin = database_without_pg_trgm
    app = _migrated_app(role_url)
    assert _trigram_indexes(database_admin) == {}
    with database_admin.connect() as connection:
        connection.execute(sa.text(
            f'GRANT CREATE ON DATABASE "{role_url.database}" TO "{role_url.username}"'))
    _built_both(app.test_cli_runner().invoke(args=["search-index"]))
    assert _trigram_indexes(database_admin) == {name: True for name in NAMES}
    with app.app_context():
        db.engine.dispose()


def _command_waiting_on(app, database_admin, statement: str):
    """The command started in a thread, once PostgreSQL shows it waiting for a lock in a
    statement starting with ``statement``: (thread, its results)."""
    results: list = []
    command = threading.Thread(
        target=lambda: results.append(app.test_cli_runner().invoke(args=["search-index"])))
    command.start()
    deadline = time.monotonic() + 30
    with database_admin.connect() as connection:
        while not connection.execute(sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = :name "
                "AND wait_event_type = 'Lock' AND query LIKE :statement"),
                {"name": database_admin.url.database, "statement": statement + "%"}).scalar():
            assert time.monotonic() < deadline, f"the command never waited in {statement}"
            time.sleep(0.05)
    return command, results


def _command_built_both(command: threading.Thread, results: list, database_admin) -> None:
    command.join(30)
    assert not command.is_alive()
    _built_both(results[0])
    assert _trigram_indexes(database_admin) == {name: True for name in NAMES}


def test_a_build_waits_for_a_long_transaction_past_the_lock_timeout(database_without_pg_trgm):
    """CREATE INDEX CONCURRENTLY waits for the transactions already running; the connection's
    5 s lock_timeout is lifted for the build (and put back after), so a long one is waited
    out instead of leaving an invalid index."""
    role_url, database_admin = database_without_pg_trgm
    app = _migrated_app(role_url)
    with database_admin.connect() as connection:
        connection.execute(sa.text("CREATE EXTENSION pg_trgm SCHEMA public"))
    holder = sa.create_engine(database_admin.url)
    try:
        with holder.connect() as transaction:
            # A write holds a lock the build must wait out (a reader does not).
            transaction.execute(sa.text("UPDATE auth.users SET email = email WHERE false"))
            building, results = _command_waiting_on(app, database_admin, "CREATE INDEX")
            time.sleep(5.5)
            assert building.is_alive() and results == []
            transaction.commit()
    finally:
        holder.dispose()
    _command_built_both(building, results, database_admin)
    with app.app_context():
        with db.engine.connect() as connection:
            assert connection.execute(sa.text("SHOW lock_timeout")).scalar() == "5s"
        db.engine.dispose()


def test_a_build_the_database_refuses_exits_with_its_reason(database_without_pg_trgm):
    role_url, database_admin = database_without_pg_trgm
    app = _migrated_app(role_url)
    with database_admin.connect() as connection:
        connection.execute(sa.text("CREATE EXTENSION pg_trgm SCHEMA public"))
        # Something else already holds the first index's name in the schema.
        connection.execute(sa.text("CREATE TABLE auth.users_email_trgm_idx (id int)"))
    result = app.test_cli_runner().invoke(args=["search-index"])
    assert result.exit_code == 1
    assert ('building the index failed (relation "users_email_trgm_idx" already exists)'
            in result.output)
    assert "Traceback" not in result.output
    assert _trigram_indexes(database_admin) == {}
    with app.app_context():
        db.engine.dispose()


def _search_past_its_limit(app) -> str:
    with app.app_context():
        with pytest.raises(SearchTooSlow) as raised:
            with search_time_limit(200):
                db.session.execute(sa.text("SELECT pg_sleep(5)")).all()
        db.session.remove()
        db.engine.dispose()
    return str(raised.value)


def test_a_search_too_slow_without_the_index_says_how_to_build_it(database_without_pg_trgm):
    """The console's notice (a search past its time limit) names the command while the
    schema has no trigram index, and is the plain one once it has."""
    role_url, database_admin = database_without_pg_trgm
    app = _migrated_app(role_url)
    assert _search_past_its_limit(app) == TOO_SLOW + NO_INDEX
    assert "flask --app wsgi search-index" in NO_INDEX
    with database_admin.connect() as connection:
        connection.execute(sa.text("CREATE EXTENSION pg_trgm SCHEMA public"))
    _built_both(app.test_cli_runner().invoke(args=["search-index"]))
    assert _search_past_its_limit(app) == TOO_SLOW


def test_an_extension_another_session_creates_meanwhile_is_used(database_without_pg_trgm):
    """The command's CREATE EXTENSION waits for another session creating it and then meets the
    duplicate: it builds on the extension the other made instead of reporting it missing."""
    role_url, database_admin = database_without_pg_trgm
    app = _migrated_app(role_url)
    with database_admin.connect() as connection:
        connection.execute(sa.text(
            f'GRANT CREATE ON DATABASE "{role_url.database}" TO "{role_url.username}"'))
    other = sa.create_engine(database_admin.url)
    try:
        with other.connect() as holder:
            holder.execute(sa.text("CREATE EXTENSION pg_trgm SCHEMA public"))
            building, results = _command_waiting_on(app, database_admin, "CREATE EXTENSION")
            holder.commit()
    finally:
        other.dispose()
    _command_built_both(building, results, database_admin)
    with app.app_context():
        db.engine.dispose()
