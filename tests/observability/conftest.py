"""The run's database is migrated in this process (tests/conftest.py), and Alembic's env.py
then gives the root logger a plain-text stderr handler (migrations/alembic.ini) that a server
never has. Taken off for these tests, so stderr shows what the server writes."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture(autouse=True)
def only_the_servers_log_handlers(test_database):
    root = logging.getLogger()
    plain = [handler for handler in root.handlers if type(handler) is logging.StreamHandler]
    for handler in plain:
        root.removeHandler(handler)
    yield
    for handler in plain:
        root.addHandler(handler)
