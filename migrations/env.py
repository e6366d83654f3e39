"""Alembic environment for gotrue-web, run through Flask-Migrate (``flask db upgrade``).

The same revisions run on SQLite, PostgreSQL and MariaDB. On PostgreSQL everything lives in the
GOTRUE_DB_NAMESPACE schema (``auth`` by default), which is created first; the engine's
search_path points there, so revisions use unqualified names.
"""

import logging
import warnings
from logging.config import fileConfig

import sqlalchemy as sa
from alembic import context
from flask import current_app

from gotrue_web.models.search_indexes import (
    MARIADB_SEARCH_TEXT,
    TRIGRAM_INDEXES,
    substring_search_tables,
)
from gotrue_web.models.sso import EXPRESSION_INDEXES, MARIADB_GENERATED_KEYS

config = context.config
if config.config_file_name:
    fileConfig(config.config_file_name, disable_existing_loggers=False)
log = logging.getLogger("alembic.env")

extension = current_app.extensions["migrate"]
engine = extension.db.engine
metadata = extension.db.metadata


def include_object(obj, name, type_, reflected, compare_to):
    """Leave out of comparisons what the models create only on other dialects (ddl_if), and
    the substring search's tables, which migration 0012 and triggers own."""
    if reflected:
        if type_ == "table":
            return name not in substring_search_tables(engine.dialect.name)
        return not _mariadb_generated_key(obj, name, type_)
    condition = getattr(obj, "_ddl_if", None)
    if condition is not None and condition.dialect:
        dialects = condition.dialect
        dialects = (dialects,) if isinstance(dialects, str) else tuple(dialects)
        return engine.dialect.name in dialects
    return True


def _mariadb_generated_key(obj, name, type_) -> bool:
    """A generated column of MARIADB_GENERATED_KEYS (models/sso.py), or its unique index; or
    users.search_text and its index (MARIADB_SEARCH_TEXT, models/search_indexes.py)."""
    if engine.dialect.name != "mysql" or type_ not in ("column", "index", "unique_constraint"):
        return False
    table = getattr(obj, "table", None)
    if getattr(table, "name", "") == "users" and name in MARIADB_SEARCH_TEXT:
        return True
    column, index, _ = MARIADB_GENERATED_KEYS.get(getattr(table, "name", ""), ("", "", ""))
    return name == (column if type_ == "column" else index)


def skip_empty_autogenerate(context_, revision, directives):
    if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
        directives[:] = []
        log.info("No changes in schema detected.")


def ensure_namespace() -> None:
    if engine.dialect.name != "postgresql":
        return
    namespace = current_app.config["GOTRUE_SETTINGS"].db.namespace
    with engine.begin() as connection:
        # Look first: CREATE SCHEMA IF NOT EXISTS still needs CREATE on the database, which a
        # role that only owns an existing schema (Supabase's auth admin) does not have.
        exists = connection.execute(
            sa.text("SELECT 1 FROM pg_namespace WHERE nspname = :name"), {"name": namespace}
        ).first()
        if not exists:
            connection.execute(sa.text(f'CREATE SCHEMA "{namespace}"'))


def run_online() -> None:
    ensure_namespace()
    options = dict(extension.configure_args)
    options.setdefault("process_revision_directives", skip_empty_autogenerate)
    options.setdefault("compare_type", True)
    options.setdefault("render_as_batch", engine.dialect.name == "sqlite")
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            include_object=include_object,
            **options,
        )
        with context.begin_transaction(), warnings.catch_warnings():
            if engine.dialect.name != "postgresql":
                # Alembic warns that it cannot compare the PostgreSQL-only pg_trgm expression
                # indexes elsewhere; include_object leaves them out there anyway.
                for index in TRIGRAM_INDEXES:
                    warnings.filterwarnings("ignore", message=f".*expression-based index "
                                            f"'{index.name}'")
            if engine.dialect.name == "sqlite":
                # SQLite reflects no expression index, and alembic cannot compare the models'
                # lower(...) indexes of the SSO tables there: both warn.
                for name in EXPRESSION_INDEXES:
                    warnings.filterwarnings("ignore", message=f".*expression-based index "
                                            f"'?{name}'?")
            context.run_migrations()


if context.is_offline_mode():
    context.configure(url=engine.url.render_as_string(hide_password=False),
                      target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_online()
