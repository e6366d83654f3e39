"""The rate limiter (a wrapper around `limits`) against each storage it supports: memory, the
shared SQLite file and a real Redis; and its settings."""

from __future__ import annotations

import logging
import uuid

import pytest
import redis
from limits import RateLimitItemPerMinute

from gotrue_web.ratelimit import (FAIL_CLOSED_WAIT, Bucket, RateLimiter, buckets_from,
                                  default_storage_url, describe_storage)
from gotrue_web.settings import RateLimitSettings, SettingsError, from_env

REDIS_URL = "redis://127.0.0.1:6379/0"
# Nothing listens on port 1: every storage call fails.
DEAD_REDIS_URL = "redis://127.0.0.1:1/0"


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


@pytest.fixture(params=["memory", "sqlite", "redis"])
def storage_url(request, tmp_path):
    if request.param == "redis":
        return request.getfixturevalue("redis_storage_url")
    if request.param == "sqlite":
        return f"sqlite://{tmp_path}/counters.sqlite3"
    return "memory://"


def _limiter(storage_url: str = "memory://", amount: int = 3) -> RateLimiter:
    return RateLimiter({"otp": RateLimitItemPerMinute(amount, 5)}, storage_url)


def test_a_bucket_allows_its_limit_then_says_how_long_to_wait(storage_url):
    limiter = _limiter(storage_url)
    key = f"client-{uuid.uuid4()}"
    assert [limiter.hit("otp", key) for _ in range(3)] == [None, None, None]
    wait = limiter.hit("otp", key)
    assert wait is not None and 290 < wait <= 300
    # Looking does not count; another client has its own count; clearing starts again.
    assert limiter.wait("otp", key) is not None
    assert limiter.hit("otp", f"other-{uuid.uuid4()}") is None
    limiter.clear("otp", key)
    assert limiter.wait("otp", key) is None
    assert limiter.hit("otp", key) is None


def test_the_busiest_keys_and_their_counts_are_listed(storage_url):
    limiter = _limiter(storage_url, amount=5)
    heavy, light = f"heavy/{uuid.uuid4()}", f"light {uuid.uuid4()}"
    for _ in range(4):
        limiter.hit("otp", heavy)
    limiter.hit("otp", light)
    found = {usage.key: (usage.used, usage.limit) for usage in limiter.busiest("otp", 1000)}
    assert found[heavy] == (4, 5) and found[light] == (1, 5)
    top = limiter.busiest("otp", 1000)
    assert top.index(next(u for u in top if u.key == heavy)) < top.index(
        next(u for u in top if u.key == light))
    limiter.clear("otp", heavy)
    assert heavy not in {usage.key for usage in limiter.busiest("otp", 1000)}


@pytest.mark.parametrize("shared", ["sqlite", "redis"])
def test_shared_storages_count_every_worker_together(shared, request, tmp_path):
    # Two limiters on one storage stand for two worker processes: together they get the limit
    # once (tests/live/test_rate_limit_workers.py runs real gunicorn workers).
    url = (request.getfixturevalue("redis_storage_url") if shared == "redis"
           else f"sqlite://{tmp_path}/counters.sqlite3")
    first, second = _limiter(url, 4), _limiter(url, 4)
    key = f"client-{uuid.uuid4()}"
    results = [limiter.hit("otp", key) for limiter in (first, second, first, second, first)]
    assert results[:4] == [None] * 4
    assert results[4] is not None


def test_an_unconfigured_bucket_never_refuses():
    limiter = _limiter()
    assert all(limiter.hit("verify", "client") is None for _ in range(50))
    assert limiter.limit_of("verify") is None and limiter.limit_of("otp") is not None


def test_a_storage_that_fails_counts_in_this_process_and_says_so(caplog):
    limiter = _limiter(DEAD_REDIS_URL, amount=2)
    with caplog.at_level(logging.ERROR, logger="gotrue_web.ratelimit"):
        results = [limiter.hit("otp", "client") for _ in range(4)]
        assert limiter.wait("otp", "client") is not None
        # Another key has its own count.
        assert limiter.hit("otp", "other client") is None
        assert limiter.wait("otp", "yet another") is None
    # The limit still holds, counted in memory: two allowed, then refused until the window ends.
    assert results[:2] == [None, None]
    assert all(wait is not None and 0 < wait <= 300 for wait in results[2:])
    # Said once, not once per request.
    failures = [r for r in caplog.records if "rate-limit storage" in r.getMessage()]
    assert len(failures) == 1
    assert "redis://127.0.0.1:1/0 failed" in failures[0].getMessage()
    assert "counting request limits in this process's memory" in failures[0].getMessage()
    assert limiter.healthy() is False


def test_a_budget_of_things_sent_out_fails_closed(caplog):
    limiter = RateLimiter({"email_address": Bucket(
        "email_address", RateLimitItemPerMinute(5, 60), "", "", fail_closed=True)},
        DEAD_REDIS_URL)
    with caplog.at_level(logging.ERROR, logger="gotrue_web.ratelimit"):
        assert limiter.hit("email_address", "ada@example.com") == FAIL_CLOSED_WAIT
    assert "refusing emails" in caplog.text


def test_an_unknown_storage_scheme_is_refused():
    with pytest.raises(ValueError, match="unusable rate-limit storage"):
        RateLimiter({}, "carrier-pigeon://coop")


def test_gotrue_defaults_and_this_servers_budgets():
    buckets = buckets_from(RateLimitSettings())
    assert {name: (bucket.limit.amount, bucket.limit.get_expiry())
            for name, bucket in buckets.items()} == {
        "verify": (30, 300), "token": (150, 300), "otp": (30, 300), "anonymous": (30, 3600),
        "mfa": (30, 120), "sso": (30, 300), "saml_assertion": (15, 300),
        "oauth_client_register": (30, 900), "web3": (30, 300),
        "passkey": (30, 300),
        "email_client": (10, 3600), "email_address": (5, 3600),
        "password_account": (100, 3600), "password_client": (10, 900),
        "sms_sent": (30, 3600)}
    assert {name for name, bucket in buckets.items() if bucket.fail_closed} == {
        "email_client", "email_address", "sms_sent"}
    # Fractions round, at least one; this server's own budgets are off at 0.
    tuned = buckets_from(RateLimitSettings(verify=2.4, otp=0.2, email_sent_per_client=0,
                                           password_failures=0))
    assert tuned["verify"].limit.amount == 2 and tuned["otp"].limit.amount == 1
    assert "email_client" not in tuned and "password_account" not in tuned
    # GOTRUE_RATE_LIMIT_SMS_SENT: "N/duration" sets the window; "0" sends nothing (no bucket:
    # services/phone/budget.py refuses at once).
    sms = buckets_from(RateLimitSettings(sms_sent="5/10m"))["sms_sent"].limit
    assert (sms.amount, sms.get_expiry()) == (5, 600)
    assert "sms_sent" not in buckets_from(RateLimitSettings(sms_sent="0"))


def test_the_default_storage_is_one_file_per_server_database():
    first = default_storage_url("postgresql://db/auth#auth")
    assert first.startswith("sqlite:///") and first.endswith(".sqlite3")
    assert first == default_storage_url("postgresql://db/auth#auth")
    assert first != default_storage_url("postgresql://db/other#auth")


def test_the_storage_description_hides_credentials():
    assert describe_storage("redis://:s3cret@cache.internal:6380/2") == (
        "redis://cache.internal:6380/2")


BASE_ENV = {"GOTRUE_SITE_URL": "http://localhost:3000", "API_EXTERNAL_URL": "http://localhost",
            "GOTRUE_JWT_SECRET": "x" * 40}


def test_the_settings_are_read_from_gotrue_variables():
    settings = from_env({**BASE_ENV, "GOTRUE_RATE_LIMIT_STORAGE_URL": "redis://127.0.0.1:6379/3",
                         "GOTRUE_RATE_LIMIT_EMAIL_SENT_PER_CLIENT": "4",
                         "GOTRUE_RATE_LIMIT_EMAIL_SENT_PER_ADDRESS": "2",
                         "GOTRUE_RATE_LIMIT_PASSWORD_FAILURES": "50",
                         "GOTRUE_RATE_LIMIT_PASSWORD_FAILURES_PER_CLIENT": "0"},
                        env_file=None).rate_limit
    assert (settings.storage_url, settings.email_sent_per_client, settings.email_sent_per_address,
            settings.password_failures, settings.password_failures_per_client) == (
        "redis://127.0.0.1:6379/3", 4, 2, 50, 0)
    assert from_env(BASE_ENV, env_file=None).rate_limit.storage_url == ""


@pytest.mark.parametrize("value", ["127.0.0.1:6379", "mongodb://db", "sqlite://relative/path",
                                   "memcached://cache:11211"])
def test_an_unusable_storage_url_is_refused_at_start_up(value):
    with pytest.raises(SettingsError, match="GOTRUE_RATE_LIMIT_STORAGE_URL"):
        from_env({**BASE_ENV, "GOTRUE_RATE_LIMIT_STORAGE_URL": value}, env_file=None)


def test_a_negative_budget_is_refused_at_start_up():
    with pytest.raises(SettingsError, match="GOTRUE_RATE_LIMIT_PASSWORD_FAILURES"):
        from_env({**BASE_ENV, "GOTRUE_RATE_LIMIT_PASSWORD_FAILURES": "-1"}, env_file=None)
