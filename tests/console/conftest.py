"""Console fixtures: operators, and a browser-like client that signs in and sends CSRF tokens."""

from __future__ import annotations

import re
import threading

import bcrypt
import httpx
import pyotp
import pytest

from gotrue_web.console.operations import operators
from gotrue_web.extensions import db

from ..conftest import ServedApp
from ..factories import Clock, freeze_clock

OPERATOR_EMAIL = "operator@example.com"
OPERATOR_PASSWORD = "operator-password-1"
CLIENT_IP = "203.0.113.10"
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


def console_client(app, ip: str = CLIENT_IP) -> ConsoleClient:
    """A console client on ``app`` whose requests come from ``ip``."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = ip
    return ConsoleClient(client)


def form_error(response) -> str:
    """The error line of a console form page ("" when there is none)."""
    match = re.search(r'class="form-error"[^>]*>([^<]*)<', response.get_data(as_text=True))
    return match.group(1) if match else ""


class BcryptCalls:
    """Counts bcrypt checks (the real ones run), from every thread: the cost of sign-in
    attempts, and how many were evaluated."""

    def __init__(self, monkeypatch):
        self.count = 0
        self._lock = threading.Lock()
        original = bcrypt.checkpw

        def counting(*args):
            with self._lock:
                self.count += 1
            return original(*args)

        monkeypatch.setattr(bcrypt, "checkpw", counting)


def enable_totp(app, email: str = OPERATOR_EMAIL) -> str:
    """Turn TOTP on for an operator through the service; returns the secret. The code that
    confirms it is of the step before the app's current one, so every code from now on
    signs in."""
    rt = app.extensions["gotrue"]
    with app.app_context():
        operator = operators.find(email)
        enrolment = operators.start_totp_enrolment(operator, rt.now())
        code = pyotp.TOTP(enrolment.secret).at(rt.now(), counter_offset=-1)
        operators.confirm_totp(rt, operator, code, "")
        db.session.commit()
        return enrolment.secret


class HttpConsole:
    """The console's sign-in form over real HTTP, as a browser sends it: the page first (its
    cookie and CSRF token), then the form. ``ip`` goes in X-Forwarded-For, which the server
    believes from loopback (GOTRUE_API_TRUSTED_PROXIES' default). Clients share ``transport``
    (the ``http_transport`` fixture): a client of its own costs a TLS context each."""

    def __init__(self, transport: httpx.HTTPTransport, base_url: str, ip: str | None = None):
        headers = {"X-Forwarded-For": ip} if ip else {}
        self.client = httpx.Client(base_url=base_url, headers=headers, timeout=60,
                                   transport=transport, trust_env=False)
        page = self.client.get("/console/login")
        assert page.status_code == 200, page.text
        self.csrf_token = _CSRF.search(page.text).group(1)

    def sign_in(self, email: str = OPERATOR_EMAIL, password: str = OPERATOR_PASSWORD,
                totp_code: str = "") -> httpx.Response:
        return self.client.post("/console/login", data={
            "email": email, "password": password, "totp_code": totp_code,
            "csrf_token": self.csrf_token})


@pytest.fixture
def http_transport():
    """One connection pool for a test's HttpConsole clients."""
    transport = httpx.HTTPTransport(limits=httpx.Limits(max_connections=256))
    yield transport
    transport.close()


@pytest.fixture
def serve():
    """``serve(app)`` serves an app over HTTP on a free loopback port in a threaded server and
    returns its base URL. Two apps serve like two gunicorn workers: each has its own engine and
    connection pool, and only the database is shared."""
    servers = []

    def start(app) -> str:
        served = ServedApp(app)
        servers.append(served)
        return served.url

    yield start
    for served in servers:
        served.stop()


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
