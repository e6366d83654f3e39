"""The parts of the leaked- and common-password checks that need no app: the range API's wire
format (against a loopback server), the shipped common list, and the settings."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gotrue_web.security import common_passwords
from gotrue_web.settings import SettingsError, from_env
from gotrue_web.transports import pwned_passwords
from gotrue_web.transports.pwned_passwords import RangeAPIUnavailable, is_pwned

from ..support.pwned_passwords import RangeAPIServer

# SHA-1("password"), the range API documentation's own example.
PASSWORD_SHA1 = "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8"


def test_the_hash_is_the_uppercase_sha1_of_the_utf8_password():
    assert pwned_passwords.sha1_hex("password") == PASSWORD_SHA1
    # A lone surrogate (invalid UTF-16 in JSON) is hashed as U+FFFD, as it would be stored.
    assert pwned_passwords.sha1_hex("a\ud800") == pwned_passwords.sha1_hex("a\ufffd")


@pytest.mark.parametrize("text, listed", [
    ("1E4C9B93F3F0682250B6CF8331B7EE68FD8:9659365", True),
    # Lower-case hex and CRLF line ends are still a range list.
    ("0000000000000000000000000000000000A:0\r\n1e4c9b93f3f0682250b6cf8331b7ee68fd8:3\r\n", True),
    # Listed with a count of 0 is padding, not a breach.
    ("1E4C9B93F3F0682250B6CF8331B7EE68FD8:0\n", False),
    ("0000000000000000000000000000000000A:12\n\n", False),
])
def test_a_range_list_is_read_line_by_line(text, listed):
    assert pwned_passwords._listed(text, PASSWORD_SHA1[5:]) is listed


@pytest.mark.parametrize("text", [
    "", "\r\n", "<html>proxy login</html>", "1E4C9B93F3F0682250B6CF8331B7EE68FD8",
    "1E4C9B93F3F0682250B6CF8331B7EE68FD8:many", "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8:1",
])
def test_anything_else_is_an_unavailable_api(text):
    with pytest.raises(RangeAPIUnavailable) as raised:
        pwned_passwords._listed(text, PASSWORD_SHA1[5:])
    assert PASSWORD_SHA1[5:] not in str(raised.value)


def test_is_pwned_against_a_loopback_range_api(servers):
    api = servers(RangeAPIServer({"password": 9659365, "hunter2-but-longer": 0}))
    assert is_pwned(api.url, "password", timeout=2, user_agent="test-agent") is True
    assert is_pwned(api.url, "hunter2-but-longer", timeout=2, user_agent="test-agent") is False
    assert is_pwned(api.url, "never-seen-anywhere", timeout=2, user_agent="test-agent") is False
    first = api.requests[0]
    assert first.path == "/range/5BAA6"
    assert first.headers["Add-Padding"] == "true"
    assert first.headers["User-Agent"] == "test-agent"
    assert PASSWORD_SHA1[5:] not in first.raw.upper()


@pytest.mark.parametrize("answer", ["error", "garbage", "empty", "stall"])
def test_a_failing_range_api_raises_without_the_password(servers, answer):
    api = servers(RangeAPIServer({"password": 1}, answer=answer))
    with pytest.raises(RangeAPIUnavailable) as raised:
        is_pwned(api.url, "password", timeout=0.3, user_agent="test-agent")
    message = str(raised.value)
    assert "password" not in message.lower() and "5BAA6" not in message.upper()


def test_an_unreachable_range_api_raises(closed_port):
    with pytest.raises(RangeAPIUnavailable):
        is_pwned(f"http://127.0.0.1:{closed_port}", "password", timeout=1, user_agent="x")


# --- the common list ---------------------------------------------------------------------------


def test_the_common_list_is_loaded_once_and_matches_any_case():
    common = common_passwords.load()
    assert common is common_passwords.load()
    assert len(common) > 25_000
    for password in ("123456", "password", "qwerty123", "Password1", "ILOVEYOU"):
        assert common_passwords.is_common(password, common), password
    for password in ("password-123", "orbit-saffron-meadow-31", "correct horse battery staple"):
        assert not common_passwords.is_common(password, common), password
    assert not common_passwords.is_common("password", frozenset())


# --- settings ----------------------------------------------------------------------------------


def _load(**env):
    return from_env({"GOTRUE_SITE_URL": "https://app.example.com",
                     "API_EXTERNAL_URL": "https://auth.example.com",
                     "GOTRUE_JWT_SECRET": "a-secret-that-is-long-enough-for-hs256-keys", **env},
                    env_file=None)


def test_password_check_settings_default_to_gotrue_and_the_list_on():
    password = _load().password
    assert password.hibp_enabled is False
    assert password.hibp_fail_closed is False
    assert password.hibp_url == "https://api.pwnedpasswords.com"
    assert password.hibp_timeout == timedelta(seconds=5)
    assert password.hibp_user_agent == "gotrue-web"
    assert password.common_list_enabled is True


def test_password_check_settings_are_read():
    password = _load(GOTRUE_PASSWORD_HIBP_ENABLED="true", GOTRUE_PASSWORD_HIBP_FAIL_CLOSED="1",
                     GOTRUE_PASSWORD_HIBP_URL="http://hibp-proxy.internal:8080/pwned/",
                     GOTRUE_PASSWORD_HIBP_TIMEOUT="1500ms",
                     GOTRUE_PASSWORD_HIBP_USER_AGENT="acme-auth",
                     GOTRUE_PASSWORD_COMMON_LIST_ENABLED="false").password
    assert password.hibp_enabled and password.hibp_fail_closed
    assert password.hibp_url == "http://hibp-proxy.internal:8080/pwned"
    assert password.hibp_timeout == timedelta(milliseconds=1500)
    assert password.hibp_user_agent == "acme-auth"
    assert password.common_list_enabled is False


@pytest.mark.parametrize("env, variable", [
    ({"GOTRUE_PASSWORD_HIBP_URL": "ftp://hibp.example.com"}, "GOTRUE_PASSWORD_HIBP_URL"),
    ({"GOTRUE_PASSWORD_HIBP_URL": "hibp.example.com"}, "GOTRUE_PASSWORD_HIBP_URL"),
    ({"GOTRUE_PASSWORD_HIBP_URL": "https://hibp.example.com/?key=1"},
     "GOTRUE_PASSWORD_HIBP_URL"),
    ({"GOTRUE_PASSWORD_HIBP_URL": "https://user:pw@hibp.example.com"},
     "GOTRUE_PASSWORD_HIBP_URL"),
    ({"GOTRUE_PASSWORD_HIBP_TIMEOUT": "soon"}, "GOTRUE_PASSWORD_HIBP_TIMEOUT"),
    ({"GOTRUE_PASSWORD_HIBP_TIMEOUT": "-1s"}, "GOTRUE_PASSWORD_HIBP_TIMEOUT"),
    ({"GOTRUE_PASSWORD_HIBP_FAIL_CLOSED": "maybe"}, "GOTRUE_PASSWORD_HIBP_FAIL_CLOSED"),
    ({"GOTRUE_PASSWORD_COMMON_LIST_ENABLED": "perhaps"},
     "GOTRUE_PASSWORD_COMMON_LIST_ENABLED"),
])
def test_bad_password_check_settings_name_the_variable(env, variable):
    with pytest.raises(SettingsError) as raised:
        _load(**env)
    assert str(raised.value).startswith(variable)
