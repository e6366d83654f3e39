"""Attacks on the console's sign-in (issue 8, finding 6): parallel guesses racing the throttle, a
stranger locking an operator out, guessing from many addresses, and replayed TOTP codes.

The rule under test is console/operations/sign_in_throttle.py: failures per operator and
address, per address, and per operator from everywhere (100 an hour, past which only addresses
the operator has used, or a valid TOTP code, get the password checked).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pyotp
import pytest
import sqlalchemy as sa

from gotrue_web.console.operations import operators, sign_in_throttle
from gotrue_web.extensions import db
from gotrue_web.models import Operator

from ..factories import audit_entries, freeze_clock
from .conftest import (OPERATOR_EMAIL, OPERATOR_PASSWORD, BcryptCalls, HttpConsole,
                       console_client, enable_totp, form_error)

REFUSAL = operators.LOGIN_REFUSED
OWNER_IP = "203.0.113.10"
ATTACKER_IP = "198.51.100.66"
THROTTLED = "Too many failed sign-ins. Try again in 15 minutes."


def attempt(app, ip: str, email: str = OPERATOR_EMAIL, password: str = "wrong-password-1",
            totp_code: str = ""):
    client = console_client(app, ip)
    return client.login(email, password, totp_code)


def stranger_address(number: int) -> str:
    return f"10.{number // 62500}.{number // 250 % 250}.{number % 250 + 1}"


def last_step(app) -> int | None:
    with app.app_context():
        return db.session.execute(
            sa.select(Operator.totp_last_step).where(Operator.email == OPERATOR_EMAIL)
        ).scalar_one()


def race(transport, base_urls: list[str], count: int, **credentials) -> list[int]:
    """``count`` sign-ins sent at the same moment, spread over the servers, each from a client
    that already holds its page (cookie and CSRF token): the answers' status codes."""
    clients = [HttpConsole(transport, base_urls[number % len(base_urls)])
               for number in range(count)]
    start = threading.Barrier(count)

    def send(client: HttpConsole) -> int:
        start.wait()
        return client.sign_in(**credentials).status_code

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(send, clients))


# --- 1. the limit holds under parallel requests -------------------------------------------------


@pytest.mark.parametrize("workers", [1, 2])
def test_parallel_wrong_passwords_get_at_most_the_limit_evaluated(
        make_app, make_operator, serve, http_transport, monkeypatch, workers):
    """16 wrong passwords at once from one address (found: 11 of 16 got through a limit of 5).
    Two apps stand for two gunicorn workers: each has its own connection pool."""
    make_operator()
    apps = [make_app(**{"console.login_attempts": 5}) for _ in range(workers)]
    urls = [serve(app) for app in apps]
    calls = BcryptCalls(monkeypatch)

    statuses = race(http_transport, urls, 16, password="wrong-password-1")

    assert sorted(statuses) == [401] * 5 + [429] * 11
    assert calls.count == 5  # only the admitted attempts had their password checked
    assert len(audit_entries(apps[0], "operator_login_failed")) == 5
    # The address stays held back, the right password included.
    response = HttpConsole(http_transport, urls[0]).sign_in()
    assert response.status_code == 429
    assert calls.count == 5


def test_parallel_guesses_from_many_addresses_stay_within_the_hourly_budget(
        make_app, make_operator, serve, http_transport, monkeypatch):
    make_operator()
    url = serve(make_app())
    calls = BcryptCalls(monkeypatch)
    budget = sign_in_throttle.ACCOUNT_FAILURES
    clients = [HttpConsole(http_transport, url, ip=stranger_address(number))
               for number in range(budget + 20)]
    with ThreadPoolExecutor(max_workers=24) as pool:
        statuses = list(pool.map(
            lambda client: client.sign_in(password="wrong-password-1").status_code, clients))
    assert statuses.count(401) == budget
    assert statuses.count(429) == 20
    assert calls.count == budget


# --- 2. no lock-out by strangers, and a cap on guessing -----------------------------------------


@pytest.fixture
def throttled_app(make_app, make_operator):
    make_operator()
    make_operator("other@example.com", OPERATOR_PASSWORD)
    return make_app(**{"console.login_attempts": 3,
                       "console.login_window": timedelta(minutes=15)})


def test_a_stranger_who_knows_the_email_cannot_lock_the_owner_out(throttled_app, monkeypatch):
    app = throttled_app
    freeze_clock(app)
    for ip in (ATTACKER_IP, "198.51.100.67"):
        for _ in range(3):
            assert attempt(app, ip).status_code == 401
    # The stranger's addresses are held back, the right password included, unchecked.
    calls = BcryptCalls(monkeypatch)
    response = attempt(app, ATTACKER_IP, password=OPERATOR_PASSWORD)
    assert response.status_code == 429
    assert form_error(response) == THROTTLED
    assert response.headers["Retry-After"] == "900"
    assert calls.count == 0

    # The owner, from an address never used before, gets in.
    response = attempt(app, OWNER_IP, password=OPERATOR_PASSWORD)
    assert response.status_code == 303
    [entry] = audit_entries(app, "operator_login")
    assert entry["ip_address"] == OWNER_IP


def test_one_address_is_held_back_per_operator_and_the_window_expires(throttled_app,
                                                                      monkeypatch):
    app = throttled_app
    clock = freeze_clock(app)
    for _ in range(3):
        assert attempt(app, ATTACKER_IP).status_code == 401
        clock.advance(minutes=1)
    calls = BcryptCalls(monkeypatch)
    response = attempt(app, ATTACKER_IP, password=OPERATOR_PASSWORD)
    assert response.status_code == 429
    # The oldest failure leaves the window in 12 minutes.
    assert response.headers["Retry-After"] == str(12 * 60)
    assert form_error(response) == "Too many failed sign-ins. Try again in 12 minutes."
    assert calls.count == 0
    assert audit_entries(app, "operator_login") == []
    # The same address may still try another operator.
    assert attempt(app, ATTACKER_IP, email="other@example.com").status_code == 401

    clock.advance(minutes=12, seconds=1)
    assert attempt(app, ATTACKER_IP, password=OPERATOR_PASSWORD).status_code == 303


def test_one_address_spraying_many_operators_is_held_back(throttled_app, monkeypatch):
    app = throttled_app
    # Four times the per-operator limit, spread so that no operator reaches its own.
    for number in range(12):
        response = attempt(app, ATTACKER_IP, email=f"guess{number}@example.com")
        assert response.status_code == 401
    calls = BcryptCalls(monkeypatch)
    response = attempt(app, ATTACKER_IP, password=OPERATOR_PASSWORD)
    assert response.status_code == 429
    assert form_error(response) == THROTTLED
    assert calls.count == 0
    assert attempt(app, OWNER_IP, password=OPERATOR_PASSWORD).status_code == 303


@pytest.fixture
def attacked_app(make_app, make_operator):
    """An operator who signed in from OWNER_IP, then ACCOUNT_FAILURES wrong passwords for them
    from as many addresses (each address stays under its own limits)."""
    make_operator()
    app = make_app()
    clock = freeze_clock(app)
    assert attempt(app, OWNER_IP, password=OPERATOR_PASSWORD).status_code == 303
    for number in range(sign_in_throttle.ACCOUNT_FAILURES):
        assert attempt(app, stranger_address(number)).status_code == 401
    clock.advance(minutes=1)
    return app


def test_guessing_from_many_addresses_is_capped_per_operator(attacked_app, monkeypatch):
    app = attacked_app
    calls = BcryptCalls(monkeypatch)
    for number in range(300, 305):
        response = attempt(app, stranger_address(number), password=OPERATOR_PASSWORD)
        assert response.status_code == 429
        assert form_error(response) == (
            "Too many failed sign-ins for this account. Try again in 59 minutes, or from an "
            "address you have signed in from before.")
        assert response.headers["Retry-After"] == str(59 * 60)
    assert calls.count == 0  # not one more guess was checked
    assert len(audit_entries(app, "operator_login")) == 1


def test_past_the_cap_the_owner_still_gets_in_from_their_address(attacked_app):
    app = attacked_app
    response = attempt(app, OWNER_IP, password=OPERATOR_PASSWORD)
    assert response.status_code == 303
    assert [entry["ip_address"] for entry in audit_entries(app, "operator_login")] == [
        OWNER_IP, OWNER_IP]
    # An hour after the guessing, new addresses are welcome again (the fixture's clock, frozen
    # a minute after the guesses: a fresh one could start in the guesses' own second).
    app.extensions["gotrue"].clock.advance(hours=1)
    assert attempt(app, "192.0.2.200", password=OPERATOR_PASSWORD).status_code == 303


def test_past_the_cap_a_valid_totp_code_lets_the_owner_in_from_a_new_address(make_app,
                                                                            make_operator):
    make_operator()
    app = make_app()
    clock = freeze_clock(app)
    secret = enable_totp(app)
    totp = pyotp.TOTP(secret)
    for number in range(sign_in_throttle.ACCOUNT_FAILURES):
        assert attempt(app, stranger_address(number), totp_code="000000").status_code == 401
    clock.advance(minutes=1)
    rt = app.extensions["gotrue"]
    wrong_code = next(code for code in ("123456", "654321", "111111")
                      if operators.totp_step(secret, code, rt.now()) is None)
    # The right password with a wrong code: refused like any other failure.
    response = attempt(app, "192.0.2.10", password=OPERATOR_PASSWORD, totp_code=wrong_code)
    assert response.status_code == 401 and form_error(response) == REFUSAL
    # With the code, the owner gets in from an address never used before.
    response = attempt(app, "192.0.2.11", password=OPERATOR_PASSWORD,
                       totp_code=totp.at(rt.now()))
    assert response.status_code == 303
    [entry] = audit_entries(app, "operator_login")
    assert entry["ip_address"] == "192.0.2.11"


def test_old_attempts_are_forgotten(make_app, make_operator):
    make_operator()
    app = make_app()
    clock = freeze_clock(app)
    assert attempt(app, OWNER_IP, password=OPERATOR_PASSWORD).status_code == 303
    assert attempt(app, ATTACKER_IP).status_code == 401
    clock.advance(days=31)
    assert attempt(app, ATTACKER_IP).status_code == 401
    with app.app_context():
        rows = db.session.execute(sa.select(
            sign_in_throttle.Attempt.ip_address, sign_in_throttle.Attempt.succeeded)).all()
    assert rows == [(ATTACKER_IP, False)]


# --- 3. a TOTP code is accepted once ------------------------------------------------------------


def test_a_totp_code_cannot_be_replayed(make_app, make_operator):
    make_operator()
    app = make_app()
    clock = freeze_clock(app)
    rt = app.extensions["gotrue"]
    totp = pyotp.TOTP(enable_totp(app))
    code = totp.at(rt.now())

    assert attempt(app, OWNER_IP, password=OPERATOR_PASSWORD, totp_code=code).status_code == 303
    step = totp.timecode(rt.now())
    # Seen over a shoulder: the same code, still inside its window, from elsewhere.
    clock.advance(seconds=20)
    response = attempt(app, ATTACKER_IP, password=OPERATOR_PASSWORD, totp_code=code)
    assert response.status_code == 401 and form_error(response) == REFUSAL
    assert last_step(app) == step
    # A code of an earlier step is refused too.
    earlier = totp.at(rt.now(), counter_offset=-1)
    response = attempt(app, ATTACKER_IP, password=OPERATOR_PASSWORD, totp_code=earlier)
    assert response.status_code == 401
    assert len(audit_entries(app, "operator_login")) == 1
    # The next code works.
    clock.advance(seconds=30)
    assert attempt(app, OWNER_IP, password=OPERATOR_PASSWORD,
                   totp_code=totp.at(rt.now())).status_code == 303


def test_two_sign_ins_racing_with_one_code_let_only_one_in(make_app, make_operator, serve,
                                                           http_transport):
    make_operator()
    apps = [make_app(), make_app()]
    clock = freeze_clock(apps[0])
    apps[1].extensions["gotrue"].clock = clock
    totp = pyotp.TOTP(enable_totp(apps[0]))
    urls = [serve(app) for app in apps]
    for _ in range(3):
        clock.advance(seconds=30)
        statuses = race(http_transport, urls, 2, totp_code=totp.at(clock.now))
        assert sorted(statuses) == [303, 401]
        assert last_step(apps[0]) == totp.timecode(clock.now)
    assert len(audit_entries(apps[0], "operator_login")) == 3
