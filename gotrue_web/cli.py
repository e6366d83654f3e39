"""Command-line tools: ``flask --app wsgi operators create|list|delete|reset-password``,
``flask --app wsgi cleanup``, ``flask --app wsgi search-index`` and
``flask --app wsgi reencrypt-secrets``."""

from __future__ import annotations

import sys
from typing import NoReturn

import click
from flask.cli import with_appcontext

from .console.operations import operators
from .errors import GoTrueError
from .extensions import db
from .runtime import current_runtime
from .services import cleanup, search_index
from .services.admin import stored_secrets


def _read_password(prompt: str) -> str:
    """Hidden prompt on a terminal (asked twice); the first line of stdin otherwise."""
    if sys.stdin.isatty():
        return click.prompt(prompt, hide_input=True, confirmation_prompt=True)
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


def _fail(message: str) -> NoReturn:
    db.session.rollback()
    raise click.ClickException(message)


@click.group("operators", help="Manage the operators who can sign in to /console.")
def operators_cli():
    pass


@operators_cli.command("create", help="Create an operator; the password is prompted for.")
@click.argument("email")
@click.option("--role", type=click.Choice(operators.ROLES), default="owner", show_default=True,
              help="What the operator may do in the console (owners may do everything, "
                   "including managing operators).")
@with_appcontext
def create(email: str, role: str):
    password = _read_password("Password")
    try:
        operator = operators.create(current_runtime(), email, password, role=role)
    except GoTrueError as error:
        _fail(error.message)
    db.session.commit()
    shown = "" if role == "owner" else f" ({role})"
    click.echo(f"Created operator {operator.email}{shown}.")


@operators_cli.command("list", help="List operators.")
@with_appcontext
def list_operators():
    rows = operators.list_all()
    if not rows:
        click.echo("No operators yet. Create one with: flask --app wsgi operators create EMAIL")
        return
    for operator in rows:
        totp = "totp" if operator.totp_enabled else "password only"
        last = operator.last_login_at.strftime("%Y-%m-%d %H:%M UTC") \
            if operator.last_login_at else "never signed in"
        state = "disabled" if operator.disabled_at else \
            "invited" if operators.is_pending(operator) else "active"
        click.echo(f"{operator.email}\t{operator.role}\t{state}\t{totp}\t{last}")


@operators_cli.command("delete", help="Delete an operator.")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def delete(email: str, yes: bool):
    operator = operators.find(email)
    if operator is None:
        _fail(f"No operator {email.strip().lower()}.")
    if not yes:
        if not sys.stdin.isatty():
            _fail("Not deleting without confirmation: add --yes when not on a terminal.")
        click.confirm(f"Delete operator {operator.email}?", abort=True)
    operators.delete(operator)
    db.session.commit()
    click.echo(f"Deleted operator {operator.email}.")


@operators_cli.command("reset-password",
                       help="Set a new password (prompted for); ends the operator's sessions "
                            "and turns two-factor sign-in off.")
@click.argument("email")
@with_appcontext
def reset_password(email: str):
    operator = operators.find(email)
    if operator is None:
        _fail(f"No operator {email.strip().lower()}.")
    password = _read_password("New password")
    try:
        operators.reset_password(current_runtime(), operator, password)
    except GoTrueError as error:
        _fail(error.message)
    db.session.commit()
    click.echo(f"Password reset for {operator.email}; two-factor sign-in is off.")


@click.command("cleanup", help="Delete expired rows now (revoked refresh tokens, ended sessions, "
                               "old flow states and MFA challenges), all of them, as the "
                               "GOTRUE_DB_CLEANUP_INTERVAL thread does a part at a time.")
@with_appcontext
def cleanup_cli():
    removed = cleanup.run(current_runtime())
    click.echo(f"database cleanup: {cleanup.describe(removed)}")


@click.command("search-index",
               help="PostgreSQL: build the console's substring-search indexes (pg_trgm) that "
                    "migration 0012 could not, creating the extension if this role may. "
                    "Builds concurrently: sign-ups go on meanwhile.")
@with_appcontext
def search_index_cli():
    try:
        result = search_index.build_trigram_indexes()
    except search_index.ExtensionMissing as error:
        raise click.ClickException(
            f"pg_trgm is not installed and this role may not create it ({error}). Have an "
            "administrator run CREATE EXTENSION pg_trgm SCHEMA public; in this database, "
            "then run this command again.") from error
    except search_index.BuildFailed as error:
        raise click.ClickException(
            f"building the index failed ({error}). Run this command again once that is "
            "fixed: it rebuilds an index a failed build left behind.") from error
    click.echo(f"substring search index: {result.describe()}")


@click.command("reencrypt-secrets",
               help="Rewrite the encrypted secrets (TOTP factor secrets, signed session keys) "
                    "as GOTRUE_SECURITY_DB_ENCRYPTION_* now say: under the current key, or as "
                    "plain text with encryption off. Run it after a key rotation, before the "
                    "old key leaves GOTRUE_SECURITY_DB_ENCRYPTION_DECRYPTION_KEYS.")
@with_appcontext
def reencrypt_secrets_cli():
    rt = current_runtime()
    config = rt.settings.security.db_encryption
    try:
        results = stored_secrets.rewrite(rt)
    except stored_secrets.CannotDecrypt as error:
        _fail(f"stopped: {error}. Add that key to GOTRUE_SECURITY_DB_ENCRYPTION_DECRYPTION_KEYS "
              "and run this command again (what was rewritten so far is kept).")
    target = f"under key {config.key_id}" if config.encrypt else "as plain text"
    for result in results:
        click.echo(f"{result.column}: {result.rewritten} rewritten {target}, "
                   f"{result.already} already so")
