"""The console's settings page tells the truth about the captcha: whether it is on, which
provider, and the endpoint tokens are checked at; never the secret. A verify URL over plain
HTTP to another host is flagged."""

from __future__ import annotations

import re
import secrets

from gotrue_web.console.operations import settings_report
from gotrue_web.settings import Settings

from .test_settings_page import settings_page, value_of, warnings_section

HTTP_WARNING = "The captcha secret is sent over plain HTTP"


def _variables(settings: Settings) -> dict[str, tuple[str, str]]:
    [group] = [group for group in settings_report.groups(settings) if group.key == "captcha"]
    assert group.title == "Captcha"
    return {row.name: (row.value, row.variable) for row in group.rows}


def test_the_captcha_group_names_gotrues_variables():
    rows = _variables(Settings())
    assert rows == {
        "captcha.enabled": ("off", "GOTRUE_SECURITY_CAPTCHA_ENABLED"),
        "captcha.provider": ("hcaptcha", "GOTRUE_SECURITY_CAPTCHA_PROVIDER"),
        "captcha.secret": ("not set", "GOTRUE_SECURITY_CAPTCHA_SECRET"),
        "captcha.timeout": ("10s", "GOTRUE_SECURITY_CAPTCHA_TIMEOUT"),
        "captcha.verify_url": ("https://hcaptcha.com/siteverify",
                               "GOTRUE_SECURITY_CAPTCHA_URL (scheme and host)"),
    }


def test_the_page_shows_the_captcha_in_use_and_hides_its_secret(make_app):
    secret = "0x" + secrets.token_hex(20)
    page = settings_page(make_app, **{
        "captcha.enabled": True, "captcha.provider": "turnstile", "captcha.secret": secret,
        "captcha.url": "https://captcha-proxy.example.com"})
    assert value_of(page, "captcha.enabled").startswith("on")
    assert value_of(page, "captcha.provider").startswith("turnstile")
    assert value_of(page, "captcha.verify_url").startswith(
        "https://captcha-proxy.example.com/turnstile/v0/siteverify")
    assert value_of(page, "captcha.secret") == f"hidden set, {len(secret)} bytes"
    assert secret not in page and secret[: len(secret) // 2] not in page
    assert HTTP_WARNING not in warnings_section(page)


def test_the_page_says_when_the_captcha_is_off(make_app):
    page = settings_page(make_app)
    assert value_of(page, "captcha.enabled") == "off"
    assert re.search(r'id="settings-captcha"', page)


def test_a_plain_http_verify_url_is_flagged(make_app):
    page = settings_page(make_app, **{
        "captcha.enabled": True, "captcha.secret": "s3cret-value",
        "captcha.url": "http://captcha-proxy.example.com"})
    section = warnings_section(page)
    assert HTTP_WARNING in section and "GOTRUE_SECURITY_CAPTCHA_URL" in section


def test_a_plain_http_verify_url_on_this_machine_or_while_off_is_not(make_app):
    local = settings_page(make_app, **{
        "captcha.enabled": True, "captcha.secret": "s3cret-value",
        "captcha.url": "http://127.0.0.1:8025"})
    assert HTTP_WARNING not in warnings_section(local)
    off = settings_page(make_app, **{"captcha.url": "http://captcha-proxy.example.com"})
    assert HTTP_WARNING not in warnings_section(off)
