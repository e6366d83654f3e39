"""The console's settings page: the effective configuration with every secret masked (the real
secret strings must not appear anywhere in the HTML), and a warning for each risky value that
shows when the value is set and not otherwise."""

from __future__ import annotations

import base64
import json
import re
import secrets
from urllib.parse import urlsplit

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from gotrue_web.console.operations import operators, settings_report
from gotrue_web.extensions import db

from .conftest import OPERATOR_EMAIL, OPERATOR_PASSWORD

SAFE = {
    "site_url": "https://app.example.com",
    "api.external_url": "https://auth.example.com",
    "jwt.secret": "s" * 48,
    "smtp.host": "127.0.0.1",
    "smtp.port": 2525,
    "smtp.admin_email": "auth@example.com",
    "mailer.autoconfirm": False,
    "mailer.otp_exp": 3600,
    "password.min_length": 12,
    "uri_allow_list": ("https://app.example.com/**", "https://*.example.com/callback"),
    # The default: a counter file every worker shares (the tests' memory:// is flagged).
    "rate_limit.storage_url": "",
}
WARNING_TITLES = {
    "autoconfirm": "Email addresses are confirmed without a check",
    "smtp": "Mail is not sent",
    "short_secret": "The JWT secret is short",
    "allow_list": "is too broad",
    "signed_refresh": "Signed refresh tokens without a reuse interval",
}
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def settings_page(make_app, **overrides) -> str:
    """The settings page of an app built with SAFE plus ``overrides``, as an operator sees it
    (over HTTPS when the app's external URL is)."""
    app = make_app(**{**SAFE, **overrides})
    return signed_in_page(app)


def signed_in_page(app, before_page=None) -> str:
    with app.app_context():
        if operators.find(OPERATOR_EMAIL) is None:
            operators.create(app.extensions["gotrue"], OPERATOR_EMAIL, OPERATOR_PASSWORD)
            db.session.commit()
    external = app.extensions["gotrue"].settings.api.external_url
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(external))
    client = app.test_client()
    options = {"base_url": origin, "headers": {"Referer": origin + "/console/login"}}
    login = client.get("/console/login", base_url=origin).get_data(as_text=True)
    response = client.post("/console/login", data={
        "email": OPERATOR_EMAIL, "password": OPERATOR_PASSWORD,
        "csrf_token": _CSRF.search(login).group(1)}, **options)
    assert response.status_code == 303, response.get_data(as_text=True)
    if before_page:
        before_page(app)
    response = client.get("/console/settings", base_url=origin)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def warnings_section(page: str) -> str:
    start = page.index('id="settings-warnings"')
    return page[start:page.index("</section>", start)]


def shown_warnings(page: str) -> set[str]:
    section = warnings_section(page)
    return {name for name, title in WARNING_TITLES.items() if title in section}


def value_of(page: str, name: str) -> str:
    match = re.search(rf'<td class="mono">{re.escape(name)}</td>\s*<td>(.*?)</td>', page, re.S)
    assert match, name
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(1))).strip()


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# --- secrets -------------------------------------------------------------------------------------


def _private_jwks() -> tuple[list[dict], list[str]]:
    """An RSA signing key, an EC verification key and a shared oct key; and every private
    member's value, none of which may be shown."""
    rsa_jwk = json.loads(RSAAlgorithm.to_jwk(rsa.generate_private_key(65537, 2048)))
    ec_jwk = json.loads(ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1())))
    oct_jwk = {"kty": "oct", "k": _b64url(secrets.token_bytes(32))}
    rsa_jwk.update(kid="rsa-key", alg="RS256", key_ops=["sign", "verify"])
    ec_jwk.update(kid="ec-key", alg="ES256", key_ops=["verify"])
    oct_jwk.update(kid="oct-key", alg="HS256", key_ops=["verify"])
    private = [rsa_jwk[name] for name in ("d", "p", "q", "dp", "dq", "qi")]
    private += [ec_jwk["d"], oct_jwk["k"]]
    return [rsa_jwk, ec_jwk, oct_jwk], private


def test_no_secret_appears_in_the_page(make_app):
    jwt_secret = "jwt-" + secrets.token_urlsafe(40)
    smtp_password = "smtp-" + secrets.token_urlsafe(20)
    database_password = "db-" + secrets.token_urlsafe(20)
    template_password = "tpl-" + secrets.token_urlsafe(12)
    template_token = "tok-" + secrets.token_urlsafe(12)
    jwks, private_parts = _private_jwks()
    app = make_app(**{
        **SAFE, "jwt.secret": jwt_secret, "jwt.keys": tuple(jwks),
        "smtp.user": "mailer-account", "smtp.password": smtp_password,
        "mailer.templates": {"invite":
                             f"https://tpl:{template_password}@templates.example.com/i.html"
                             f"?access_token={template_token}&v=2"},
    })

    def point_at_a_database_with_a_password(app):
        # The engine keeps the test database; the page reads the settings it shows, here a
        # URL with a password in its user part and in a libpq-style query parameter.
        runtime = app.extensions["gotrue"]
        runtime.settings = runtime.settings.replace(**{"db.url": (
            f"postgresql://gotrue:{database_password}@db.internal:5432/auth"
            f"?sslmode=require&password={database_password}")})

    page = signed_in_page(app, before_page=point_at_a_database_with_a_password)
    forbidden = [jwt_secret, smtp_password, database_password, template_password,
                 template_token, *private_parts]
    for secret in forbidden:
        assert secret not in page
        # Nor a recognisable part of it (the first half is enough to brute-force the rest).
        assert secret[: len(secret) // 2] not in page

    assert value_of(page, "jwt.secret").startswith(f"hidden set, {len(jwt_secret)} bytes")
    assert value_of(page, "smtp.password") == f"hidden set, {len(smtp_password)} bytes"
    assert value_of(page, "smtp.user").startswith("mailer-account")
    database = value_of(page, "db.url")
    assert "gotrue:***@db.internal:5432/auth" in database
    assert "sslmode=require" in database and "password=***" in database
    template = value_of(page, "mailer.templates.invite")
    assert template.startswith("hidden https://tpl:***@templates.example.com/i.html"
                               "?access_token=***&amp;v=2")
    # Keys show their public facts only.
    rsa_row = value_of(page, "jwt.keys[rsa-key]")
    assert "RS256" in rsa_row and "sign/verify" in rsa_row
    assert settings_report.jwk_thumbprint(jwks[0]) in rsa_row
    assert settings_report.jwk_thumbprint(jwks[1]) in value_of(page, "jwt.keys[ec-key]")
    assert "shared secret, 32 bytes" in value_of(page, "jwt.keys[oct-key]")


def test_database_encryption_keys_never_appear(make_app):
    from gotrue_web.settings.security import DBEncryption

    keys = {"k1": secrets.token_bytes(32), "k2": secrets.token_bytes(32)}
    page = settings_page(make_app, **{"security.db_encryption": DBEncryption(
        encrypt=True, key_id="k2", keys=tuple(keys.items()))})
    for key in keys.values():
        for spelling in (repr(key), _b64url(key), base64.b64encode(key).decode(), key.hex()):
            assert spelling[: len(spelling) // 2] not in page
    assert value_of(page, "security.db_encryption.keys").startswith("hidden k1=***, k2=***")
    assert value_of(page, "security.db_encryption.key_id").startswith("k2")
    assert value_of(page, "security.db_encryption.encrypt").startswith("on")


def test_unset_secrets_say_so(make_app):
    page = settings_page(make_app)
    assert value_of(page, "smtp.password") == "hidden not set"
    assert value_of(page, "jwt.keys").startswith("none (HS256 with GOTRUE_JWT_SECRET)")


def test_the_page_shows_the_effective_values_and_their_variables(make_app):
    page = settings_page(make_app, **{"jwt.exp": 900})
    assert "jwt.exp" in page and value_of(page, "jwt.exp").startswith("900")
    assert "Differs from the default" in page
    assert "<code>GOTRUE_JWT_EXP</code>" in page
    assert value_of(page, "site_url").startswith("https://app.example.com")
    assert value_of(page, "smtp.host").startswith("127.0.0.1")


# --- warnings ------------------------------------------------------------------------------------


def test_a_safe_configuration_has_no_warning(make_app):
    page = settings_page(make_app)
    assert shown_warnings(page) == set()
    assert "Nothing risky found in this configuration." in warnings_section(page)


@pytest.mark.parametrize("overrides, warning", [
    ({"mailer.autoconfirm": True}, "autoconfirm"),
    # A public site with the API on localhost is still production.
    ({"mailer.autoconfirm": True, "api.external_url": "http://localhost:9999"}, "autoconfirm"),
    ({"smtp.host": "", "smtp.admin_email": ""}, "smtp"),
    ({"jwt.secret": "x" * 31}, "short_secret"),
    ({"jwt.secret": "correct horse battery"}, "short_secret"),
    ({"uri_allow_list": ("*",)}, "allow_list"),
    ({"uri_allow_list": ("**",)}, "allow_list"),
    ({"uri_allow_list": ("https://app.example.com/**", "https://*")}, "allow_list"),
    ({"uri_allow_list": ("https://**",)}, "allow_list"),
    ({"uri_allow_list": ("http*://**",)}, "allow_list"),
    ({"uri_allow_list": ("*://app.example.com/**",)}, "allow_list"),
    # '**' crosses '/', so the host can be anything: https://attacker.example/.example.com/
    ({"uri_allow_list": ("https://**.example.com/**",)}, "allow_list"),
    # '*' glued to the domain accepts https://attackerexample.com/
    ({"uri_allow_list": ("https://*example.com/**",)}, "allow_list"),
    # Any site under a top-level domain.
    ({"uri_allow_list": ("https://*.com/**",)}, "allow_list"),
    ({"uri_allow_list": ("https://app.example.*/**",)}, "allow_list"),
])
def test_each_risky_value_is_flagged(make_app, overrides, warning):
    page = settings_page(make_app, **overrides)
    assert shown_warnings(page) == {warning}
    assert 'class="card danger"' in page


def test_signed_refresh_tokens_without_a_reuse_interval_are_a_warning(make_app):
    page = settings_page(make_app, **{"security.refresh_token_algorithm_version": 2})
    section = warnings_section(page)
    assert shown_warnings(page) == {"signed_refresh"}
    assert 'class="warning warn"' in section
    assert "GOTRUE_SECURITY_REFRESH_TOKEN_REUSE_INTERVAL" in section


@pytest.mark.parametrize("overrides", [
    {"security.refresh_token_reuse_interval": 10},
    {"security.refresh_token_allow_reuse": True},
    {"security.refresh_token_rotation_enabled": False},
])
def test_signed_refresh_tokens_with_reuse_covered_are_not_flagged(make_app, overrides):
    page = settings_page(make_app, **{"security.refresh_token_algorithm_version": 2,
                                      **overrides})
    assert "signed_refresh" not in shown_warnings(page)


def test_the_warning_names_the_entry_and_the_variable(make_app):
    section = warnings_section(settings_page(make_app, uri_allow_list=(
        "https://app.example.com/**", "https://*")))
    assert "The redirect allow-list entry &#39;https://*&#39; is too broad" in section
    assert "app.example.com/**&#39; is too broad" not in section
    assert "<code>GOTRUE_URI_ALLOW_LIST</code>" in section
    section = warnings_section(settings_page(make_app, **{"jwt.secret": "x" * 20}))
    assert "It is 20 bytes" in section and "<code>GOTRUE_JWT_SECRET</code>" in section


@pytest.mark.parametrize("overrides", [
    # Autoconfirm on a machine of one's own is how development works.
    {"mailer.autoconfirm": True, "site_url": "http://localhost:3000",
     "api.external_url": "http://127.0.0.1:9999"},
    {"jwt.secret": "x" * 32},
    {"uri_allow_list": ()},
    {"uri_allow_list": ("https://app.example.com/**", "https://*.example.com/**",
                        "https://app-*.example.com/auth/*", "http://localhost:*/**",
                        "https://example.com/{a,b}/callback", "com.example.app://callback",
                        "https://app.example.com:8443/**")},
])
def test_safe_values_are_not_flagged(make_app, overrides):
    page = settings_page(make_app, **overrides)
    assert shown_warnings(page) & {"autoconfirm", "short_secret", "allow_list"} == set()


def test_smtp_unset_with_autoconfirm_is_a_lesser_warning(make_app):
    page = settings_page(make_app, **{"smtp.host": "", "smtp.admin_email": "",
                                      "mailer.autoconfirm": True, "site_url":
                                      "http://localhost:3000",
                                      "api.external_url": "http://localhost:9999"})
    section = warnings_section(page)
    assert shown_warnings(page) == {"smtp"}
    [item] = [item for item in section.split("<li ")[1:] if "Mail is not sent" in item]
    assert item.startswith('class="warning warn"')
    assert "new users can never confirm" not in section


def test_the_settings_page_is_read_only_and_needs_an_operator(app, anonymous_console, console):
    assert anonymous_console.get("/console/settings").status_code == 303
    assert console.post("/console/settings").status_code == 405


def test_sms_test_codes_are_never_shown(make_app):
    page = settings_page(make_app, **{"sms.test_otp": {"15551234567": "424242"}})
    assert "GOTRUE_SMS_TEST_OTP" in page and "15551234567=***" in page
    assert "424242" not in page
    assert "GOTRUE_SMS_VONAGE_FROM_" not in page


def test_smtp_headers_are_listed_by_name_and_values(make_app):
    page = settings_page(make_app, **{"smtp.headers": (
        ("X-PM-Message-Stream", ("outbound",)), ("X-Tags", ("auth", "$messageType")))})
    assert "GOTRUE_SMTP_HEADERS" in page
    assert "X-PM-Message-Stream: outbound; X-Tags: auth, $messageType" in page


# --- readiness -----------------------------------------------------------------------------------


def readiness_section(page: str) -> str:
    start = page.index('id="settings-readiness"')
    return re.sub(r"\s+", " ", page[start:page.index("</section>", start)])


def check_state(section: str, name: str) -> str:
    match = re.search(rf'<tr data-check="{name}">.*?</td> <td>(.*?)</td>', section)
    assert match, name
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(1))).strip()


def test_the_page_shows_what_ready_answers(make_app):
    page = settings_page(make_app)
    section = readiness_section(page)
    assert 'class="card danger" id="settings-readiness"' not in page
    assert "not ready" not in section
    for name in ("database", "migrations", "rate_limit_storage"):
        assert check_state(section, name) == "OK"
    assert check_state(section, "outbox") == "Empty no email waiting"


def test_an_unreachable_dependency_marks_the_server_not_ready(make_app, closed_port):
    page = settings_page(make_app, **{
        "rate_limit.storage_url": f"redis://127.0.0.1:{closed_port}/0"})
    section = readiness_section(page)
    assert 'class="card danger" id="settings-readiness"' in page
    assert "not ready" in section
    assert check_state(section, "rate_limit_storage") == "Does not answer"
    assert check_state(section, "database") == "OK"


def test_the_outbox_backlog_is_shown(make_app):
    def two_signups(app):
        client = app.test_client()
        for email in ("waiting1@example.com", "waiting2@example.com"):
            response = client.post("/signup", json={"email": email,
                                                    "password": "Strong-Pass-42"})
            assert response.status_code == 200, response.get_data(as_text=True)

    app = make_app(**{**SAFE, "mailer.outbox_dispatcher": "external"})
    section = readiness_section(signed_in_page(app, before_page=two_signups))
    state = check_state(section, "outbox")
    assert state.startswith("2 waiting oldest waiting "), state
    assert 'href="/console/mail"' in section


def test_each_setting_says_where_its_value_came_from(tmp_path):
    """environment, .env or default per row; a variable the catalogue does not honour, set at
    start-up, is listed under "Variables not taking effect"."""
    from gotrue_web.console.operations import settings_report
    from gotrue_web.settings import from_env

    env_file = tmp_path / ".env"
    env_file.write_text("GOTRUE_SMTP_HOST=mail.example.com\n"
                        "GOTRUE_SMTP_ADMIN_EMAIL=admin@example.com\n")
    environ = {"GOTRUE_JWT_SECRET": "x" * 40, "GOTRUE_SITE_URL": "http://localhost:3000",
               "API_EXTERNAL_URL": "http://localhost:9999", "GOTRUE_SMTP_PORT": "2525"}
    settings = from_env(environ, env_file=env_file)
    groups = settings_report.groups(settings)
    found = settings_report.origins(groups, environ=environ, env_file=env_file)
    assert found["GOTRUE_SMTP_PORT"] == "environment"
    assert found["GOTRUE_SMTP_HOST"] == ".env"
    assert found["GOTRUE_SMTP_USER"] == "default"


def test_variables_not_taking_effect_are_listed(console, app):
    from gotrue_web.settings.catalogue.review import review

    app.extensions["gotrue_config_findings"] = review({"GOTRUE_SMTP_PROT": "25"})
    body = console.get("/console/settings").get_data(as_text=True)
    assert "Variables not taking effect" in body
    assert "GOTRUE_SMTP_PROT" in body and "GOTRUE_SMTP_PORT" in body
    app.extensions["gotrue_config_findings"] = []
    body = console.get("/console/settings").get_data(as_text=True)
    assert "Every GOTRUE_ variable set at start-up is honoured" in body
