"""Mail end to end through the API: real SMTP servers (plain, STARTTLS + AUTH, a tarpit, a
closed port), templates (built-in, subjects, URL paths, template URLs on a real HTTP server,
database templates per locale), the mail log, and the email budgets (per address and global)."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest

from gotrue_web.extensions import db
from gotrue_web.models import (
    EmailTemplate,
    User,
)
from gotrue_web.services.mail import template_store as email_template_store
from gotrue_web.settings import DEFAULT_SUBJECTS, EmailProviderSettings

from ..conftest import api_for, smtp_settings
from ..factories import (
    PASSWORD,
    count,
    create_user,
    freeze_clock,
    gotrue_hash,
    link_hash,
    mail_log,
    one_time_tokens,
    user_row,
    verify_link,
)
from ..support import smtp as smtp_support
from ..support.mail_servers import SecureSMTPSink, Tarpit, make_certificates

CHALLENGE = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"


# --- transport and the mail log ----------------------------------------------------------------


def test_signup_over_starttls_with_auth_logs_the_sent_email(make_app, servers, tmp_path,
                                                            monkeypatch, service_role_token):
    tls = make_certificates(tmp_path / "tls")
    server = servers(SecureSMTPSink(starttls=tls.server_context(),
                                    credentials=("mailer", "s3cret-pass"), auth_required=True))
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca_file))
    app = make_app(**smtp_settings(server.port, **{
        "smtp.user": "mailer", "smtp.password": "s3cret-pass", "smtp.sender_name": "Acme Auth"}))
    clock = freeze_clock(app)
    response = api_for(app, service_role_token).signup("ada@example.com")
    assert response.status_code == 200
    user_id = response.get_json()["id"]

    [message] = server.wait_for("ada@example.com")
    assert message["From"] == "Acme Auth <auth@example.com>"
    assert message["Subject"] == "Confirm your email address"
    assert server.sessions == [{"tls": True, "authenticated": True, "login": "mailer"}]
    [entry] = mail_log(app)
    assert (entry.status, entry.template, entry.recipient, entry.subject, entry.error,
            str(entry.user_id), entry.created_at) == (
        "sent", "confirmation", "ada@example.com", "Confirm your email address", None,
        user_id, clock.now)


def test_tarpit_fails_within_the_timeout_and_the_mail_log_says_so(
        make_app, servers, service_role_token):
    tarpit = servers(Tarpit())
    app = make_app(**smtp_settings(tarpit.port, **{"smtp.timeout": timedelta(seconds=0.5)}))
    started = time.monotonic()
    response = api_for(app, service_role_token).signup(
        "slow@example.com", code_challenge=CHALLENGE, code_challenge_method="s256")
    # The configured half second, not the 10 s default (the test client waits for the send).
    assert time.monotonic() - started < 5
    # The email goes out after the answer, which does not show the failure.
    assert response.status_code == 200
    [entry] = mail_log(app)
    assert (entry.status, entry.template, entry.recipient, entry.subject) == (
        "failed", "confirmation", "slow@example.com", "Confirm your email address")
    assert entry.error == f"SMTP server 127.0.0.1:{tarpit.port} did not answer within 0.5s"
    # The user whose confirmation failed, for the operator to correlate; its code is forgotten.
    assert str(entry.user_id) == response.get_json()["id"]
    assert user_row(app, "slow@example.com").confirmation_token == ""


def test_smtp_down_is_a_failed_log_entry_not_an_error(make_app, service_role_token, closed_port):
    app = make_app(**smtp_settings(closed_port))
    response = api_for(app, service_role_token).signup("down@example.com")
    assert response.status_code == 200
    [entry] = mail_log(app)
    assert (entry.status, entry.recipient, entry.error) == (
        "failed", "down@example.com",
        f"could not connect to SMTP server 127.0.0.1:{closed_port}: connection refused")


def test_without_smtp_host_nothing_is_sent_and_the_log_says_not_sent(make_app, smtp_server,
                                                                     service_role_token):
    app = make_app(**smtp_settings(None))
    response = api_for(app, service_role_token).signup("quiet@example.com")
    assert response.status_code == 200
    assert user_row(app, "quiet@example.com").confirmation_token
    assert smtp_server.messages == []
    [entry] = mail_log(app)
    assert (entry.status, entry.template, entry.recipient, entry.error) == (
        "not_sent", "confirmation", "quiet@example.com", None)


def test_recover_stays_neutral_when_smtp_is_down(make_app, service_role_token, closed_port):
    admin_app = make_app(**smtp_settings(None))
    create_user(api_for(admin_app, service_role_token), "known@example.com", password=PASSWORD)
    app = make_app(**smtp_settings(closed_port))
    api = api_for(app, service_role_token)
    known = api.post("/recover", json={"email": "known@example.com"})
    unknown = api.post("/recover", json={"email": "nobody@example.com"})
    assert (known.status_code, known.get_json()) == (unknown.status_code,
                                                     unknown.get_json()) == (200, {})
    assert user_row(app, "known@example.com").recovery_token == ""
    [entry] = mail_log(app)
    assert (entry.status, entry.template, entry.recipient) == (
        "failed", "recovery", "known@example.com")


def test_email_outside_the_authorized_addresses_is_refused(make_mail_app, smtp_server,
                                                           service_role_token):
    app = make_mail_app(**{"external.email": EmailProviderSettings(
        authorized_addresses=("team@example.com",))})
    api = api_for(app, service_role_token)
    refused = api.signup("stranger@example.com")
    assert refused.status_code == 400
    assert refused.get_json() == {
        "code": "email_address_not_authorized",
        "message": 'Email address "stranger@example.com" cannot be used as it is not authorized'}
    assert user_row(app, "stranger@example.com") is None
    assert api.signup("Team@Example.com").status_code == 200
    assert [m["To"] for m in smtp_server.wait_for("team@example.com")] == ["team@example.com"]
    assert [entry.recipient for entry in mail_log(app)] == ["team@example.com"]


# --- templates ---------------------------------------------------------------------------------


def test_builtin_templates_for_all_six_kinds(make_mail_app, smtp_server, service_role_token):
    app = make_mail_app()
    api = api_for(app, service_role_token)
    assert api.signup("signup@example.com").status_code == 200
    assert api.admin("POST", "/invite", json={"email": "invitee@example.com"}).status_code == 200
    create_user(api, "magic@example.com", password=PASSWORD)
    assert api.post("/magiclink", json={"email": "magic@example.com"}).status_code == 200
    create_user(api, "lost@example.com", password=PASSWORD)
    assert api.post("/recover", json={"email": "lost@example.com"}).status_code == 200
    create_user(api, "mover@example.com", password=PASSWORD)
    token = api.login("mover@example.com").get_json()["access_token"]
    assert api.put("/user", token=token,
                   json={"email": "moved@example.com"}).status_code == 200
    assert api.get("/reauthenticate", token=token).status_code == 200

    expected = [  # recipient, subject, verify type (None: no link)
        ("signup@example.com", DEFAULT_SUBJECTS["confirmation"], "signup"),
        ("invitee@example.com", DEFAULT_SUBJECTS["invite"], "invite"),
        ("magic@example.com", DEFAULT_SUBJECTS["magic_link"], "magiclink"),
        ("lost@example.com", DEFAULT_SUBJECTS["recovery"], "recovery"),
        ("moved@example.com", DEFAULT_SUBJECTS["email_change"], "email_change"),
    ]
    for recipient, subject, verify_type in expected:
        [message] = smtp_server.wait_for(recipient)
        assert message["Subject"] == subject
        code = smtp_support.code(message)
        query = parse_qs(urlsplit(verify_link(message)).query)
        assert query["type"] == [verify_type]
        assert len(query["token"][0]) == 56 and query["token"] != [gotrue_hash(recipient, code)]
    # The current address gets its own email change confirmation, then the nonce.
    change, nonce = smtp_server.wait_for("mover@example.com", count=2)
    assert change["Subject"] == DEFAULT_SUBJECTS["email_change"]
    assert "mover@example.com" in smtp_support.html_body(change)
    assert "moved@example.com" in smtp_support.html_body(change)
    code = smtp_support.code(nonce)
    assert nonce["Subject"] == f"{code} is your verification code"
    assert smtp_support.links(nonce) == []
    assert sorted(entry.template for entry in mail_log(app)) == sorted([
        "confirmation", "invite", "magic_link", "recovery", "email_change", "email_change",
        "reauthentication"])
    assert {entry.status for entry in mail_log(app)} == {"sent"}


def test_configured_subjects_are_templates_too(make_mail_app, smtp_server, service_role_token):
    app = make_mail_app(**{"mailer.subjects": {
        "confirmation": "Welcome to {{ .SiteURL }}, {{ .Email }}",
        "recovery": "Reset {{ .Email }}"}})
    api = api_for(app, service_role_token)
    api.signup("sub@example.com")
    create_user(api, "reset@example.com", password=PASSWORD)
    api.post("/recover", json={"email": "reset@example.com"})
    [welcome] = smtp_server.wait_for("sub@example.com")
    [reset] = smtp_server.wait_for("reset@example.com")
    assert welcome["Subject"] == "Welcome to http://localhost:3000, sub@example.com"
    assert reset["Subject"] == "Reset reset@example.com"
    assert {entry.subject for entry in mail_log(app)} == {welcome["Subject"], reset["Subject"]}


@pytest.mark.parametrize(("path", "link_base", "route_exists"), [
    ("/verify", "http://auth.example.com/verify", True),
    ("/auth/v1/verify", "http://auth.example.com/auth/v1/verify", True),
    # A relative path resolves against the last segment of the URL, as in GoTrue.
    ("verify", "http://auth.example.com/auth/verify", False),
])
def test_url_paths_resolve_against_api_external_url(make_mail_app, smtp_server, service_role_token,
                                                    path, link_base, route_exists):
    app = make_mail_app(**{
        "api.external_url": "http://auth.example.com/auth/v1",
        "mailer.url_paths": {"confirmation": path, "recovery": path}})
    api = api_for(app, service_role_token)
    api.post("/signup?redirect_to=http://localhost:3000/done",
             json={"email": "paths@example.com", "password": PASSWORD})
    [message] = smtp_server.wait_for("paths@example.com")
    link = verify_link(message)
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == link_base
    assert parse_qs(parts.query)["redirect_to"] == ["http://localhost:3000/done"]
    assert "redirect_to=http://localhost:3000/done" in parts.query
    if route_exists:
        followed = app.test_client().get(f"{parts.path}?{parts.query}")
        assert followed.status_code == 303
        assert "#access_token=" in followed.headers["Location"]
        assert user_row(app, "paths@example.com").email_confirmed_at is not None


def test_magic_link_uses_the_recovery_url_path(make_mail_app, smtp_server, service_role_token):
    app = make_mail_app(**{
        "mailer.url_paths": {"recovery": "/auth/v1/verify", "confirmation": "/verify"}})
    api = api_for(app, service_role_token)
    create_user(api, "magic@example.com", password=PASSWORD)
    api.post("/magiclink", json={"email": "magic@example.com"})
    [message] = smtp_server.wait_for("magic@example.com")
    assert urlsplit(verify_link(message)).path == "/auth/v1/verify"


GOTRUE_STYLE = """<h2>Hi {{ .Data.name }}</h2>
<p>{{ if .Data.vip }}Welcome back, VIP.{{ else }}Welcome.{{ end }}</p>
<p><a href="{{ .ConfirmationURL }}">Confirm</a> for {{ .Email }} on {{ .SiteURL }}</p>
<p>Code: {{ .Token }}</p>
<p>Hash: {{ .TokenHash }}</p>
<p><a href="{{ .SiteURL }}/confirm?token_hash={{ .TokenHash }}&type=email">Direct</a></p>
<p>Then: {{ .RedirectTo }}</p>
"""


def test_url_template_renders_gotrue_syntax_and_is_fetched_once(
        make_mail_app, smtp_server, template_server, service_role_token):
    template_server.pages["/emails/confirm.html"] = GOTRUE_STYLE
    app = make_mail_app(**{
        "mailer.templates": {"confirmation": template_server.url + "/emails/confirm.html"}})
    api = api_for(app, service_role_token)
    api.post("/signup?redirect_to=http://localhost:3000/welcome", json={
        "email": "vip@example.com", "password": PASSWORD, "data": {"name": "Ada", "vip": True}})
    api.signup("plain@example.com", data={"name": "Bob"})

    [vip] = smtp_server.wait_for("vip@example.com")
    [plain] = smtp_server.wait_for("plain@example.com")
    assert template_server.count("/emails/confirm.html") == 1
    row = user_row(app, "vip@example.com")
    [ott] = one_time_tokens(app, row.id).values()
    html = smtp_support.html_body(vip)
    assert "<h2>Hi Ada</h2>" in html and "Welcome back, VIP." in html
    assert f"Code: {smtp_support.code(vip)}" in html
    assert "for vip@example.com on http://localhost:3000" in html
    assert "Then: http://localhost:3000/welcome" in html
    confirm, direct = smtp_support.links(vip)
    [token] = parse_qs(urlsplit(confirm).query)["token"]
    assert f"Hash: {token}" in html and link_hash(token) == ott.token_hash
    assert direct == f"http://localhost:3000/confirm?token_hash={token}&type=email"
    plain_html = smtp_support.html_body(plain)
    assert "<h2>Hi Bob</h2>" in plain_html and "<p>Welcome.</p>" in plain_html
    # The token hash from the template works with POST /verify (GoTrue's SSR pattern).
    verified = api.post("/verify", json={"type": "email", "token_hash": token})
    assert verified.status_code == 200 and verified.get_json()["user"]["email"] == \
        "vip@example.com"


def test_relative_template_url_is_fetched_from_site_url(make_mail_app, smtp_server, template_server,
                                                        service_role_token):
    template_server.pages["/emails/recovery.html"] = "<p>Relative {{ .Token }}</p>"
    app = make_mail_app(site_url=template_server.url,
                        **{"mailer.templates": {"recovery": "/emails/recovery.html"}})
    api = api_for(app, service_role_token)
    create_user(api, "rel@example.com", password=PASSWORD)
    api.post("/recover", json={"email": "rel@example.com"})
    [message] = smtp_server.wait_for("rel@example.com")
    code = smtp_support.code(message)
    assert smtp_support.html_body(message).strip() == f"<p>Relative {code}</p>"
    assert template_server.count("/emails/recovery.html") == 1


def test_slow_template_server_falls_back_to_the_builtin(make_mail_app, smtp_server, template_server,
                                                        service_role_token):
    template_server.stall.add("/slow.html")
    template_server.pages["/slow.html"] = "<p>never arrives</p>"
    app = make_mail_app(**{
        "smtp.timeout": timedelta(seconds=1.5),
        "mailer.templates": {"confirmation": template_server.url + "/slow.html"}})
    response = api_for(app, service_role_token).signup("patient@example.com")
    assert response.status_code == 200
    [message] = smtp_server.wait_for("patient@example.com")
    assert "Confirm my email address" in smtp_support.html_body(message)
    assert template_server.count("/slow.html") == 1


def test_slow_template_server_keeps_the_stale_copy(make_mail_app, smtp_server, template_server,
                                                   service_role_token):
    template_server.pages["/t.html"] = "<p>cached {{ .Token }}</p>"
    app = make_mail_app(**{
        "smtp.timeout": timedelta(seconds=1.5),
        "mailer.templates": {"recovery": template_server.url + "/t.html"}})
    clock = freeze_clock(app)
    api = api_for(app, service_role_token)
    create_user(api, "first@example.com", password=PASSWORD)
    create_user(api, "second@example.com", password=PASSWORD)
    api.post("/recover", json={"email": "first@example.com"})
    template_server.stall.add("/t.html")
    clock.now += timedelta(minutes=11)
    api.post("/recover", json={"email": "second@example.com"})
    [message] = smtp_server.wait_for("second@example.com")
    code = smtp_support.code(message)
    assert smtp_support.html_body(message).strip() == f"<p>cached {code}</p>"
    assert template_server.count("/t.html") == 2


def test_broken_url_template_falls_back_and_logs(make_mail_app, smtp_server, template_server,
                                                 service_role_token, caplog):
    template_server.pages["/broken.html"] = "<p>{{ if .Token }}unterminated</p>"
    app = make_mail_app(**{
        "mailer.templates": {"confirmation": template_server.url + "/broken.html"}})
    with caplog.at_level(logging.WARNING, logger="gotrue_web"):
        response = api_for(app, service_role_token).signup("broken@example.com")
    assert response.status_code == 200
    [message] = smtp_server.wait_for("broken@example.com")
    assert "Confirm my email address" in smtp_support.html_body(message)
    assert "/broken.html unusable, using the built-in" in caplog.text


def test_database_templates_win_and_follow_the_user_locale(make_mail_app, smtp_server,
                                                           template_server, service_role_token):
    template_server.pages["/c.html"] = "<p>from the URL</p>"
    app = make_mail_app(**{
        "mailer.templates": {"confirmation": template_server.url + "/c.html"}})
    with app.app_context():
        now = datetime.now(timezone.utc)
        email_template_store.save("confirmation", "Confirm {{ .Email }}",
                                  '<p>Hello <a href="{{ .ConfirmationURL }}">go</a> {{ .Token }}'
                                  "</p>", now=now, updated_by="op@example.com")
        email_template_store.save("confirmation", "Confirmez {{ .Email }}",
                                  '<p>Bonjour <a href="{{ .ConfirmationURL }}">go</a> {{ .Token }}'
                                  "</p>", now=now, updated_by="op@example.com", locale="fr")
        db.session.commit()
    api = api_for(app, service_role_token)
    api.signup("fr@example.com", data={"locale": "fr_FR"})
    api.signup("en@example.com", data={"locale": "en"})
    [french] = smtp_server.wait_for("fr@example.com")
    [english] = smtp_server.wait_for("en@example.com")
    assert french["Subject"] == "Confirmez fr@example.com"
    assert "<p>Bonjour <a href=" in smtp_support.html_body(french)
    assert english["Subject"] == "Confirm en@example.com"
    assert "<p>Hello <a href=" in smtp_support.html_body(english)
    assert template_server.count("/c.html") == 0
    assert {entry.subject for entry in mail_log(app)} == {"Confirmez fr@example.com",
                                                          "Confirm en@example.com"}


def test_broken_database_template_falls_back_to_the_configured_one(
        make_mail_app, smtp_server, template_server, service_role_token, caplog):
    template_server.pages["/c.html"] = "<p>URL fallback {{ .Token }}</p>"
    app = make_mail_app(**{
        "mailer.templates": {"confirmation": template_server.url + "/c.html"}})
    with app.app_context():
        # Written around save(), which would refuse it (e.g. edited in the database by hand).
        db.session.add(EmailTemplate(kind="confirmation", locale="", subject="Stored",
                                     body="{{ end }}", updated_at=datetime.now(timezone.utc)))
        db.session.commit()
    with caplog.at_level(logging.ERROR, logger="gotrue_web"):
        api_for(app, service_role_token).signup("fallback@example.com")
    [message] = smtp_server.wait_for("fallback@example.com")
    assert smtp_support.html_body(message).strip() == \
        f"<p>URL fallback {smtp_support.code(message)}</p>"
    assert message["Subject"] == DEFAULT_SUBJECTS["confirmation"]
    assert "email template confirmation (database) does not render" in caplog.text


# --- the per-address frequency -----------------------------------------------------------------


def test_second_email_inside_max_frequency_is_429_with_the_wait(make_mail_app, smtp_server,
                                                                service_role_token):
    app = make_mail_app()
    clock = freeze_clock(app)
    api = api_for(app, service_role_token)
    create_user(api, "again@example.com", password=PASSWORD)
    assert api.post("/recover", json={"email": "again@example.com"}).status_code == 200
    token_after_first = user_row(app, "again@example.com").recovery_token

    clock.now += timedelta(seconds=25)
    refused = api.post("/recover", json={"email": "again@example.com"})
    assert refused.status_code == 429
    assert refused.get_json() == {
        "code": "over_email_send_rate_limit",
        "message": "For security purposes, you can only request this after 35 seconds."}
    assert refused.headers["Retry-After"] == "35"
    assert user_row(app, "again@example.com").recovery_token == token_after_first

    clock.now += timedelta(seconds=35)
    assert api.post("/recover", json={"email": "again@example.com"}).status_code == 200
    assert len(smtp_server.wait_for("again@example.com", count=2)) == 2
    assert [entry.status for entry in mail_log(app)] == ["sent", "sent"]


def test_max_frequency_is_configurable(make_mail_app, service_role_token):
    app = make_mail_app(**{"smtp.max_frequency": timedelta(seconds=5)})
    clock = freeze_clock(app)
    api = api_for(app, service_role_token)
    create_user(api, "five@example.com", password=PASSWORD)
    api.post("/recover", json={"email": "five@example.com"})
    clock.now += timedelta(seconds=2)
    refused = api.post("/recover", json={"email": "five@example.com"})
    assert (refused.status_code, refused.headers["Retry-After"]) == (429, "3")


def test_max_frequency_zero_disables_the_spacing(make_mail_app, smtp_server, service_role_token):
    app = make_mail_app(**{"smtp.max_frequency": timedelta(0)})
    freeze_clock(app)
    api = api_for(app, service_role_token)
    create_user(api, "eager@example.com", password=PASSWORD)
    for _ in range(3):
        assert api.post("/recover", json={"email": "eager@example.com"}).status_code == 200
    assert len(smtp_server.wait_for("eager@example.com", count=3)) == 3


# --- the global budget (GOTRUE_RATE_LIMIT_EMAIL_SENT) ------------------------------------------


def _recover_many(api, emails):
    return [api.post("/recover", json={"email": email}) for email in emails]


def test_third_email_in_the_hour_is_refused_with_a_budget_of_2(make_mail_app, smtp_server,
                                                               service_role_token):
    app = make_mail_app(**{"rate_limit.email_sent": "2"})
    clock = freeze_clock(app)
    api = api_for(app, service_role_token)
    emails = [f"user{n}@example.com" for n in range(4)]
    for email in emails:
        create_user(api, email, password=PASSWORD)
    first, second = _recover_many(api, emails[:2])
    clock.now += timedelta(minutes=20)
    [third] = _recover_many(api, emails[2:3])
    assert (first.status_code, second.status_code) == (200, 200)
    assert third.status_code == 429
    assert third.get_json() == {"code": "over_email_send_rate_limit",
                                "message": "email rate limit exceeded"}
    # The oldest email leaves the hour 40 minutes from now.
    assert third.headers["Retry-After"] == str(40 * 60)
    assert user_row(app, emails[2]).recovery_token == ""
    assert [entry.recipient for entry in mail_log(app)] == emails[:2]

    clock.now += timedelta(minutes=40)
    assert _recover_many(api, emails[3:])[0].status_code == 200
    assert len(smtp_server.messages) == 3


def test_budget_refusal_on_signup_leaves_no_user(make_mail_app, service_role_token):
    app = make_mail_app(**{"rate_limit.email_sent": "1"})
    api = api_for(app, service_role_token)
    assert api.signup("one@example.com").status_code == 200
    refused = api.signup("two@example.com")
    assert refused.status_code == 429
    assert refused.get_json()["code"] == "over_email_send_rate_limit"
    assert user_row(app, "two@example.com") is None
    assert count(app, User) == 1


def test_budget_in_the_n_per_duration_form(make_mail_app, service_role_token):
    app = make_mail_app(**{"rate_limit.email_sent": "1/10m"})
    clock = freeze_clock(app)
    api = api_for(app, service_role_token)
    for email in ("a@example.com", "b@example.com"):
        create_user(api, email, password=PASSWORD)
    assert _recover_many(api, ["a@example.com"])[0].status_code == 200
    clock.now += timedelta(minutes=4)
    [refused] = _recover_many(api, ["b@example.com"])
    assert (refused.status_code, refused.headers["Retry-After"]) == (429, "360")
    clock.now += timedelta(minutes=6)
    assert _recover_many(api, ["b@example.com"])[0].status_code == 200


def test_budget_of_zero_blocks_every_email_even_under_autoconfirm(make_mail_app, smtp_server,
                                                                  service_role_token):
    app = make_mail_app(**{"rate_limit.email_sent": "0",
                           "mailer.autoconfirm": True})
    api = api_for(app, service_role_token)
    # Signing up under autoconfirm sends nothing, so it still works.
    assert "access_token" in api.signup("zero@example.com").get_json()
    refused = api.post("/magiclink", json={"email": "zero@example.com"})
    assert refused.status_code == 429
    assert refused.get_json() == {"code": "over_email_send_rate_limit",
                                  "message": "email rate limit exceeded"}
    assert "Retry-After" not in refused.headers
    assert smtp_server.messages == [] and mail_log(app) == []


def test_budget_is_off_under_autoconfirm(make_mail_app, smtp_server, service_role_token):
    app = make_mail_app(**{"rate_limit.email_sent": "1",
                           "mailer.autoconfirm": True})
    api = api_for(app, service_role_token)
    for email in ("x@example.com", "y@example.com", "z@example.com"):
        api.signup(email)
        assert api.post("/magiclink", json={"email": email}).status_code == 200
    assert len(mail_log(app)) == 3 and len(smtp_server.messages) == 3


def test_failed_and_unsent_emails_use_the_budget_shared_by_every_process(
        make_app, make_mail_app, smtp_server, service_role_token, closed_port):
    """Three apps on one database stand for three server processes."""
    budget = {"rate_limit.email_sent": "2"}
    smtp_down = make_app(**smtp_settings(closed_port, **budget))
    no_smtp = make_app(**smtp_settings(None, **budget))
    working = make_mail_app(**budget)
    for app, email in ((smtp_down, "a@example.com"), (no_smtp, "b@example.com"),
                       (working, "c@example.com")):
        create_user(api_for(app, service_role_token), email, password=PASSWORD)
    assert api_for(smtp_down, service_role_token).post(
        "/recover", json={"email": "a@example.com"}).status_code == 200  # neutral
    assert api_for(no_smtp, service_role_token).post(
        "/recover", json={"email": "b@example.com"}).status_code == 200
    refused = api_for(working, service_role_token).post("/recover", json={"email": "c@example.com"})
    assert refused.status_code == 429
    assert refused.get_json()["message"] == "email rate limit exceeded"
    assert smtp_server.messages == []
    assert [(entry.recipient, entry.status) for entry in mail_log(working)] == [
        ("a@example.com", "failed"), ("b@example.com", "not_sent")]


def test_secure_email_change_checks_the_budget_once_for_both_emails(make_mail_app, smtp_server,
                                                                    service_role_token):
    app = make_mail_app(**{"rate_limit.email_sent": "1"})
    api = api_for(app, service_role_token)
    create_user(api, "old@example.com", password=PASSWORD)
    token = api.login("old@example.com").get_json()["access_token"]
    response = api.put("/user", token=token, json={"email": "new@example.com"})
    assert response.status_code == 200
    assert len(smtp_server.wait_for("old@example.com")) == 1
    assert len(smtp_server.wait_for("new@example.com")) == 1
    # Both count: the next email is over the budget.
    refused = api.post("/recover", json={"email": "old@example.com"})
    assert refused.status_code == 429
    assert [entry.template for entry in mail_log(app)] == ["email_change", "email_change"]
