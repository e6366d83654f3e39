"""Apps started the way a deployment starts them: create_app() reading the process environment
and a .env file in the working directory, with the start-up warnings it logs."""

from __future__ import annotations

import logging
import os

import pytest

from gotrue_web import create_app
from gotrue_web.extensions import db
from gotrue_web.observability import logs

# What every start needs (the seed predates API_EXTERNAL_URL, which GoTrue now requires), and
# counters of the test's own.
BASE = {"GOTRUE_SITE_URL": "https://app.example.com", "API_EXTERNAL_URL": "https://auth.example.com",
        "GOTRUE_JWT_SECRET": "a-secret-of-at-least-thirty-two-characters",
        "GOTRUE_RATE_LIMIT_STORAGE_URL": "memory://",
        # No cleanup thread (see tests/live/conftest.py's server_environment).
        "GOTRUE_DB_CLEANUP_INTERVAL": "0"}
DRIVERS = {"sqlite": "sqlite", "postgresql": "postgres", "mysql": "mysql"}


@pytest.fixture
def start_from_env(monkeypatch, tmp_path, caplog, test_database):
    """``start(env_text=None, **environment)``: create_app() with exactly ``environment`` (plus
    the run's database, unless given) as the process's GoTrue variables and ``env_text`` as
    ./.env; returns (app, {variable: warning message}) for the warnings it logged."""
    apps = []
    # Each test sees its warnings, even ones an earlier test's app logged in this process.
    monkeypatch.setattr(logs, "_warned", set())
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)

    def start(env_text: str | None = None, **environment: str):
        for name in list(os.environ):
            if name.startswith("GOTRUE_") or name in ("DATABASE_URL", "API_EXTERNAL_URL"):
                monkeypatch.delenv(name)
        database = {"DATABASE_URL": test_database.url,
                    "GOTRUE_DB_NAMESPACE": test_database.namespace}
        for name, value in {**database, **BASE, **environment}.items():
            monkeypatch.setenv(name, value)
        if env_text is not None:
            (workdir / ".env").write_text(env_text)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger=logs.CONFIGURATION_LOGGER):
            app = create_app()
        apps.append(app)
        warnings = {record.getMessage().split()[0].rstrip(":"): record.getMessage()
                    for record in caplog.records if record.name == logs.CONFIGURATION_LOGGER}
        return app, warnings

    yield start
    for app in apps:
        runtime = app.extensions["gotrue"]
        runtime.outbox.stop()
        runtime.live_settings.stop()
        runtime.cleaner.stop()
        if "tracing" in app.extensions:
            app.extensions["tracing"].shutdown()
        with app.app_context():
            db.engine.dispose()
    # Later apps of this process write their records to stderr again.
    logs.configure(logging.INFO)
