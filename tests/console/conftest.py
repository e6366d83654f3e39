"""Console fixtures: operators, and a browser-like client that signs in and sends CSRF tokens."""

from __future__ import annotations

import re

import pytest

from gotrue_web.console.operations import operators
from gotrue_web.extensions import db

from ..factories import Clock, freeze_clock

OPERATOR_EMAIL = "operator@example.com"
OPERATOR_PASSWORD = "operator-password-1"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def make_operator(app):
    """Create an operator through the service the CLI uses."""

    def create(email: str = OPERATOR_EMAIL, password: str = OPERATOR_PASSWORD):
        with app.app_context():
            operator = operators.create(app.extensions["gotrue"], email, password)
            db.session.commit()
            return operator.id

    return create


class ConsoleClient:
    """A test client that behaves like the console in a browser: it keeps the cookie and sends
    the page's CSRF token with every POST (as a form field, or as X-CSRFToken for htmx)."""

    def __init__(self, client):
        self.client = client
        self.csrf_token = ""

    def _remember_token(self, response):
        match = _CSRF.search(response.get_data(as_text=True))
        if match:
            self.csrf_token = match.group(1)
        return response

    def get(self, path: str, htmx: bool = False, **kwargs):
        headers = kwargs.pop("headers", {})
        if htmx:
            headers["HX-Request"] = "true"
        return self._remember_token(self.client.get(path, headers=headers, **kwargs))

    def post(self, path: str, data: dict | None = None, htmx: bool = False, csrf: bool = True,
             **kwargs):
        headers = kwargs.pop("headers", {})
        if not self.csrf_token:
            self.get("/console/login")
        if htmx:
            headers["HX-Request"] = "true"
            if csrf:
                headers["X-CSRFToken"] = self.csrf_token
        data = dict(data or {})
        if csrf and not htmx:
            data.setdefault("csrf_token", self.csrf_token)
        return self.client.post(path, data=data, headers=headers, **kwargs)

    def login(self, email: str = OPERATOR_EMAIL, password: str = OPERATOR_PASSWORD,
              totp_code: str = ""):
        self.get("/console/login")
        response = self.post("/console/login", {"email": email, "password": password,
                                                "totp_code": totp_code})
        # A new session gets a new CSRF token: pick it up from the next page.
        self.get("/console/profile")
        return response


def signed_in(app, email: str = OPERATOR_EMAIL,
              password: str = OPERATOR_PASSWORD) -> ConsoleClient:
    """Create an operator on ``app`` (an app a test built itself) and sign in as them."""
    with app.app_context():
        operators.create(app.extensions["gotrue"], email, password)
        db.session.commit()
    client = ConsoleClient(app.test_client())
    assert client.login(email, password).status_code == 303
    return client


@pytest.fixture
def console(app, make_operator):
    """A console client signed in as a fresh operator."""
    make_operator()
    client = ConsoleClient(app.test_client())
    response = client.login()
    assert response.status_code == 303, response.get_data(as_text=True)
    return client


@pytest.fixture
def anonymous_console(app):
    return ConsoleClient(app.test_client())


@pytest.fixture
def mail_console(mail_app) -> ConsoleClient:
    """A console client signed in on ``mail_app`` (mail goes to the SMTP sink)."""
    return signed_in(mail_app)


@pytest.fixture
def clock(app) -> Clock:
    """The app's clock, stopped at the current second; tests move it with clock.advance()."""
    return freeze_clock(app)
