"""Per-client request limits in the route table, anonymous sign-ins, the password-failure
throttle and the email budgets, attacked over HTTP."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from gotrue_web.models import User

from ..conftest import ApiClient, make_jwt, table_rows


def _verify(api: ApiClient, client: str | None = None, address: str = "127.0.0.1"):
    headers = {"X-Client": client} if client is not None else {}
    return api.client.post("/verify", headers={**api.headers(), **headers},
                           environ_base={"REMOTE_ADDR": address},
                           json={"type": "email", "email": "nobody@example.com",
                                 "token": "123456"})


def _api(app, service_role_token="") -> ApiClient:
    return ApiClient(app.test_client(), service_role_token, prefix="/auth/v1")


@pytest.fixture
def header_api(make_app, service_role_token):
    return _api(make_app(**{"rate_limit.header": "X-Client", "rate_limit.verify": 2}),
                service_role_token)


def test_the_guard_answers_429_with_retry_after_once_a_client_used_its_bucket(header_api):
    # Wrong codes: the limiter counts requests, whatever their outcome.
    first, second = _verify(header_api, "203.0.113.7"), _verify(header_api, "203.0.113.7")
    assert first.status_code == second.status_code == 403
    refused = _verify(header_api, "203.0.113.7")
    assert refused.status_code == 429
    assert refused.get_json() == {"code": "over_request_rate_limit",
                                  "message": "Request rate limit reached"}
    assert refused.headers["x-sb-error-code"] == "over_request_rate_limit"
    assert 290 <= int(refused.headers["Retry-After"]) <= 300


def test_with_the_header_each_client_counts_by_its_first_value(header_api):
    for _ in range(2):
        assert _verify(header_api, "198.51.100.1, 10.0.0.1").status_code == 403
    assert _verify(header_api, "198.51.100.1, 10.0.0.2").status_code == 429
    # Another header value is another client, even from the same address.
    assert _verify(header_api, "198.51.100.2").status_code == 403


def test_a_request_without_the_header_counts_by_its_address(header_api):
    # GoTrue lets such requests through unlimited; here they count by the client address.
    for _ in range(2):
        assert _verify(header_api, None, "192.0.2.50").status_code == 403
    assert _verify(header_api, None, "192.0.2.50").status_code == 429
    assert _verify(header_api, None, "192.0.2.51").status_code == 403


def test_without_the_header_setting_clients_count_by_address(make_app):
    api = _api(make_app(**{"rate_limit.verify": 3}))
    for _ in range(3):
        assert _verify(api, "spoofed-1", "192.0.2.60").status_code == 403
    # The header is not trusted when it is not configured: a new value changes nothing.
    assert _verify(api, "spoofed-2", "192.0.2.60").status_code == 429
    assert _verify(api, None, "192.0.2.61").status_code == 403


def test_the_client_behind_a_trusted_proxy_is_its_forwarded_address(make_app):
    api = _api(make_app(**{"rate_limit.verify": 1}))

    def through_proxy(client_address: str):
        # The default trusted proxy is loopback (gunicorn's FORWARDED_ALLOW_IPS default).
        return api.client.post("/verify", headers={**api.headers(),
                                                   "X-Forwarded-For": client_address},
                               environ_base={"REMOTE_ADDR": "127.0.0.1"},
                               json={"type": "email", "email": "x@example.com",
                                     "token": "123456"})

    assert through_proxy("198.51.100.20").status_code == 403
    assert through_proxy("198.51.100.20").status_code == 429
    assert through_proxy("198.51.100.21").status_code == 403


def test_route_families_have_their_own_buckets(make_app):
    api = _api(make_app(**{"rate_limit.verify": 1}))
    assert _verify(api).status_code == 403
    assert _verify(api).status_code == 429
    # /otp is the OTP bucket (30 per five minutes by default).
    response = api.post("/otp", json={"email": "someone@example.com", "create_user": False})
    assert response.status_code == 422
    assert response.get_json()["code"] == "otp_disabled"


def test_anonymous_sign_ins_have_their_own_hourly_bucket(make_app):
    app = make_app(**{"external.anonymous_users_enabled": True,
                      "rate_limit.anonymous_users": 2, "rate_limit.otp": 30})
    api = _api(app)
    assert [api.post("/signup", json={}).status_code for _ in range(3)] == [200, 200, 429]
    assert len(table_rows(app, sa.select(User.id).where(User.is_anonymous.is_(True)))) == 2
    # Signing up with an address is the OTP bucket, still open.
    assert api.signup(f"ada-{uuid.uuid4().hex[:6]}@example.com").status_code == 200
    # Another client has its own anonymous budget.
    other = api.client.post("/auth/v1/signup", json={}, headers=api.headers(),
                            environ_base={"REMOTE_ADDR": "192.0.2.70"})
    assert other.status_code == 200


# --- the password-failure throttle --------------------------------------------------------------


def _login(api: ApiClient, email: str, password: str, address: str):
    return api.client.post("/auth/v1/token?grant_type=password", headers=api.headers(),
                           environ_base={"REMOTE_ADDR": address},
                           json={"email": email, "password": password})


@pytest.fixture
def owner(make_app):
    app = make_app(**{"mailer.autoconfirm": True, "rate_limit.token_refresh": 1000})
    api = _api(app)
    email = f"owner-{uuid.uuid4().hex[:8]}@example.com"
    api.session(email, "the-owners-password")
    return api, email


def test_one_client_gets_a_few_wrong_passwords_then_429_even_with_the_right_one(owner):
    api, email = owner
    for _ in range(10):
        response = _login(api, email, "guess", "203.0.113.10")
        assert response.status_code == 400
        assert response.get_json()["code"] == "invalid_credentials"
    refused = _login(api, email, "the-owners-password", "203.0.113.10")
    assert refused.status_code == 429
    assert refused.get_json()["code"] == "over_request_rate_limit"
    assert 890 <= int(refused.headers["Retry-After"]) <= 900
    # The owner, from their own address, is not held back by the guesser's misses.
    assert _login(api, email, "the-owners-password", "198.51.100.10").status_code == 200


def test_guessing_from_rotating_addresses_stops_after_100_evaluated(owner):
    # security.md 9: 101 wrong passwords from rotating addresses: at most 100 evaluated.
    api, email = owner
    codes = [_login(api, email, f"guess-{n}", f"10.1.{n // 250}.{n % 250}").status_code
             for n in range(101)]
    assert codes[:100] == [400] * 100 and codes[100] == 429
    # Even the right password is not evaluated now, from a fresh address...
    assert _login(api, email, "the-owners-password", "198.51.100.99").status_code == 429
    # ...but the owner still gets in another way: a magic link (or recovery) is unaffected.
    response = api.post("/otp", json={"email": email})
    assert response.status_code == 200, response.get_json()


def test_unknown_accounts_are_throttled_alike_so_the_answer_tells_nothing(make_app):
    api = _api(make_app(**{"rate_limit.password_failures_per_client": 2}))
    nobody = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    codes = [_login(api, nobody, "guess", "203.0.113.11").status_code for _ in range(3)]
    assert codes == [400, 400, 429]


def test_a_success_forgets_the_clients_own_misses(owner):
    api, email = owner
    for _ in range(9):
        _login(api, email, "typo", "203.0.113.12")
    assert _login(api, email, "the-owners-password", "203.0.113.12").status_code == 200
    assert [_login(api, email, "typo", "203.0.113.12").status_code for _ in range(10)] == (
        [400] * 10)


def test_the_right_password_signs_in_while_the_counter_storage_is_down(make_app, closed_port):
    # Forgetting the client's misses after a success used to raise: a 500 for every password
    # sign-in during a Redis outage (tests/faults/test_service_shared_redis.py).
    app = make_app(**{"mailer.autoconfirm": True,
                      "rate_limit.storage_url": f"redis://127.0.0.1:{closed_port}/0"})
    api = _api(app)
    email = f"outage-{uuid.uuid4().hex[:8]}@example.com"
    api.session(email, "the-owners-password")
    assert _login(api, email, "typo", "203.0.113.13").status_code == 400
    signed_in = _login(api, email, "the-owners-password", "203.0.113.13")
    assert signed_in.status_code == 200, signed_in.get_json()
    assert signed_in.get_json()["user"]["email"] == email


# --- the email budgets --------------------------------------------------------------------------


def _recover(api: ApiClient, email: str, address: str):
    return api.client.post("/auth/v1/recover", headers=api.headers(),
                           environ_base={"REMOTE_ADDR": address}, json={"email": email})


@pytest.fixture
def budget_api(make_mail_app):
    # A roomy global budget, so only the per-client and per-address budgets speak.
    app = make_mail_app(**{"rate_limit.email_sent": "1000", "rate_limit.otp": 1000})
    return _api(app, ""), app


def _confirmed_user(app, email: str) -> None:
    admin = ApiClient(app.test_client(), "", prefix="/auth/v1")
    token = make_jwt({"role": "service_role"})
    response = admin.post("/admin/users", token=token,
                          json={"email": email, "password": "pw-" + uuid.uuid4().hex,
                                "email_confirm": True})
    assert response.status_code == 200, response.get_json()


def test_one_client_cannot_spend_the_servers_email_budget(budget_api, smtp_server):
    api, app = budget_api
    emails = [f"victim-{n}-{uuid.uuid4().hex[:6]}@example.com" for n in range(11)]
    for email in emails:
        _confirmed_user(app, email)
    codes = [_recover(api, email, "203.0.113.30").status_code for email in emails]
    assert codes == [200] * 10 + [429]
    refused = _recover(api, emails[-1], "203.0.113.30")
    assert refused.get_json()["code"] == "over_email_send_rate_limit"
    assert 3590 <= int(refused.headers["Retry-After"]) <= 3600
    # Another client still gets its emails: the server's budget is not spent.
    assert _recover(api, emails[-1], "198.51.100.30").status_code == 200
    assert sum(len(smtp_server.wait_for(email)) for email in emails) == 11


def test_unknown_addresses_spend_the_client_budget_like_known_ones(budget_api):
    api, _ = budget_api
    codes = [_recover(api, f"nobody-{n}-{uuid.uuid4().hex[:6]}@example.com",
                      "203.0.113.31").status_code for n in range(11)]
    assert codes == [200] * 10 + [429]


def test_one_address_receives_at_most_its_hourly_budget(budget_api, smtp_server):
    api, app = budget_api
    email = f"target-{uuid.uuid4().hex[:6]}@example.com"
    _confirmed_user(app, email)
    rt = app.extensions["gotrue"]
    start = rt.now()
    codes = []
    for n in range(6):
        # Past SMTP_MAX_FREQUENCY each time, from a new client each time.
        rt.clock = lambda n=n: start + timedelta(minutes=2 * n)
        codes.append(_recover(api, email, f"10.2.0.{n}").status_code)
    assert codes == [200] * 5 + [429]
    assert len(smtp_server.wait_for(email, 5)) == 5
    assert len(smtp_server.wait_for(email, 6, timeout=0.5)) == 5
