"""Fixtures shared by the fault tests."""

from ..live.conftest import start_gunicorn  # noqa: F401 - gunicorn servers on loopback
