"""The rate limiter (a wrapper around `limits`) against memory and a real Redis, and the route
table's guard: GoTrue's per-client limits apply only when GOTRUE_RATE_LIMIT_HEADER is set."""

from __future__ import annotations

import logging
import uuid

import pytest
import redis
from limits import RateLimitItemPerMinute

from gotrue_web.ratelimit import RateLimiter
from gotrue_web.settings import RateLimitSettings

from .conftest import ApiClient

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="module")
def redis_storage_url():
    """The Redis CI and this machine run; a run that cannot reach it fails, never skips."""
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {REDIS_URL} is unreachable: {exc}")
    finally:
        client.close()
    return REDIS_URL


def _limiter(storage_url: str = "memory://", amount: int = 3) -> RateLimiter:
    return RateLimiter({"otp": RateLimitItemPerMinute(amount, 5)}, storage_url)


@pytest.mark.parametrize("storage", ["memory", "redis"])
def test_a_bucket_allows_its_limit_then_says_how_long_to_wait(storage, request):
    url = request.getfixturevalue("redis_storage_url") if storage == "redis" else "memory://"
    limiter = _limiter(url)
    key = f"client-{uuid.uuid4()}"
    assert [limiter.hit("otp", key) for _ in range(3)] == [None, None, None]
    wait = limiter.hit("otp", key)
    assert wait is not None and 0 < wait <= 300
    # Another client has its own count; clearing a key starts it again.
    assert limiter.hit("otp", f"other-{uuid.uuid4()}") is None
    limiter.clear("otp", key)
    assert limiter.hit("otp", key) is None


def test_redis_counts_are_shared_by_every_worker(redis_storage_url):
    # Two limiters stand for two worker processes: together they get the limit once.
    first, second = _limiter(redis_storage_url, 4), _limiter(redis_storage_url, 4)
    key = f"client-{uuid.uuid4()}"
    results = [limiter.hit("otp", key) for limiter in (first, second, first, second, first)]
    assert results[:4] == [None] * 4
    assert results[4] is not None


def test_an_unconfigured_bucket_never_refuses():
    limiter = _limiter()
    assert all(limiter.hit("verify", "client") is None for _ in range(50))
    assert limiter.limit_of("verify") is None and limiter.limit_of("otp") is not None


def test_a_storage_that_fails_lets_requests_through_and_says_so(caplog):
    # Nothing listens on port 1: every storage call fails.
    limiter = _limiter("redis://127.0.0.1:1/0", amount=1)
    with caplog.at_level(logging.ERROR, logger="gotrue_web.ratelimit"):
        assert [limiter.hit("otp", "client") for _ in range(3)] == [None, None, None]
    assert "rate-limit storage failed" in caplog.text


def test_an_unknown_storage_scheme_is_refused():
    with pytest.raises(ValueError, match="unusable rate-limit storage"):
        RateLimiter({}, "carrier-pigeon://coop")


def test_gotrue_buckets_need_the_rate_limit_header():
    assert RateLimiter.from_settings(RateLimitSettings()).limits == {}
    configured = RateLimiter.from_settings(RateLimitSettings(header="X-Client", verify=2.4,
                                                              token_refresh=150, otp=0.2))
    limits = {bucket: (item.amount, item.get_expiry()) for bucket, item in
              configured.limits.items()}
    # Per five minutes, at least one request.
    assert limits == {"verify": (2, 300), "token": (150, 300), "otp": (1, 300)}


# --- the guard in the route table -------------------------------------------------------------


def _verify(api: ApiClient, client: str | None):
    headers = {"X-Client": client} if client is not None else {}
    return api.post("/verify", headers=headers,
                    json={"type": "email", "email": "nobody@example.com", "token": "123456"})


@pytest.fixture
def limited_api(make_app, service_role_token):
    app = make_app(**{"rate_limit.header": "X-Client", "rate_limit.verify": 2})
    return ApiClient(app.test_client(), service_role_token, prefix="/auth/v1")


def test_the_guard_answers_429_with_retry_after_once_a_client_used_its_bucket(limited_api):
    # Wrong codes: the limiter counts requests, whatever their outcome.
    first, second = _verify(limited_api, "203.0.113.7"), _verify(limited_api, "203.0.113.7")
    assert first.status_code == second.status_code == 403
    refused = _verify(limited_api, "203.0.113.7")
    assert refused.status_code == 429
    assert refused.get_json() == {"code": "over_request_rate_limit",
                                  "message": "Request rate limit reached"}
    assert refused.headers["x-sb-error-code"] == "over_request_rate_limit"
    assert 1 <= int(refused.headers["Retry-After"]) <= 300


def test_the_guard_counts_each_client_by_the_first_value_of_its_header(limited_api):
    for _ in range(2):
        assert _verify(limited_api, "198.51.100.1, 10.0.0.1").status_code == 403
    assert _verify(limited_api, "198.51.100.1, 10.0.0.2").status_code == 429
    assert _verify(limited_api, "198.51.100.2").status_code == 403
    # A request without the header cannot be counted, as in GoTrue.
    assert all(_verify(limited_api, None).status_code == 403 for _ in range(3))


def test_buckets_are_per_route_family(limited_api):
    for _ in range(2):
        _verify(limited_api, "192.0.2.9")
    assert _verify(limited_api, "192.0.2.9").status_code == 429
    # /otp is another bucket (30 per five minutes by default).
    response = limited_api.post("/otp", headers={"X-Client": "192.0.2.9"},
                                json={"email": "someone@example.com", "create_user": False})
    assert response.status_code == 422
    assert response.get_json()["code"] == "otp_disabled"


def test_without_the_header_setting_nothing_is_limited(api):
    for _ in range(40):
        assert _verify(api, "203.0.113.7").status_code == 403
