"""Live configuration (issue 15): settings changed on the console's Configuration page change
what the API does at once in this app, and within the refresh interval in another app on the
same database; a revert gives the environment's value back; values the environment would
refuse are refused and never stored; each change is audited and readable in the audit log; the
hot paths ask the database nothing more for it; the settings page says which value wins.

Every check goes through real requests: the console with a signed-in operator (CSRF included),
the API with the official clients' headers.
"""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from gotrue_web.models import RuntimeSetting

from ..conftest import ApiClient, api_for, table_rows
from ..factories import audit_entries, statements_sent, unique_email
from .conftest import OPERATOR_EMAIL, ConsoleClient, signed_in
from .support_users import unescape

PAGE = "/console/configuration"
FAST = {"console.live_settings_interval": timedelta(milliseconds=100)}


# --- helpers ------------------------------------------------------------------------------------


def _setup(app) -> tuple[ConsoleClient, ApiClient]:
    return signed_in(app), api_for(app)


def _change(console: ConsoleClient, path: str, value: str, htmx: bool = True):
    return console.post(f"{PAGE}/{path}", {"value": value}, htmx=htmx)


def _revert(console: ConsoleClient, path: str, htmx: bool = True):
    return console.post(f"{PAGE}/{path}/revert", htmx=htmx)


def _toast(response) -> dict:
    return json.loads(response.headers["HX-Trigger"])["toast"]


def _text(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))).strip()


def _block(page: str, path: str) -> str:
    """The text of one setting's block on the page."""
    start = page.index(f'data-setting="{path}"')
    end = page.find('<div class="live-setting', start)
    end = page.find("</section>", start) if end == -1 else min(end, page.find("</section>",
                                                                           start))
    return _text(page[start:end])


def _rows(app) -> dict[str, tuple]:
    return {name: (json.loads(value), by) for name, value, by in table_rows(
        app, sa.select(RuntimeSetting.name, RuntimeSetting.value, RuntimeSetting.updated_by))}


def _signup(api: ApiClient, **body):
    return api.post("/signup", json={"email": unique_email("live"), "password": "Pass-word-123",
                                     **body})


def _verify(api: ApiClient, address: str):
    """A wrong code for nobody, counted by the verify limit (403 under it, then 429)."""
    return api.client.post("/auth/v1/verify", headers=api.headers(),
                           environ_base={"REMOTE_ADDR": address},
                           json={"type": "email", "email": "nobody@example.com",
                                 "token": "123456"})


def _redirect_of(api: ApiClient, redirect_to: str) -> str:
    """Where GET /verify sends the browser with a bad token (the flow's resolved redirect)."""
    response = api.get(f"/verify?type=signup&token=bad&redirect_to={quote(redirect_to)}")
    assert response.status_code == 303, response.get_data(as_text=True)
    return response.headers["Location"]


def _eventually(check, seconds: float = 5.0):
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


# --- the page -----------------------------------------------------------------------------------


def test_page_shows_each_group_with_values_sources_and_what_needs_a_restart(make_app):
    app = make_app(**{"rate_limit.otp": 12.0})
    console, _ = _setup(app)
    response = console.get(PAGE)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for title in ("Redirect allow-list", "Sign-up and sign-in methods",
                  "Multi-factor authentication", "Rate limits", "Needs a restart"):
        assert title in page
    assert 'aria-current="page"' in page and ">Configuration</a>" in page
    verify = _block(page, "rate_limit.verify")
    assert "GOTRUE_RATE_LIMIT_VERIFY" in verify and "In force 30" in verify
    assert "From the default" in verify
    assert "From the settings the server was started with" in _block(page, "rate_limit.otp")
    assert "GOTRUE_JWT_SECRET" in page and "GOTRUE_SITE_URL" in page
    # Every form posts with the CSRF token and works without JavaScript.
    assert page.count('name="csrf_token"') >= 20


def test_the_page_names_the_environment_variable_or_the_env_file_a_value_comes_from(
        make_app, monkeypatch, tmp_path):
    monkeypatch.setenv("GOTRUE_RATE_LIMIT_VERIFY", "40")
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("GOTRUE_RATE_LIMIT_OTP=12\n")
    app = make_app(**{"rate_limit.verify": 40.0, "rate_limit.otp": 12.0})
    console, _ = _setup(app)
    page = console.get(PAGE).get_data(as_text=True)
    assert "In force 40 From the environment variable ( GOTRUE_RATE_LIMIT_VERIFY )" in _block(
        page, "rate_limit.verify")
    assert "In force 12 From the .env file ( GOTRUE_RATE_LIMIT_OTP )" in _block(
        page, "rate_limit.otp")
    _change(console, "rate_limit.verify", "4")
    block = _block(console.get(PAGE).get_data(as_text=True), "rate_limit.verify")
    assert "Environment 40 from the environment variable" in block


def test_the_refresh_interval_is_read_from_the_environment():
    from gotrue_web.settings import console as console_settings
    from gotrue_web.settings.env import EnvReader

    assert console_settings.read(EnvReader({})).live_settings_interval == timedelta(seconds=5)
    assert console_settings.read(EnvReader({
        "GOTRUE_CONSOLE_LIVE_SETTINGS_INTERVAL": "750ms"})).live_settings_interval == timedelta(
            milliseconds=750)


def test_an_htmx_request_for_the_page_gets_it_whole(app):
    console = signed_in(app)
    response = console.get(PAGE, htmx=True)
    assert response.status_code == 200
    assert "Vary" in response.headers and "HX-Request" in response.headers["Vary"]


def test_someone_not_signed_in_is_sent_to_the_login(anonymous_console):
    response = anonymous_console.get(PAGE)
    assert response.status_code in (302, 303)
    assert "/console/login" in response.headers["Location"]


# --- each kind of setting changes the API ---------------------------------------------------------


def test_disabling_sign_up_refuses_sign_ups_and_settings_say_so_until_reverted(app):
    console, api = _setup(app)
    assert api.get("/settings").get_json()["disable_signup"] is False

    response = _change(console, "disable_signup", "true")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert _toast(response)["message"] == "GOTRUE_DISABLE_SIGNUP changed from off to on."
    block = _text(response.get_data(as_text=True))
    assert "In force on" in block and f"changed by {OPERATOR_EMAIL}" in block
    assert "Environment off from the default" in block

    refused = _signup(api)
    assert refused.status_code == 422
    assert refused.get_json()["code"] == "signup_disabled"
    assert api.get("/settings").get_json()["disable_signup"] is True
    assert _rows(app) == {"disable_signup": (True, OPERATOR_EMAIL)}

    response = _revert(console, "disable_signup")
    assert response.status_code == 200
    assert "back to the environment's value: off" in _toast(response)["message"]
    assert _rows(app) == {}
    assert _signup(api).status_code == 200
    assert api.get("/settings").get_json()["disable_signup"] is False


def test_sign_in_method_switches_reach_settings_and_sign_up(make_app):
    app = make_app(**{"mailer.autoconfirm": True})
    console, api = _setup(app)
    assert _change(console, "external.anonymous_users_enabled", "true").status_code == 200
    assert _change(console, "external.email.enabled", "false").status_code == 200
    public = api.get("/settings").get_json()
    assert public["external"]["anonymous_users"] is True
    assert public["external"]["email"] is False
    assert _signup(api).get_json()["code"] == "email_provider_disabled"
    anonymous = api.post("/signup", json={})
    assert anonymous.status_code == 200, anonymous.get_json()
    assert anonymous.get_json()["user"]["is_anonymous"] is True

    assert _change(console, "mailer.autoconfirm", "false").status_code == 200
    assert api.get("/settings").get_json()["mailer_autoconfirm"] is False


def test_an_allow_list_entry_lets_a_redirect_through(app):
    console, api = _setup(app)
    target = "https://app.example.com/welcome"
    assert _redirect_of(api, target).startswith("http://localhost:3000")

    response = _change(console, "uri_allow_list", "https://other.example.org\n"
                                                   "https://*.example.com/**\n")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert _redirect_of(api, target).startswith(target)
    # The same matcher as the API: * stays within one host label.
    assert _redirect_of(api, "https://a.b.example.com/x").startswith("http://localhost:3000")
    assert _rows(app)["uri_allow_list"][0] == ["https://other.example.org",
                                               "https://*.example.com/**"]

    assert _revert(console, "uri_allow_list").status_code == 200
    assert _redirect_of(api, target).startswith("http://localhost:3000")


def test_a_rate_limit_changed_in_the_console_is_enforced(app):
    console, api = _setup(app)
    for _ in range(3):
        assert _verify(api, "198.51.100.7").status_code == 403
    assert _change(console, "rate_limit.verify", "2").status_code == 200
    # A changed limit counts afresh: two more, then the third is refused.
    assert _verify(api, "198.51.100.7").status_code == 403
    assert _verify(api, "198.51.100.7").status_code == 403
    refused = _verify(api, "198.51.100.7")
    assert refused.status_code == 429
    assert refused.get_json()["code"] == "over_request_rate_limit"
    assert _verify(api, "198.51.100.8").status_code == 403
    # The rate limits page shows the new limit.
    assert "verify : 2 per 5m" in _text(console.get("/console/rate-limits").get_data(as_text=True))

    assert _revert(console, "rate_limit.verify").status_code == 200
    assert _verify(api, "198.51.100.7").status_code == 403


def test_disabling_totp_enrolment_refuses_it_with_gotrues_error(app):
    console, api = _setup(app)
    session = api.session()
    assert _change(console, "mfa.totp_enroll_enabled", "false").status_code == 200
    response = api.post("/factors", token=session["access_token"],
                        json={"factor_type": "totp", "friendly_name": "phone app"})
    assert response.status_code == 422
    assert response.get_json()["code"] == "mfa_totp_enroll_not_enabled"

    assert _revert(console, "mfa.totp_enroll_enabled").status_code == 200
    response = api.post("/factors", token=session["access_token"],
                        json={"factor_type": "totp", "friendly_name": "phone app"})
    assert response.status_code == 200, response.get_json()


def test_max_enrolled_factors_changes_live(app):
    console, api = _setup(app)
    session = api.session()
    assert _change(console, "mfa.max_enrolled_factors", "1").status_code == 200
    first = api.post("/factors", token=session["access_token"],
                     json={"factor_type": "totp", "friendly_name": "one"})
    assert first.status_code == 200, first.get_json()
    second = api.post("/factors", token=session["access_token"],
                      json={"factor_type": "totp", "friendly_name": "two"})
    assert second.status_code == 422
    assert second.get_json()["code"] == "too_many_enrolled_mfa_factors"


# --- refusals -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path, value, message", [
    ("rate_limit.verify", "lots", "GOTRUE_RATE_LIMIT_VERIFY: expected a number, got 'lots'"),
    ("rate_limit.verify", "-3", "GOTRUE_RATE_LIMIT_VERIFY: expected a number of at least 0"),
    ("rate_limit.otp", "", "GOTRUE_RATE_LIMIT_OTP: enter a value"),
    ("rate_limit.email_sent", "10/fortnight", "GOTRUE_RATE_LIMIT_EMAIL_SENT: bad duration"),
    ("rate_limit.sms_sent", "ten", "GOTRUE_RATE_LIMIT_SMS_SENT: expected a number or N/duration"),
    ("mfa.max_enrolled_factors", "-1", "GOTRUE_MFA_MAX_ENROLLED_FACTORS: must be at least 0"),
    ("mfa.max_enrolled_factors", "2.5", "GOTRUE_MFA_MAX_ENROLLED_FACTORS: expected an integer"),
    ("disable_signup", "maybe", "GOTRUE_DISABLE_SIGNUP: expected true or false"),
    ("uri_allow_list", "https://{a.example.com", "GOTRUE_URI_ALLOW_LIST: 'https://{a.example.com'"),
])
def test_a_value_the_environment_would_refuse_is_refused_and_not_stored(app, path, value,
                                                                         message):
    console, api = _setup(app)
    response = _change(console, path, value)
    assert response.status_code == 422
    assert _toast(response)["message"].startswith(message), _toast(response)
    page = response.get_data(as_text=True)
    assert message.split(": ")[0] in _text(page)
    assert _rows(app) == {}
    assert audit_entries(app, "configuration_changed") == []
    # What the operator typed is still in the form, to correct.
    assert unescape(value) in unescape(page)


def test_a_plain_form_post_is_refused_with_a_flash_and_a_303(app):
    console, _ = _setup(app)
    response = _change(console, "rate_limit.verify", "lots", htmx=False)
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"{PAGE}#setting-rate_limit-verify")
    page = console.get(PAGE).get_data(as_text=True)
    assert "GOTRUE_RATE_LIMIT_VERIFY: expected a number" in unescape(page)
    assert _rows(app) == {}


def test_turning_phone_enrolment_on_checks_the_mfa_text_as_start_up_does(make_app):
    app = make_app(**{"mfa.phone_template": "Your code is {{ .Code"})
    console, _ = _setup(app)
    response = _change(console, "mfa.phone_enroll_enabled", "true")
    assert response.status_code == 422
    assert _toast(response)["message"].startswith("GOTRUE_MFA_PHONE_TEMPLATE:")
    assert _rows(app) == {}


def test_settings_that_need_a_restart_cannot_be_posted(app):
    console, _ = _setup(app)
    for path in ("jwt.secret", "site_url", "db.url", "smtp.host", "rate_limit.storage_url"):
        assert _change(console, path, "x").status_code == 404
    assert _rows(app) == {}


def test_revert_of_a_setting_not_changed_is_refused(app):
    console, _ = _setup(app)
    response = _revert(console, "rate_limit.otp")
    assert response.status_code == 422
    assert "was not changed in the console" in _toast(response)["message"]
    assert audit_entries(app, "configuration_changed") == []


def test_saving_the_value_in_force_writes_nothing(app):
    console, _ = _setup(app)
    response = _change(console, "rate_limit.otp", "30")
    assert response.status_code == 200
    assert _toast(response)["message"] == "GOTRUE_RATE_LIMIT_OTP is 30 already; nothing changed."
    assert _rows(app) == {}
    assert audit_entries(app, "configuration_changed") == []


# --- plain forms, audit ---------------------------------------------------------------------------


def test_a_plain_form_change_redirects_to_the_setting_with_a_flash(app):
    console, _ = _setup(app)
    response = _change(console, "rate_limit.otp", "7", htmx=False)
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"{PAGE}#setting-rate_limit-otp")
    page = console.get(PAGE).get_data(as_text=True)
    assert "GOTRUE_RATE_LIMIT_OTP changed from 30 to 7." in page
    block = _block(page, "rate_limit.otp")
    assert "In force 7" in block and "Environment 30 from the default" in block
    assert "Revert to environment" in block


def test_changes_and_reverts_are_audited_with_old_and_new_values(app):
    console, _ = _setup(app)
    _change(console, "rate_limit.otp", "7")
    _change(console, "rate_limit.otp", "9")
    _revert(console, "rate_limit.otp")
    entries = audit_entries(app, "configuration_changed")
    assert [entry["traits"] for entry in entries] == [
        {"setting": "rate_limit.otp", "variable": "GOTRUE_RATE_LIMIT_OTP", "old_value": "30",
         "new_value": "7"},
        {"setting": "rate_limit.otp", "variable": "GOTRUE_RATE_LIMIT_OTP", "old_value": "7",
         "new_value": "9"},
        {"setting": "rate_limit.otp", "variable": "GOTRUE_RATE_LIMIT_OTP", "old_value": "9",
         "new_value": "30", "reverted": True},
    ]
    assert {entry["actor_username"] for entry in entries} == {OPERATOR_EMAIL}
    assert {entry["log_type"] for entry in entries} == {"operator"}
    page = unescape(console.get("/console/audit?what=configuration").get_data(as_text=True))
    assert "GOTRUE_RATE_LIMIT_OTP changed from 30 to 7" in page
    assert "GOTRUE_RATE_LIMIT_OTP reverted to the environment's value: 9 → 30" in page


# --- the redirect test box -----------------------------------------------------------------------


def test_the_redirect_test_says_whether_and_which_entry_matches(app):
    console, _ = _setup(app)
    _change(console, "uri_allow_list", "https://*.example.com/**\nmyapp://callback")

    def verdict(url: str, **params) -> str:
        query = "&".join([f"url={quote(url)}", *(f"{k}={quote(v)}" for k, v in params.items())])
        response = console.get(f"{PAGE}/redirect-test?{query}", htmx=True)
        assert response.status_code == 200
        return _text(response.get_data(as_text=True))

    assert "Allowed" in verdict("https://shop.example.com/cart")
    assert "matches the entry https://*.example.com/** of the list in force" in verdict(
        "https://shop.example.com/cart")
    assert "matches the entry myapp://callback" in verdict("myapp://callback")
    assert "on the site URL" in verdict("http://localhost:3000/after")
    assert "Not allowed" in verdict("https://evil.example.org/")
    assert "Refused" in verdict("https://shop.example.com\\@evil.example.org/")
    # A draft (the list being edited, sent along by htmx) is tried without being saved.
    draft = verdict("https://evil.example.org/x", value="https://evil.example.org/**")
    assert "matches the entry https://evil.example.org/** of the list being edited" in draft
    assert "GOTRUE_URI_ALLOW_LIST" in verdict("https://x.example.com", value="https://{x")
    assert _rows(app)["uri_allow_list"][0] == ["https://*.example.com/**", "myapp://callback"]


def test_the_redirect_test_works_as_a_plain_get_form(app):
    console, _ = _setup(app)
    response = console.get(f"{PAGE}/redirect-test?url={quote('https://nowhere.example.net/')}")
    assert response.status_code == 200
    page = _text(response.get_data(as_text=True))
    assert "Configuration" in page and "Not allowed" in page


# --- other processes, hot paths, the settings page ----------------------------------------------


def test_a_second_app_on_the_same_database_sees_the_change_after_its_interval(make_app):
    first, second = make_app(**FAST), make_app(**FAST)
    console = signed_in(first)
    other = api_for(second)
    assert other.get("/settings").get_json()["disable_signup"] is False  # loaded, thread runs

    assert _change(console, "disable_signup", "true").status_code == 200
    assert _eventually(lambda: other.get("/settings").get_json()["disable_signup"] is True)
    assert _signup(other).get_json()["code"] == "signup_disabled"
    assert _change(console, "rate_limit.verify", "1").status_code == 200
    assert _eventually(lambda: second.extensions["gotrue"].limiter.limit_of("verify").amount
                       == 1)
    assert _verify(other, "192.0.2.44").status_code == 403
    assert _verify(other, "192.0.2.44").status_code == 429

    assert _revert(console, "disable_signup").status_code == 200
    assert _eventually(lambda: other.get("/settings").get_json()["disable_signup"] is False)
    assert _signup(other).status_code == 200


def test_an_app_started_after_a_change_serves_it_from_its_first_request(make_app):
    first = make_app()
    console = signed_in(first)
    assert _change(console, "disable_signup", "true").status_code == 200
    later = api_for(make_app())
    assert _signup(later).get_json()["code"] == "signup_disabled"


def test_the_hot_paths_ask_nothing_more_of_the_database(make_app):
    app = make_app(**FAST, **{"mailer.autoconfirm": True})
    console, api = _setup(app)
    session = api.session()
    assert _change(console, "rate_limit.token_refresh", "100").status_code == 200
    with statements_sent(app) as sent:
        assert api.get("/user", token=session["access_token"]).status_code == 200
        refreshed = api.refresh(session["refresh_token"])
        assert refreshed.status_code == 200
        time.sleep(0.3)  # the refresher thread runs meanwhile, on its own thread
    assert not [statement for statement in sent if "runtime_settings" in statement.lower()]


def test_a_row_that_no_longer_reads_is_ignored(app):
    console, api = _setup(app)
    assert _change(console, "rate_limit.otp", "7").status_code == 200
    with app.app_context():
        from gotrue_web.extensions import db

        db.session.execute(sa.update(RuntimeSetting).values(value='"seven"'))
        db.session.add(RuntimeSetting(name="jwt.secret", value='"stolen"',
                                      updated_at=app.extensions["gotrue"].now()
                                      + timedelta(seconds=1), updated_by="someone"))
        db.session.commit()
    rt = app.extensions["gotrue"]
    with app.app_context():
        rt.live_settings.refresh(rt)
    assert rt.settings.rate_limit.otp == 30
    assert rt.settings.jwt.secret != "stolen"
    assert "In force 30" in _block(console.get(PAGE).get_data(as_text=True), "rate_limit.otp")


def test_the_settings_page_says_which_value_wins(app):
    console, _ = _setup(app)
    page = _text(console.get("/console/settings").get_data(as_text=True))
    assert "The environment's value is in force; it can be changed on the Configuration" in page
    _change(console, "rate_limit.otp", "7")
    page = unescape(console.get("/console/settings").get_data(as_text=True))
    row = page[page.index('<td class="mono">rate_limit.otp</td>'):]
    row = _text(row[:row.index("</tr>")])
    assert row.startswith("rate_limit.otp 7")
    assert f"Changed on the Configuration page by {OPERATOR_EMAIL}" in row
    assert "wins over the environment's 30 until reverted there" in row
