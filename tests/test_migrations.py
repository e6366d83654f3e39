"""The Alembic revisions are the schema: head matches the models on this backend, upgrading twice
is harmless, and the whole history goes down and up again on a throwaway database."""

from __future__ import annotations

import secrets
import threading
import time

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.environment import EnvironmentContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade

from gotrue_web import create_app
from gotrue_web.db import Base
from gotrue_web.extensions import db
from gotrue_web.models.search_indexes import substring_search_tables

from .conftest import BASE_SETTINGS

# GoTrue's tables must be there whatever else later revisions add.
GOTRUE_TABLES = {
    "users", "identities", "sessions", "refresh_tokens", "mfa_factors", "mfa_challenges",
    "mfa_amr_claims", "flow_state", "one_time_tokens", "audit_log_entries",
}
GOTRUE_ENUM_TYPES = {"aal_level", "factor_type", "factor_status", "code_challenge_method",
                     "one_time_token_type"}


def model_tables() -> set[str]:
    return set(Base.metadata.tables)


def model_enum_types() -> set[str]:
    return {column.type.name for table in Base.metadata.tables.values()
            for column in table.columns if isinstance(column.type, sa.Enum)}


def autogenerate_diff(app) -> list:
    """Run migrations/env.py as `flask db check` does and return alembic's model comparison.

    Going through env.py means its include_object rule and compare_type apply exactly as they
    do when a developer autogenerates a revision.
    """
    diffs: list = []
    with app.app_context():
        config = app.extensions["migrate"].migrate.get_config()
        script = ScriptDirectory.from_config(config)

        def compare(_revision, context):
            diffs.extend(compare_metadata(context, context.opts["target_metadata"]))
            return []

        with EnvironmentContext(config, script, fn=compare):
            script.run_env()
        db.engine.dispose()
    return diffs


def head_revision(app) -> str:
    with app.app_context():
        config = app.extensions["migrate"].migrate.get_config()
        return ScriptDirectory.from_config(config).get_current_head()


def stamped_revision(app) -> str | None:
    with app.app_context():
        with db.engine.connect() as connection:
            rows = connection.execute(sa.text("SELECT version_num FROM alembic_version")).all()
        db.engine.dispose()
    return rows[0][0] if rows else None


def table_names(app) -> set[str]:
    """The tables, without the substring search's own (migration 0012, not the models')."""
    with app.app_context():
        names = set(sa.inspect(db.engine).get_table_names())
        names -= substring_search_tables(db.engine.dialect.name)
        db.engine.dispose()
    return names


def test_head_matches_the_models(make_app):
    app = make_app()
    assert autogenerate_diff(app) == []


def test_the_comparison_notices_a_model_the_migrations_lack(make_app):
    # Guards the test above: a table only the models know about must show up in the diff.
    app = make_app()
    extra = sa.Table("not_migrated", Base.metadata, sa.Column("id", sa.Integer, primary_key=True))
    try:
        diffs = autogenerate_diff(app)
    finally:
        Base.metadata.remove(extra)
    assert [(d[0], d[1].name) for d in diffs] == [("add_table", "not_migrated")]


def test_flask_db_upgrade_is_idempotent(make_app):
    app = make_app()
    before = table_names(app)
    assert before == model_tables() | {"alembic_version"}
    runner = app.test_cli_runner()
    for _ in range(2):
        result = runner.invoke(args=["db", "upgrade"])
        assert result.exit_code == 0, result.output
    assert stamped_revision(app) == head_revision(app)
    assert table_names(app) == before
    assert autogenerate_diff(app) == []


def test_postgres_tables_live_in_the_namespace(make_app, test_database):
    if test_database.backend != "postgresql":
        pytest.skip("schemas are a PostgreSQL feature")
    app = make_app()
    with app.app_context():
        with db.engine.connect() as connection:
            rows = connection.execute(sa.text(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_name = ANY(:names)"), {"names": sorted(model_tables())}).all()
        db.engine.dispose()
    ours = {name for schema, name in rows if schema == test_database.namespace}
    assert ours == model_tables() and GOTRUE_TABLES <= ours
    assert test_database.namespace != "public"


# --- downgrade to base and back on a database of the test's own -------------------------------


@pytest.fixture
def throwaway_settings(test_database, tmp_path):
    """Settings pointing at a fresh, empty database (schema on PostgreSQL) dropped afterwards."""
    suffix = secrets.token_hex(4)
    if test_database.backend == "sqlite":
        yield BASE_SETTINGS.replace(**{"db.url": f"sqlite:///{tmp_path / 'roundtrip.db'}"})
        return
    admin = sa.create_engine(test_database.admin_url)
    if test_database.backend == "postgresql":
        namespace = f"roundtrip_{suffix}"
        yield BASE_SETTINGS.replace(**{"db.url": test_database.admin_url,
                                       "db.namespace": namespace})
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{namespace}" CASCADE'))
    else:
        name = f"roundtrip_{suffix}"
        with admin.begin() as connection:
            connection.execute(sa.text(
                f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
        url = sa.engine.make_url(test_database.admin_url).set(database=name)
        yield BASE_SETTINGS.replace(**{"db.url": url.render_as_string(hide_password=False)})
        with admin.begin() as connection:
            connection.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
    admin.dispose()


def postgres_objects(app, namespace: str) -> tuple[set[str], set[str]]:
    """Tables and enum types in ``namespace``."""
    with app.app_context():
        with db.engine.connect() as connection:
            tables = {row[0] for row in connection.execute(sa.text(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = :ns"),
                {"ns": namespace})}
            types = {row[0] for row in connection.execute(sa.text(
                "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
                "WHERE n.nspname = :ns AND t.typtype = 'e'"), {"ns": namespace})}
        db.engine.dispose()
    return tables, types


def test_downgrade_to_base_then_upgrade_to_head(throwaway_settings, test_database):
    app = create_app(throwaway_settings)
    backend = test_database.backend

    with app.app_context():
        upgrade()
        db.engine.dispose()
    assert table_names(app) == model_tables() | {"alembic_version"}
    assert stamped_revision(app) == head_revision(app)
    if backend == "postgresql":
        tables, types = postgres_objects(app, throwaway_settings.db.namespace)
        assert tables == model_tables() | {"alembic_version"}
        assert types == model_enum_types() and GOTRUE_ENUM_TYPES <= types

    with app.app_context():
        downgrade(revision="base")
        db.engine.dispose()
    assert table_names(app) == {"alembic_version"}
    assert stamped_revision(app) is None
    if backend == "postgresql":
        assert postgres_objects(app, throwaway_settings.db.namespace) == ({"alembic_version"},
                                                                          set())

    with app.app_context():
        upgrade()
        db.engine.dispose()
    assert table_names(app) == model_tables() | {"alembic_version"}
    assert stamped_revision(app) == head_revision(app)
    assert autogenerate_diff(app) == []


def test_postgres_upgrade_as_a_role_that_only_owns_its_schema(test_database):
    """Supabase's auth admin owns the auth schema but may not create schemas in the database."""
    if test_database.backend != "postgresql":
        pytest.skip("schemas and roles are a PostgreSQL matter")
    suffix = secrets.token_hex(4)
    role, namespace = f"auth_owner_{suffix}", f"owned_{suffix}"
    admin = sa.create_engine(test_database.admin_url)
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE ROLE "{role}" LOGIN'))
        connection.execute(sa.text(f'CREATE SCHEMA "{namespace}" AUTHORIZATION "{role}"'))
        can_create = connection.execute(sa.text(
            "SELECT has_database_privilege(:role, current_database(), 'CREATE')"),
            {"role": role}).scalar()
    assert can_create is False
    try:
        url = sa.engine.make_url(test_database.admin_url).set(username=role, password=None)
        app = create_app(BASE_SETTINGS.replace(**{
            "db.url": url.render_as_string(hide_password=False), "db.namespace": namespace}))
        with app.app_context():
            upgrade()
            db.engine.dispose()
        tables, _ = postgres_objects(app, namespace)
        assert tables == model_tables() | {"alembic_version"}
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{namespace}" CASCADE'))
            connection.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()


def test_postgres_upgrade_that_waited_for_another_creating_pg_trgm_still_indexes(test_database):
    """Two upgrades on a database without pg_trgm (two schemas, two servers starting at once):
    the one whose CREATE EXTENSION waited for the other's and then met the duplicate gets the
    trigram indexes all the same, instead of a warning and a search without them."""
    if test_database.backend != "postgresql":
        pytest.skip("pg_trgm is a PostgreSQL extension")
    name = f"trgm_race_{secrets.token_hex(4)}"
    admin = sa.create_engine(test_database.admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(test_database.admin_url).set(database=name)
    other_upgrade = sa.create_engine(url)
    failures: list[BaseException] = []
    app = create_app(BASE_SETTINGS.replace(**{
        "db.url": url.render_as_string(hide_password=False), "db.namespace": "auth"}))

    def upgrade_in_thread():
        try:
            with app.app_context():
                upgrade()
                db.engine.dispose()
        except BaseException as error:  # noqa: BLE001 - reported by the test below
            failures.append(error)

    try:
        with other_upgrade.connect() as holder:
            # The other upgrade has created the extension and not committed yet.
            holder.execute(sa.text("CREATE EXTENSION pg_trgm SCHEMA public"))
            upgrading = threading.Thread(target=upgrade_in_thread)
            upgrading.start()
            deadline = time.monotonic() + 60
            with admin.connect() as connection:
                while not connection.execute(sa.text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = :name "
                        "AND wait_event_type = 'Lock'"), {"name": name}).scalar():
                    assert time.monotonic() < deadline, "the upgrade never waited"
                    time.sleep(0.05)
            holder.commit()
        upgrading.join(60)
        assert not upgrading.is_alive() and failures == []
        with other_upgrade.connect() as connection:
            indexes = set(connection.execute(sa.text(
                "SELECT indexname FROM pg_indexes WHERE schemaname = 'auth' "
                "AND indexname LIKE '%trgm%'")).scalars())
        assert indexes == {"users_email_trgm_idx", "users_name_trgm_idx"}
    finally:
        other_upgrade.dispose()
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
