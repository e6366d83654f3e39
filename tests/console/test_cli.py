"""``flask --app wsgi operators ...``: create (password from stdin, or a hidden prompt on a
terminal), list, delete and reset-password, with their effect on the table and on sessions."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from gotrue_web.extensions import db
from gotrue_web.models import Operator

from ..conftest import JWT_SECRET
from .conftest import OPERATOR_EMAIL, OPERATOR_PASSWORD, ConsoleClient

REPO_ROOT = Path(__file__).resolve().parents[2]
FLASK = Path(sys.executable).with_name("flask")
NEW_PASSWORD = "a-fresh-password-42"


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def run(*args: str, input: str | None = None):
        return runner.invoke(args=["operators", *args], input=input)

    return run


def operator_rows(app) -> list[Operator]:
    with app.app_context():
        return list(db.session.execute(sa.select(Operator).order_by(Operator.email)).scalars())


def password_matches(app, email: str, password: str) -> bool:
    [row] = [row for row in operator_rows(app) if row.email == email]
    return app.extensions["gotrue"].hasher.verify(password, row.password_hash)


# --- create -------------------------------------------------------------------------------------


def test_create_reads_the_password_from_stdin(app, cli):
    result = cli("create", "  New.Operator@Example.COM ", input=NEW_PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert result.output == "Created operator new.operator@example.com.\n"
    assert NEW_PASSWORD not in result.output
    [row] = operator_rows(app)
    assert row.email == "new.operator@example.com"
    assert row.password_hash != NEW_PASSWORD
    assert password_matches(app, row.email, NEW_PASSWORD)
    assert not row.totp_enabled and row.last_login_at is None
    # The new operator can sign in to the console.
    client = ConsoleClient(app.test_client())
    assert client.login("new.operator@example.com", NEW_PASSWORD).status_code == 303


@pytest.mark.parametrize("password, message", [
    ("short-pw", "An operator password needs at least 12 characters."),
    ("", "An operator password needs at least 12 characters."),
    ("x" * 73, "Password cannot be longer than 72 characters"),
])
def test_create_refuses_a_bad_password_and_creates_nothing(app, cli, password, message):
    result = cli("create", "new@example.com", input=password + "\n")
    assert result.exit_code == 1
    assert f"Error: {message}" in result.output
    assert operator_rows(app) == []


def test_create_with_empty_stdin_creates_nothing(app, cli):
    result = cli("create", "new@example.com", input="")
    assert result.exit_code == 1
    assert operator_rows(app) == []


def test_create_refuses_a_duplicate(app, cli, make_operator):
    make_operator()
    before = operator_rows(app)
    result = cli("create", OPERATOR_EMAIL.upper(), input=NEW_PASSWORD + "\n")
    assert result.exit_code == 1
    assert f"An operator {OPERATOR_EMAIL} already exists." in result.output
    after = operator_rows(app)
    assert [(r.id, r.password_hash) for r in after] == [(r.id, r.password_hash) for r in before]


def test_create_refuses_a_malformed_email(app, cli):
    result = cli("create", "not-an-email", input=NEW_PASSWORD + "\n")
    assert result.exit_code == 1
    assert "invalid format" in result.output
    assert operator_rows(app) == []


def test_create_on_a_terminal_prompts_twice_without_echo(app, test_database):
    """A real pseudo-terminal: the password is typed at a hidden prompt, asked twice."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("GOTRUE_", "FLASK_")) and key not in ("DATABASE_URL",)}
    env.update({
        "GOTRUE_SITE_URL": "http://localhost:3000",
        "API_EXTERNAL_URL": "http://localhost:9999",
        "GOTRUE_JWT_SECRET": JWT_SECRET,
        "GOTRUE_DB_DATABASE_URL": test_database.url,
        "GOTRUE_DB_NAMESPACE": test_database.namespace,
        "GOTRUE_PASSWORD_BCRYPT_COST": "4",
        "FLASK_SKIP_DOTENV": "1",
    })
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [str(FLASK), "--app", "wsgi", "operators", "create", "tty@example.com"],
        cwd=REPO_ROOT, env=env, stdin=terminal, stdout=terminal, stderr=terminal,
        close_fds=True)
    os.close(terminal)
    transcript = b""
    answers = [b"Password: ", b"Repeat for confirmation: "]
    deadline = time.monotonic() + 60  # a safety net against a hang, not a speed check
    try:
        while process.poll() is None or select.select([controller], [], [], 0)[0]:
            assert time.monotonic() < deadline, transcript
            ready, _, _ = select.select([controller], [], [], 0.2)
            if not ready:
                continue
            try:
                chunk = os.read(controller, 1024)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            transcript += chunk
            if answers and transcript.endswith(answers[0]):
                answers.pop(0)
                os.write(controller, NEW_PASSWORD.encode() + b"\n")
    finally:
        os.close(controller)
        process.wait(timeout=30)
    output = transcript.decode(errors="replace")
    assert process.returncode == 0, output
    assert answers == [], output  # both prompts appeared
    assert NEW_PASSWORD not in output  # typed input is not echoed
    assert "Created operator tty@example.com." in output
    assert password_matches(app, "tty@example.com", NEW_PASSWORD)


# --- list ---------------------------------------------------------------------------------------


def test_list_without_operators_says_how_to_create_one(cli):
    result = cli("list")
    assert result.exit_code == 0
    assert result.output == ("No operators yet. Create one with: "
                             "flask --app wsgi operators create EMAIL\n")


def test_list_shows_each_operator_with_its_second_factor_and_last_sign_in(app, cli,
                                                                          make_operator):
    make_operator("b@example.com")
    make_operator("a@example.com")
    ConsoleClient(app.test_client()).login("b@example.com", OPERATOR_PASSWORD)
    with app.app_context():
        row = db.session.execute(
            sa.select(Operator).where(Operator.email == "a@example.com")).scalar_one()
        row.totp_secret, row.totp_enabled = "JBSWY3DPEHPK3PXP", True
        db.session.commit()
    result = cli("list")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == "a@example.com\towner\tactive\ttotp\tnever signed in"
    assert lines[1].startswith("b@example.com\towner\tactive\tpassword only\t")
    assert lines[1].endswith(" UTC")
    assert len(lines) == 2


def test_create_takes_a_role_and_list_shows_roles_and_states(app, cli):
    created = cli("create", "viewer@example.com", "--role", "viewer", input=NEW_PASSWORD + "\n")
    assert created.output == "Created operator viewer@example.com (viewer).\n"
    assert cli("create", "owner@example.com", input=NEW_PASSWORD + "\n").exit_code == 0
    refused = cli("create", "boss@example.com", "--role", "boss", input=NEW_PASSWORD + "\n")
    assert refused.exit_code == 2 and "boss" in refused.output
    with app.app_context():
        viewer = db.session.execute(
            sa.select(Operator).where(Operator.email == "viewer@example.com")).scalar_one()
        viewer.disabled_at = app.extensions["gotrue"].now()
        db.session.commit()
    assert {row.email: row.role for row in operator_rows(app)} == {
        "owner@example.com": "owner", "viewer@example.com": "viewer"}
    lines = cli("list").output.splitlines()
    assert lines[0].startswith("owner@example.com\towner\tactive\t")
    assert lines[1].startswith("viewer@example.com\tviewer\tdisabled\t")


# --- delete -------------------------------------------------------------------------------------


def test_delete_with_yes_removes_the_operator_and_ends_its_session(app, cli, console):
    assert console.get("/console/profile").status_code == 200
    result = cli("delete", OPERATOR_EMAIL, "--yes")
    assert result.exit_code == 0
    assert result.output == f"Deleted operator {OPERATOR_EMAIL}.\n"
    assert operator_rows(app) == []
    response = console.get("/console/profile")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/console/login")


def test_delete_without_yes_off_a_terminal_deletes_nothing(app, cli, make_operator):
    make_operator()
    result = cli("delete", OPERATOR_EMAIL)
    assert result.exit_code == 1
    assert "--yes" in result.output
    assert [row.email for row in operator_rows(app)] == [OPERATOR_EMAIL]


def test_delete_of_an_unknown_operator_fails(app, cli, make_operator):
    make_operator()
    result = cli("delete", "nobody@example.com", "--yes")
    assert result.exit_code == 1
    assert "No operator nobody@example.com." in result.output
    assert [row.email for row in operator_rows(app)] == [OPERATOR_EMAIL]


# --- reset-password -----------------------------------------------------------------------------


def test_reset_password_ends_sessions_and_turns_totp_off(app, cli, console):
    with app.app_context():
        row = db.session.execute(sa.select(Operator)).scalar_one()
        row.totp_secret, row.totp_enabled = "JBSWY3DPEHPK3PXP", True
        db.session.commit()
    assert console.get("/console/profile").status_code == 200

    result = cli("reset-password", OPERATOR_EMAIL, input=NEW_PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert result.output == (f"Password reset for {OPERATOR_EMAIL}; "
                             "two-factor sign-in is off.\n")
    [row] = operator_rows(app)
    assert not row.totp_enabled and row.totp_secret is None
    assert password_matches(app, OPERATOR_EMAIL, NEW_PASSWORD)

    # The signed-in console client is logged out.
    response = console.get("/console/profile")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/console/login")
    # Old password no longer works, the new one does, without a code.
    assert ConsoleClient(app.test_client()).login(
        OPERATOR_EMAIL, OPERATOR_PASSWORD).status_code == 401
    assert ConsoleClient(app.test_client()).login(
        OPERATOR_EMAIL, NEW_PASSWORD).status_code == 303


def test_reset_password_refuses_a_short_password_and_keeps_everything(app, cli, console):
    [before] = operator_rows(app)
    result = cli("reset-password", OPERATOR_EMAIL, input="short\n")
    assert result.exit_code == 1
    assert "at least 12 characters" in result.output
    [after] = operator_rows(app)
    assert (after.password_hash, after.session_version) == (before.password_hash,
                                                            before.session_version)
    assert console.get("/console/profile").status_code == 200


def test_reset_password_of_an_unknown_operator_fails(app, cli):
    result = cli("reset-password", "nobody@example.com", input=NEW_PASSWORD + "\n")
    assert result.exit_code == 1
    assert "No operator nobody@example.com." in result.output
    assert operator_rows(app) == []
