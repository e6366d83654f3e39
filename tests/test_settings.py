"""Settings read from GoTrue's environment variables: names, defaults, parsing and the errors
that name the variable at fault."""

from __future__ import annotations

import json
from datetime import timedelta

import jwt
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ec

from gotrue_web.settings import (
    EXTERNAL_PROVIDERS,
    Settings,
    SettingsError,
    from_env,
    normalize_database_url,
    parse_required_characters,
    validate,
)

REQUIRED = {
    "GOTRUE_SITE_URL": "https://app.example.com",
    "API_EXTERNAL_URL": "https://auth.example.com",
    "GOTRUE_JWT_SECRET": "a-secret-of-at-least-thirty-two-characters",
}


def load(**variables: str) -> Settings:
    """Settings from REQUIRED plus ``variables``; no .env file."""
    return from_env({**REQUIRED, **variables}, env_file=None)


# --- defaults (api-contract section 9) --------------------------------------------------------


def test_defaults_are_gotrue_defaults():
    settings = load()
    assert settings.site_url == "https://app.example.com"
    assert settings.uri_allow_list == ()
    assert settings.disable_signup is False
    assert settings.api.port == 8081
    assert settings.api.external_url == "https://auth.example.com"
    assert settings.db.url is None  # the SQLite file in the instance folder
    assert settings.db.namespace == "auth"

    external = settings.external
    assert external.anonymous_users_enabled is False
    assert external.phone_enabled is False
    assert external.email.enabled is True
    assert external.email.magic_link_enabled is True
    assert external.email.authorized_addresses == ()
    assert set(external.providers) == set(EXTERNAL_PROVIDERS)
    assert not any(external.providers.values())
    assert external.redirect_url == ""
    assert external.flow_state_expiry == timedelta(seconds=300)

    jwt_settings = settings.jwt
    assert jwt_settings.exp == 3600
    assert jwt_settings.aud == ""
    assert jwt_settings.default_group_name == ""
    assert jwt_settings.admin_roles == ("service_role", "supabase_admin")
    assert jwt_settings.admin_group_name == "admin"
    assert (jwt_settings.issuer, jwt_settings.key_id, jwt_settings.keys,
            jwt_settings.valid_methods) == ("", "", (), ())

    rate_limit = settings.rate_limit
    assert rate_limit.header == ""
    assert (rate_limit.email_sent, rate_limit.sms_sent) == ("30", "30")
    assert (rate_limit.verify, rate_limit.token_refresh, rate_limit.otp) == (30, 150, 30)
    assert rate_limit.anonymous_users == 30

    assert settings.password.min_length == 6
    assert settings.password.required_characters == ()
    assert settings.password.hibp_enabled is False
    assert settings.password.bcrypt_cost == 10

    security = settings.security
    assert security.refresh_token_rotation_enabled is True
    assert security.refresh_token_reuse_interval == 0
    assert security.refresh_token_allow_reuse is False
    assert security.update_password_require_reauthentication is False
    assert security.update_password_require_current_password is False
    assert security.manual_linking_enabled is False

    assert settings.sessions.timebox is None
    assert settings.sessions.inactivity_timeout is None
    assert settings.sessions.single_per_user is False

    smtp = settings.smtp
    assert smtp.host == ""  # no host: mail is silently not sent
    assert smtp.port == 587
    assert smtp.max_frequency == timedelta(minutes=1)

    mailer = settings.mailer
    assert mailer.autoconfirm is False
    assert mailer.secure_email_change_enabled is True
    assert mailer.otp_exp == 86400
    assert mailer.otp_length == 6
    assert mailer.url_paths == {"invite": "/verify", "confirmation": "/verify",
                                "recovery": "/verify", "email_change": "/verify"}
    assert mailer.subjects == {
        "invite": "You've been invited",
        "confirmation": "Confirm your email address",
        "recovery": "Reset your password",
        "magic_link": "Your sign-in link",
        "email_change": "Confirm your new email address",
        "reauthentication": "{{ .Token }} is your verification code",
        "password_changed": "Your password was changed",
        "email_changed": "Your email address was changed",
        "phone_changed": "Your phone number was changed",
        "identity_linked": "A new sign-in method was linked to your account",
        "identity_unlinked": "A sign-in method was removed from your account",
        "mfa_factor_enrolled": "A new verification method was added to your account",
        "mfa_factor_unenrolled": "A verification method was removed from your account",
    }
    assert mailer.templates == {}

    sms = settings.sms
    assert sms.provider == ""
    assert sms.autoconfirm is False
    assert sms.max_frequency == timedelta(minutes=1)
    assert sms.otp_exp == 60
    assert sms.otp_length == 6
    assert sms.template == "Your code is {{ .Code }}"


# --- where values come from -------------------------------------------------------------------


def test_env_file_is_read_and_the_real_environment_wins(tmp_path):
    env_file = tmp_path / "gotrue.env"
    env_file.write_text(
        "# a GoTrue env file\n"
        "GOTRUE_SITE_URL=https://from-file.example.com\n"
        "API_EXTERNAL_URL=https://auth.example.com\n"
        'GOTRUE_JWT_SECRET="secret from the file"\n'
        "GOTRUE_JWT_EXP=600\n"
        "export GOTRUE_MAILER_AUTOCONFIRM=true\n"
    )
    settings = from_env({"GOTRUE_SITE_URL": "https://from-env.example.com"}, env_file=env_file)
    assert settings.site_url == "https://from-env.example.com"  # the environment wins
    assert settings.jwt.secret == "secret from the file"
    assert settings.jwt.exp == 600
    assert settings.mailer.autoconfirm is True
    assert settings.api.external_url == "https://auth.example.com"


def test_missing_env_file_is_not_an_error(tmp_path):
    settings = from_env(REQUIRED, env_file=tmp_path / "absent.env")
    assert settings.site_url == REQUIRED["GOTRUE_SITE_URL"]


def test_explicit_environ_ignores_the_process_environment(monkeypatch):
    monkeypatch.setenv("GOTRUE_JWT_EXP", "99")
    assert from_env(REQUIRED, env_file=None).jwt.exp == 3600


def test_process_environment_is_the_default(monkeypatch):
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GOTRUE_JWT_EXP", "99")
    assert from_env(env_file=None).jwt.exp == 99


def test_unprefixed_database_url_api_external_url_and_port():
    settings = from_env({
        "GOTRUE_SITE_URL": "https://app.example.com",
        "GOTRUE_JWT_SECRET": "s" * 32,
        "API_EXTERNAL_URL": "https://auth.example.com/auth/v1",
        "DATABASE_URL": "postgres://auth_admin:pw@db.internal:5432/postgres",
        "PORT": "9999",
        "DB_NAMESPACE": "gotrue",
    }, env_file=None)
    assert settings.api.external_url == "https://auth.example.com/auth/v1"
    assert settings.db.url == "postgresql+psycopg://auth_admin:pw@db.internal:5432/postgres"
    assert settings.api.port == 9999
    assert settings.db.namespace == "gotrue"


def test_prefixed_names_win_over_unprefixed_ones():
    settings = load(
        GOTRUE_API_PORT="7000", PORT="9999",
        GOTRUE_DB_DATABASE_URL="postgres://a@one/db", DATABASE_URL="postgres://b@two/db",
        GOTRUE_API_EXTERNAL_URL="https://prefixed.example.com",
        GOTRUE_DB_NAMESPACE="first", DB_NAMESPACE="second",
    )
    assert settings.api.port == 7000
    assert settings.db.url == "postgresql+psycopg://a@one/db"
    assert settings.api.external_url == "https://prefixed.example.com"
    assert settings.db.namespace == "first"


def test_empty_value_means_default():
    settings = load(GOTRUE_JWT_EXP="", GOTRUE_SMTP_PORT="", GOTRUE_MAILER_AUTOCONFIRM="")
    assert (settings.jwt.exp, settings.smtp.port, settings.mailer.autoconfirm) == (3600, 587, False)


# --- value syntax -----------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [
    ("true", True), ("TRUE", True), ("True", True), ("t", True), ("1", True), ("yes", True),
    ("false", False), ("FALSE", False), ("f", False), ("0", False), ("no", False),
    (" true ", True),
])
def test_booleans(raw, expected):
    settings = load(GOTRUE_DISABLE_SIGNUP=raw, GOTRUE_EXTERNAL_EMAIL_ENABLED=raw,
                    GOTRUE_EXTERNAL_GITHUB_ENABLED=raw)
    assert settings.disable_signup is expected
    assert settings.external.email.enabled is expected
    assert settings.external.providers["github"] is expected


@pytest.mark.parametrize(("name", "raw"), [
    ("GOTRUE_DISABLE_SIGNUP", "maybe"),
    ("GOTRUE_MAILER_AUTOCONFIRM", "2"),
    ("GOTRUE_EXTERNAL_PHONE_ENABLED", "enabled"),
])
def test_malformed_boolean_names_the_variable(name, raw):
    with pytest.raises(SettingsError, match=f"^{name}: expected true or false"):
        load(**{name: raw})


def test_integers():
    settings = load(GOTRUE_JWT_EXP="7200", GOTRUE_SMTP_PORT="2525", GOTRUE_MAILER_OTP_EXP="900",
                    GOTRUE_SMS_OTP_EXP="120", GOTRUE_PASSWORD_MIN_LENGTH="12",
                    GOTRUE_SECURITY_REFRESH_TOKEN_REUSE_INTERVAL="10",
                    GOTRUE_DB_MAX_POOL_SIZE="20")
    assert settings.jwt.exp == 7200
    assert settings.smtp.port == 2525
    assert settings.mailer.otp_exp == 900
    assert settings.sms.otp_exp == 120
    assert settings.password.min_length == 12
    assert settings.security.refresh_token_reuse_interval == 10
    assert settings.db.pool_size == 20


def test_zero_means_the_default_where_gotrue_says_so():
    settings = load(GOTRUE_JWT_EXP="0", GOTRUE_MAILER_OTP_EXP="0", GOTRUE_SMS_OTP_EXP="0",
                    GOTRUE_DB_MAX_POOL_SIZE="0", GOTRUE_SMTP_MAX_FREQUENCY="0",
                    GOTRUE_SMS_MAX_FREQUENCY="0s")
    assert (settings.jwt.exp, settings.mailer.otp_exp, settings.sms.otp_exp) == (3600, 86400, 60)
    assert settings.db.pool_size == 5
    assert settings.smtp.max_frequency == settings.sms.max_frequency == timedelta(minutes=1)


@pytest.mark.parametrize(("name", "raw", "message"), [
    ("GOTRUE_JWT_EXP", "an hour", "expected an integer"),
    ("GOTRUE_JWT_EXP", "-5", "must be at least 1"),
    ("GOTRUE_SMTP_PORT", "25.5", "expected an integer"),
    ("PORT", "http", "expected an integer"),
    ("GOTRUE_API_PORT", "-1", "must be at least 0"),
    ("GOTRUE_MAILER_OTP_EXP", "1d", "expected an integer"),
    ("GOTRUE_RATE_LIMIT_VERIFY", "many", "expected a number"),
    ("GOTRUE_RATE_LIMIT_TOKEN_REFRESH", "-1", "expected a number of at least 0"),
])
def test_malformed_numbers_name_the_variable(name, raw, message):
    with pytest.raises(SettingsError, match=f"^{name}: {message}"):
        load(**{name: raw})


def test_hibp_bloom_filter_settings():
    password = load().password
    assert (password.hibp_bloom_enabled, password.hibp_bloom_items,
            password.hibp_bloom_false_positives) == (False, 100_000, 0.0000099)
    password = load(GOTRUE_PASSWORD_HIBP_BLOOM_ENABLED="true",
                    GOTRUE_PASSWORD_HIBP_BLOOM_ITEMS="5000",
                    GOTRUE_PASSWORD_HIBP_BLOOM_FALSE_POSITIVES="0.001").password
    assert (password.hibp_bloom_enabled, password.hibp_bloom_items,
            password.hibp_bloom_false_positives) == (True, 5000, 0.001)


@pytest.mark.parametrize(("name", "raw", "message"), [
    ("GOTRUE_PASSWORD_HIBP_BLOOM_ITEMS", "0", "must be at least 1"),
    ("GOTRUE_PASSWORD_HIBP_BLOOM_FALSE_POSITIVES", "1", "a rate between 0 and 1"),
    ("GOTRUE_PASSWORD_HIBP_BLOOM_FALSE_POSITIVES", "0", "a rate between 0 and 1"),
])
def test_hibp_bloom_filter_refusals(name, raw, message):
    with pytest.raises(SettingsError, match=f"^{name}: {message}"):
        load(**{name: raw})


def test_session_tags():
    assert load().sessions.tags == ()
    assert load(GOTRUE_SESSIONS_TAGS="web, mobile,,").sessions.tags == ("web", "mobile")


@pytest.mark.parametrize(("raw", "version"), [("0", 0), ("2", 2), (" 2 ", 2)])
def test_refresh_token_algorithm_version(raw, version):
    assert load(GOTRUE_SECURITY_REFRESH_TOKEN_ALGORITHM_VERSION=raw
                ).security.refresh_token_algorithm_version == version
    assert load().security.refresh_token_algorithm_version == 0


@pytest.mark.parametrize("raw", ["1", "3", "-2"])
def test_an_unknown_refresh_token_algorithm_stops_start_up(raw):
    with pytest.raises(SettingsError, match="^GOTRUE_SECURITY_REFRESH_TOKEN_ALGORITHM_VERSION: "
                                            "expected 0 .* or 2 .*, got "):
        load(GOTRUE_SECURITY_REFRESH_TOKEN_ALGORITHM_VERSION=raw)


def test_rate_limits():
    settings = load(GOTRUE_RATE_LIMIT_VERIFY="12.5", GOTRUE_RATE_LIMIT_EMAIL_SENT="10/1h",
                    GOTRUE_RATE_LIMIT_SMS_SENT="0", GOTRUE_RATE_LIMIT_HEADER="X-Forwarded-For")
    assert settings.rate_limit.verify == 12.5
    assert settings.rate_limit.email_sent == "10/1h"
    assert settings.rate_limit.sms_sent == "0"
    assert settings.rate_limit.header == "X-Forwarded-For"


@pytest.mark.parametrize("raw", ["lots", "10/forever", "10/", "-3", "10/0s"])
def test_malformed_send_rate_names_the_variable(raw):
    with pytest.raises(SettingsError, match="^GOTRUE_RATE_LIMIT_EMAIL_SENT: "):
        load(GOTRUE_RATE_LIMIT_EMAIL_SENT=raw)


@pytest.mark.parametrize(("raw", "expected"), [
    ("1h30m", timedelta(minutes=90)),
    ("300ms", timedelta(milliseconds=300)),
    ("90", timedelta(seconds=90)),  # bare seconds
    ("2m", timedelta(minutes=2)),
])
def test_durations(raw, expected):
    settings = load(GOTRUE_SMTP_MAX_FREQUENCY=raw, GOTRUE_SESSIONS_TIMEBOX=raw,
                    GOTRUE_SESSIONS_INACTIVITY_TIMEOUT=raw)
    assert settings.smtp.max_frequency == expected
    assert settings.sessions.timebox == expected
    assert settings.sessions.inactivity_timeout == expected


def test_zero_session_limits_mean_none():
    settings = load(GOTRUE_SESSIONS_TIMEBOX="0", GOTRUE_SESSIONS_INACTIVITY_TIMEOUT="0s")
    assert settings.sessions.timebox is None and settings.sessions.inactivity_timeout is None


@pytest.mark.parametrize(("name", "raw"), [
    ("GOTRUE_SMTP_MAX_FREQUENCY", "1 minute"),
    ("GOTRUE_SMS_MAX_FREQUENCY", "5x"),
    ("GOTRUE_SESSIONS_TIMEBOX", "-1h"),
    ("GOTRUE_EXTERNAL_FLOW_STATE_EXPIRY_DURATION", "soon"),
    ("GOTRUE_SESSIONS_INACTIVITY_TIMEOUT", "99999999999h"),
])
def test_malformed_durations_name_the_variable(name, raw):
    with pytest.raises(SettingsError, match=f"^{name}: "):
        load(**{name: raw})


@pytest.mark.parametrize(("raw", "expected"), [
    ("600s", timedelta(minutes=10)),
    ("1h", timedelta(hours=1)),
    ("60s", timedelta(seconds=300)),  # raised to the 300s minimum
    ("0", timedelta(seconds=300)),
    ("299", timedelta(seconds=300)),
])
def test_flow_state_expiry_has_a_300s_minimum(raw, expected):
    assert load(GOTRUE_EXTERNAL_FLOW_STATE_EXPIRY_DURATION=raw).external.flow_state_expiry == \
        expected


def test_comma_lists():
    settings = load(
        GOTRUE_URI_ALLOW_LIST="http://localhost:3000/**, myapp://callback ,,https://*.example.com",
        GOTRUE_JWT_ADMIN_ROLES="service_role,dashboard_admin",
        GOTRUE_EXTERNAL_EMAIL_AUTHORIZED_ADDRESSES="a@example.com,b@example.com",
        GOTRUE_JWT_VALID_METHODS="HS256,ES256",
    )
    assert settings.uri_allow_list == (
        "http://localhost:3000/**", "myapp://callback", "https://*.example.com")
    assert settings.jwt.admin_roles == ("service_role", "dashboard_admin")
    assert settings.external.email.authorized_addresses == ("a@example.com", "b@example.com")
    assert settings.jwt.valid_methods == ("HS256", "ES256")


def test_allow_list_commas_inside_braces_belong_to_the_glob():
    settings = load(GOTRUE_URI_ALLOW_LIST="https://{app,admin}.example.com/**,myapp://cb")
    assert settings.uri_allow_list == ("https://{app,admin}.example.com/**", "myapp://cb")


def test_malformed_allow_list_glob_names_the_variable():
    with pytest.raises(SettingsError, match="^GOTRUE_URI_ALLOW_LIST: 'https://{a,b.example.com'"):
        load(GOTRUE_URI_ALLOW_LIST="http://localhost:3000,https://{a,b.example.com")
    with pytest.raises(SettingsError, match="^GOTRUE_URI_ALLOW_LIST: 'https://a}.example.com'"):
        load(GOTRUE_URI_ALLOW_LIST="https://a}.example.com")


@pytest.mark.parametrize(("raw", "expected"), [
    ("abcdefghijklmnopqrstuvwxyz:ABCDEFGHIJKLMNOPQRSTUVWXYZ:0123456789",
     ("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789")),
    ("abc:!@#$%^\\:", ("abc", "!@#$%^:")),  # '\:' is a literal colon
    ("\\:;", (":;",)),
    ("a\\b:c", ("a\\b", "c")),  # other backslashes are ordinary characters
    ("::abc::", ("abc",)),  # empty sets are dropped
    ("abc: ", ("abc", " ")),  # a space can be required
    ("", ()),
])
def test_password_required_characters(raw, expected):
    assert parse_required_characters(raw) == expected


def test_password_required_characters_from_the_environment():
    settings = load(GOTRUE_PASSWORD_REQUIRED_CHARACTERS="abc:0123456789:\\:;")
    assert settings.password.required_characters == ("abc", "0123456789", ":;")


def test_password_min_length_is_at_least_six():
    assert load(GOTRUE_PASSWORD_MIN_LENGTH="4").password.min_length == 6
    assert load(GOTRUE_PASSWORD_MIN_LENGTH="8").password.min_length == 8


@pytest.mark.parametrize(("raw", "expected"), [
    ("4", 6), ("5", 6), ("6", 6), ("8", 8), ("10", 10), ("11", 6), ("0", 6), ("-7", 6),
])
def test_otp_lengths_outside_6_to_10_become_6(raw, expected):
    settings = load(GOTRUE_MAILER_OTP_LENGTH=raw, GOTRUE_SMS_OTP_LENGTH=raw)
    assert settings.mailer.otp_length == settings.sms.otp_length == expected


def test_mailer_subjects_templates_and_paths():
    settings = load(GOTRUE_MAILER_SUBJECTS_MAGIC_LINK="Sign in to Acme",
                    GOTRUE_MAILER_SUBJECTS_EMAIL_CHANGE="New address",
                    GOTRUE_MAILER_TEMPLATES_CONFIRMATION="/templates/confirm.html",
                    GOTRUE_MAILER_URLPATHS_RECOVERY="/auth/v1/verify")
    assert settings.mailer.subjects["magic_link"] == "Sign in to Acme"
    assert settings.mailer.subjects["email_change"] == "New address"
    assert settings.mailer.subjects["invite"] == "You've been invited"
    assert settings.mailer.templates == {"confirmation": "/templates/confirm.html"}
    assert settings.mailer.url_paths["recovery"] == "/auth/v1/verify"
    assert settings.mailer.url_paths["invite"] == "/verify"


# --- JWT keys ---------------------------------------------------------------------------------


def ec_jwk(kid: str | None, key_ops: list[str] | None) -> dict:
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1())))
    if kid is not None:
        jwk["kid"] = kid
    if key_ops is not None:
        jwk["key_ops"] = key_ops
    return jwk


OCT_JWK = {"kty": "oct", "kid": "legacy", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA",
           "key_ops": ["verify"]}


def test_jwt_keys_as_an_array():
    signing = ec_jwk("new", ["sign", "verify"])
    settings = load(GOTRUE_JWT_KEYS=json.dumps([signing, OCT_JWK]))
    assert settings.jwt.keys == (signing, OCT_JWK)


def test_jwt_keys_as_a_jwk_set():
    signing = ec_jwk("new", ["sign", "verify"])
    settings = load(GOTRUE_JWT_KEYS=json.dumps({"keys": [signing]}))
    assert settings.jwt.keys == (signing,)


@pytest.mark.parametrize(("keys", "message"), [
    ([ec_jwk("a", ["verify"]), OCT_JWK], "exactly one key must have \"sign\""),
    ([ec_jwk("a", ["sign"]), ec_jwk("b", ["sign"])], "exactly one key must have \"sign\""),
    ([ec_jwk(None, ["sign"])], "every key needs a kid"),
    ([ec_jwk("", ["sign"])], "every key needs a kid"),
    ([ec_jwk("a", ["sign"]), {**OCT_JWK, "kid": "a"}], "two keys share a kid"),
    ([ec_jwk("a", "sign")], "key_ops of 'a' must be a list"),
    ([{"kty": "EC", "kid": "a", "key_ops": ["sign"], "crv": "P-256", "d": "broken"}],
     "unusable key"),
    ([{"kty": "XYZ", "kid": "a", "key_ops": ["sign"]}], "unusable key"),
    ({"not": "keys"}, "expected a JSON array"),
    ([1, 2], "expected a JSON array"),
])
def test_bad_jwt_keys_name_the_variable(keys, message):
    with pytest.raises(SettingsError, match="^GOTRUE_JWT_KEYS: ") as raised:
        load(GOTRUE_JWT_KEYS=json.dumps(keys))
    assert message in str(raised.value)


def test_jwt_keys_that_are_not_json():
    with pytest.raises(SettingsError, match="^GOTRUE_JWT_KEYS: not valid JSON"):
        load(GOTRUE_JWT_KEYS="[{kty: EC}]")


# --- required values and URLs ------------------------------------------------------------------


@pytest.mark.parametrize(("missing", "named"), [
    ("GOTRUE_SITE_URL", "GOTRUE_SITE_URL"),
    ("API_EXTERNAL_URL", "API_EXTERNAL_URL"),
    ("GOTRUE_JWT_SECRET", "GOTRUE_JWT_SECRET"),
])
def test_required_variables(missing, named):
    environ = {name: value for name, value in REQUIRED.items() if name != missing}
    with pytest.raises(SettingsError, match=f"^{named}: required"):
        from_env(environ, env_file=None)


@pytest.mark.parametrize(("name", "value"), [
    ("GOTRUE_SITE_URL", "app.example.com"),
    ("GOTRUE_SITE_URL", "https://app.example.com:99999"),
    ("API_EXTERNAL_URL", "/auth/v1"),
    ("API_EXTERNAL_URL", "ftp://auth.example.com"),
])
def test_malformed_urls_name_the_variable(name, value):
    with pytest.raises(SettingsError, match=f"^{name}: "):
        load(**{name: value})


def test_site_url_may_use_an_app_scheme():
    assert load(GOTRUE_SITE_URL="io.example.app://callback").site_url == \
        "io.example.app://callback"


@pytest.mark.parametrize("namespace", ["auth; drop", "1auth", "au-th"])
def test_malformed_namespace_names_the_variable(namespace):
    with pytest.raises(SettingsError, match="^DB_NAMESPACE: "):
        load(DB_NAMESPACE=namespace)


def test_malformed_database_url_names_the_variable():
    with pytest.raises(SettingsError, match="^DATABASE_URL: "):
        load(DATABASE_URL="not a database")
    with pytest.raises(SettingsError, match="^GOTRUE_DB_DATABASE_URL: "):
        load(GOTRUE_DB_DATABASE_URL="nosuchdb://x/y")


def test_validate_checks_settings_built_in_code():
    settings = load()
    validate(settings)
    with pytest.raises(SettingsError, match="^GOTRUE_JWT_SECRET: required"):
        validate(settings.replace(**{"jwt.secret": ""}))
    with pytest.raises(SettingsError, match="^GOTRUE_URI_ALLOW_LIST: "):
        validate(settings.replace(uri_allow_list=("https://example.com/}",)))


def test_replace_changes_dotted_group_fields_and_keeps_the_rest():
    settings = load()
    changed = settings.replace(**{"mailer.autoconfirm": True, "jwt.exp": 60},
                               site_url="https://other.example.com")
    assert (changed.mailer.autoconfirm, changed.jwt.exp) == (True, 60)
    assert changed.site_url == "https://other.example.com"
    assert changed.jwt.secret == settings.jwt.secret
    assert (settings.mailer.autoconfirm, settings.jwt.exp) == (False, 3600)


# --- DATABASE_URL forms ----------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [
    ("postgres://auth:secret@db:5432/postgres",
     "postgresql+psycopg://auth:secret@db:5432/postgres"),
    ("postgresql://auth@127.0.0.1/postgres?sslmode=disable",
     "postgresql+psycopg://auth@127.0.0.1/postgres?sslmode=disable"),
    ("POSTGRES://auth:p%40ss@db/postgres", "postgresql+psycopg://auth:p%40ss@db/postgres"),
    # pgx-only options are dropped, libpq ones kept
    ("postgres://a@db/postgres?pool_max_conns=10&application_name=auth&search_path=auth",
     "postgresql+psycopg://a@db/postgres?application_name=auth"),
    # libpq key=value strings
    ("host=db port=5432 user=auth password=secret dbname=postgres sslmode=disable",
     "postgresql+psycopg://auth:secret@db:5432/postgres?sslmode=disable"),
    ("user=auth password='it\\'s a s\\\\ecret' host=db dbname=postgres",
     "postgresql+psycopg://auth:it%27s%20a%20s%5Cecret@db/postgres"),
    ("host = db dbname = postgres", "postgresql+psycopg://db/postgres"),
    ("host=/var/run/postgresql dbname=gotrue",
     "postgresql+psycopg:///gotrue?host=%2Fvar%2Frun%2Fpostgresql"),
    # Go MySQL DSNs
    ("user:pass@tcp(db:3306)/gotrue?parseTime=true&multiStatements=true",
     "mysql+pymysql://user:pass@db:3306/gotrue?charset=utf8mb4"),
    ("root@localhost/gotrue", "mysql+pymysql://root@localhost/gotrue?charset=utf8mb4"),
    ("root@tcp(127.0.0.1)/gotrue", "mysql+pymysql://root@127.0.0.1/gotrue?charset=utf8mb4"),
    ("u:p@ss:w/rd@tcp(db:3306)/gotrue", "mysql+pymysql://u:p%40ss%3Aw%2Frd@db:3306/gotrue"
                                        "?charset=utf8mb4"),
    ("root:pw@unix(/run/mysqld/mysqld.sock)/gotrue?charset=utf8mb4,utf8&timeout=2500ms",
     "mysql+pymysql://root:pw@localhost/gotrue?charset=utf8mb4&connect_timeout=3"
     "&unix_socket=%2Frun%2Fmysqld%2Fmysqld.sock"),
    ("root@tcp([::1]:3307)/gotrue", "mysql+pymysql://root@[::1]:3307/gotrue?charset=utf8mb4"),
    ("root@tcp(db)/gotrue?tls=false", "mysql+pymysql://root@db/gotrue?charset=utf8mb4"
                                      "&ssl_disabled=true"),
    ("root@tcp(db)/gotrue?tls=skip-verify", "mysql+pymysql://root@db/gotrue?charset=utf8mb4"
                                            "&ssl_check_hostname=false"),
    # mysql:// URLs
    ("mysql://root:p%40ss@db:3307/gotrue?parseTime=true",
     "mysql+pymysql://root:p%40ss@db:3307/gotrue?charset=utf8mb4"),
    ("mariadb://root@db/gotrue?charset=latin1&ssl_ca=/ca.pem",
     "mysql+pymysql://root@db/gotrue?charset=latin1&ssl_ca=%2Fca.pem"),
    # SQLAlchemy URLs stay as they are
    ("sqlite:////var/lib/gotrue/gotrue.db", "sqlite:////var/lib/gotrue/gotrue.db"),
    ("sqlite://", "sqlite://"),
    ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
    ("mysql+pymysql://root@h/db", "mysql+pymysql://root@h/db"),
])
def test_normalize_database_url(raw, expected):
    normalized = normalize_database_url(raw)
    if expected is not None:
        assert normalized == expected
    sa.engine.make_url(normalized)


def test_libpq_quoting_survives_into_the_url():
    url = sa.engine.make_url(normalize_database_url(
        "user=auth password='it\\'s a s\\\\ecret' host=db dbname=postgres"))
    assert (url.username, url.password, url.host, url.database) == (
        "auth", "it's a s\\ecret", "db", "postgres")


@pytest.mark.parametrize("raw", [
    "", "   ", "junk", "localhost", "nosuchdb://host/db", "host=db dbname=x 'unterminated",
    "root@tcp(db:3306/gotrue", "root@tcp(db:3306)/gotrue?timeout=forever",
])
def test_normalize_database_url_refuses_junk(raw):
    with pytest.raises(ValueError):
        normalize_database_url(raw)


def test_gotrue_url_forms_reach_the_test_database(test_database):
    """The converted forms of this run's server URL really connect (skipped on SQLite)."""
    if test_database.backend == "sqlite":
        pytest.skip("no server to connect to")
    url = sa.engine.make_url(test_database.url)
    auth = url.username + (f":{url.password}" if url.password else "")
    port = url.port or (5432 if test_database.backend == "postgresql" else 3306)
    if test_database.backend == "postgresql":
        forms = [
            f"postgres://{auth}@{url.host}:{port}/{url.database}",
            f"host={url.host} port={port} user={url.username} dbname={url.database}"
            + (f" password='{url.password}'" if url.password else ""),
        ]
        probe = "SELECT current_database()"
    else:
        forms = [
            f"{auth}@tcp({url.host}:{port})/{url.database}?parseTime=true&multiStatements=true",
            f"mysql://{auth}@{url.host}:{port}/{url.database}?parseTime=true",
            f"mysql://{auth}@{url.host}:{port}/{url.database}?tls=false",
        ]
        probe = "SELECT DATABASE()"
    for form in forms:
        engine = sa.create_engine(normalize_database_url(form))
        try:
            with engine.connect() as connection:
                assert connection.execute(sa.text(probe)).scalar() == url.database, form
        finally:
            engine.dispose()


# --- an existing GoTrue deployment's env file --------------------------------------------------

GOTRUE_ENV_FILE = """\
# Supabase Auth (GoTrue) as deployed with docker compose
GOTRUE_API_HOST=0.0.0.0
GOTRUE_API_PORT=9999
API_EXTERNAL_URL=https://auth.acme.test
GOTRUE_DB_DRIVER=postgres
GOTRUE_DB_DATABASE_URL=postgres://supabase_auth_admin:s3cret@db:5432/postgres?sslmode=disable
DB_NAMESPACE=auth
GOTRUE_SITE_URL=https://app.acme.test
GOTRUE_URI_ALLOW_LIST=https://app.acme.test/**,https://*.preview.acme.test,acme://login-callback
GOTRUE_DISABLE_SIGNUP=false
GOTRUE_LOG_LEVEL=debug
GOTRUE_OPERATOR_TOKEN=unused-by-this-server

GOTRUE_JWT_ADMIN_ROLES=service_role
GOTRUE_JWT_AUD=authenticated
GOTRUE_JWT_DEFAULT_GROUP_NAME=authenticated
GOTRUE_JWT_EXP=1800
GOTRUE_JWT_SECRET="super-secret-jwt-token-with-at-least-32-characters-long"
GOTRUE_JWT_ISSUER=https://auth.acme.test/auth/v1

GOTRUE_EXTERNAL_EMAIL_ENABLED=true
GOTRUE_EXTERNAL_ANONYMOUS_USERS_ENABLED=true
GOTRUE_EXTERNAL_PHONE_ENABLED=true
GOTRUE_EXTERNAL_GITHUB_ENABLED=true
GOTRUE_EXTERNAL_GITHUB_CLIENT_ID=Iv1.0123456789abcdef
GOTRUE_EXTERNAL_GITHUB_SECRET=github-secret
GOTRUE_EXTERNAL_GITHUB_REDIRECT_URI=https://auth.acme.test/auth/v1/callback
GOTRUE_EXTERNAL_GOOGLE_ENABLED=false
GOTRUE_EXTERNAL_REDIRECT_URL=https://app.acme.test/after-oauth
GOTRUE_EXTERNAL_FLOW_STATE_EXPIRY_DURATION=10m

GOTRUE_MAILER_AUTOCONFIRM=false
GOTRUE_MAILER_SECURE_EMAIL_CHANGE_ENABLED=false
GOTRUE_MAILER_OTP_EXP=3600
GOTRUE_MAILER_OTP_LENGTH=8
GOTRUE_MAILER_URLPATHS_INVITE=/auth/v1/verify
GOTRUE_MAILER_URLPATHS_CONFIRMATION=/auth/v1/verify
GOTRUE_MAILER_URLPATHS_RECOVERY=/auth/v1/verify
GOTRUE_MAILER_URLPATHS_EMAIL_CHANGE=/auth/v1/verify
GOTRUE_MAILER_SUBJECTS_CONFIRMATION='Welcome to Acme: confirm your email'
GOTRUE_MAILER_TEMPLATES_RECOVERY=https://app.acme.test/templates/recovery.html

GOTRUE_SMTP_ADMIN_EMAIL=no-reply@acme.test
GOTRUE_SMTP_HOST=smtp.acme.test
GOTRUE_SMTP_PORT=2525
GOTRUE_SMTP_USER=mailer
GOTRUE_SMTP_PASS=mail-password
GOTRUE_SMTP_SENDER_NAME=Acme
GOTRUE_SMTP_MAX_FREQUENCY=30s

GOTRUE_SMS_AUTOCONFIRM=true
GOTRUE_SMS_MAX_FREQUENCY=45s
GOTRUE_SMS_OTP_EXP=300
GOTRUE_SMS_OTP_LENGTH=12
GOTRUE_SMS_PROVIDER=twilio
GOTRUE_SMS_TWILIO_ACCOUNT_SID=AC0123
GOTRUE_SMS_TWILIO_AUTH_TOKEN=twilio-token
GOTRUE_SMS_TEMPLATE="Your Acme code is {{ .Code }}"

GOTRUE_PASSWORD_MIN_LENGTH=10
GOTRUE_PASSWORD_REQUIRED_CHARACTERS=abcdefghijklmnopqrstuvwxyz:ABCDEFGHIJKLMNOPQRSTUVWXYZ:0123456789
GOTRUE_PASSWORD_HIBP_ENABLED=false

GOTRUE_SECURITY_REFRESH_TOKEN_ROTATION_ENABLED=true
GOTRUE_SECURITY_REFRESH_TOKEN_REUSE_INTERVAL=10
GOTRUE_SECURITY_UPDATE_PASSWORD_REQUIRE_REAUTHENTICATION=true
GOTRUE_SECURITY_MANUAL_LINKING_ENABLED=true
GOTRUE_SECURITY_CAPTCHA_ENABLED=false

GOTRUE_SESSIONS_TIMEBOX=24h
GOTRUE_SESSIONS_INACTIVITY_TIMEOUT=8h
GOTRUE_SESSIONS_SINGLE_PER_USER=false

GOTRUE_MFA_TOTP_ENROLL_ENABLED=true
GOTRUE_MFA_MAX_ENROLLED_FACTORS=10

GOTRUE_RATE_LIMIT_HEADER=X-Forwarded-For
GOTRUE_RATE_LIMIT_EMAIL_SENT=100
GOTRUE_RATE_LIMIT_SMS_SENT=50
GOTRUE_RATE_LIMIT_VERIFY=60
GOTRUE_RATE_LIMIT_TOKEN_REFRESH=300
GOTRUE_RATE_LIMIT_OTP=45
GOTRUE_RATE_LIMIT_ANONYMOUS_USERS=20
"""


def test_an_existing_gotrue_env_file_loads(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(GOTRUE_ENV_FILE)
    settings = from_env({}, env_file=env_file)

    assert settings.site_url == "https://app.acme.test"
    assert settings.uri_allow_list == ("https://app.acme.test/**", "https://*.preview.acme.test",
                                       "acme://login-callback")
    assert settings.log_level == "debug"
    assert (settings.api.host, settings.api.port) == ("0.0.0.0", 9999)
    assert settings.api.external_url == "https://auth.acme.test"
    assert settings.db.url == (
        "postgresql+psycopg://supabase_auth_admin:s3cret@db:5432/postgres?sslmode=disable")
    assert settings.db.namespace == "auth"

    assert settings.jwt.admin_roles == ("service_role",)
    assert (settings.jwt.aud, settings.jwt.default_group_name) == ("authenticated",
                                                                   "authenticated")
    assert settings.jwt.exp == 1800
    assert settings.jwt.secret == "super-secret-jwt-token-with-at-least-32-characters-long"
    assert settings.jwt.issuer == "https://auth.acme.test/auth/v1"

    external = settings.external
    assert external.email.enabled and external.anonymous_users_enabled and external.phone_enabled
    assert external.providers["github"] is True and external.providers["google"] is False
    assert external.redirect_url == "https://app.acme.test/after-oauth"
    assert external.flow_state_expiry == timedelta(minutes=10)

    mailer = settings.mailer
    assert mailer.autoconfirm is False and mailer.secure_email_change_enabled is False
    assert (mailer.otp_exp, mailer.otp_length) == (3600, 8)
    assert set(mailer.url_paths.values()) == {"/auth/v1/verify"}
    assert mailer.subjects["confirmation"] == "Welcome to Acme: confirm your email"
    assert mailer.templates == {"recovery": "https://app.acme.test/templates/recovery.html"}

    smtp = settings.smtp
    assert (smtp.host, smtp.port, smtp.user, smtp.password) == (
        "smtp.acme.test", 2525, "mailer", "mail-password")
    assert (smtp.admin_email, smtp.sender_name) == ("no-reply@acme.test", "Acme")
    assert smtp.max_frequency == timedelta(seconds=30)

    sms = settings.sms
    assert (sms.provider, sms.autoconfirm, sms.otp_exp) == ("twilio", True, 300)
    assert sms.otp_length == 6  # 12 is outside 6..10
    assert sms.max_frequency == timedelta(seconds=45)
    assert sms.template == "Your Acme code is {{ .Code }}"

    assert settings.password.min_length == 10
    assert settings.password.required_characters == (
        "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789")

    security = settings.security
    assert security.refresh_token_rotation_enabled is True
    assert security.refresh_token_reuse_interval == 10
    assert security.update_password_require_reauthentication is True
    assert security.manual_linking_enabled is True

    assert settings.sessions.timebox == timedelta(hours=24)
    assert settings.sessions.inactivity_timeout == timedelta(hours=8)

    rate_limit = settings.rate_limit
    assert rate_limit.header == "X-Forwarded-For"
    assert (rate_limit.email_sent, rate_limit.sms_sent) == ("100", "50")
    assert (rate_limit.verify, rate_limit.token_refresh, rate_limit.otp,
            rate_limit.anonymous_users) == (60, 300, 45, 20)


def test_smtp_headers_are_read_as_gotrue_reads_them():
    settings = load(GOTRUE_SMTP_HEADERS=json.dumps({
        "X-PM-Message-Stream": ["outbound"], "X-Tags": ["auth", "$messageType"],
        "X-Empty": [], "X-Blanks": ["", ""], "": ["ignored"], "List-Unsubscribe": ["", "<x>"]}))
    # Empty names and values are skipped, as GoTrue skips them.
    assert settings.smtp.headers == (("X-PM-Message-Stream", ("outbound",)),
                                     ("X-Tags", ("auth", "$messageType")),
                                     ("List-Unsubscribe", ("<x>",)))
    assert load().smtp.headers == () == load(GOTRUE_SMTP_HEADERS=" ").smtp.headers


@pytest.mark.parametrize(("raw", "message"), [
    ("X-Stream: auth", "expected a JSON object of header names to lists of strings (Expecting"),
    ('["X-Stream"]', "expected a JSON object of header names to lists of strings"),
    ('{"X-Stream": "auth"}', "'X-Stream' is not a list of strings"),
    ('{"X-Stream": ["auth", 1]}', "'X-Stream' is not a list of strings"),
    ('{"X Stream": ["auth"]}', "'X Stream' is not a header name"),
    ('{"X-Stream:": ["auth"]}', "'X-Stream:' is not a header name"),
    ('{"Subject": ["hi"]}', "Subject is set by the server on every email"),
    ('{"message-id": ["<x@y>"]}', "message-id is set by the server on every email"),
    ('{"X-Stream": ["auth\\r\\nBcc: eve@example.com"]}',
     "a value of X-Stream contains a line break or another control character"),
    ('{"X-Stream": ["a\\u0000b"]}', "contains a line break or another control character"),
])
def test_malformed_smtp_headers_stop_start_up(raw, message):
    with pytest.raises(SettingsError, match="GOTRUE_SMTP_HEADERS") as raised:
        load(GOTRUE_SMTP_HEADERS=raw)
    assert message in str(raised.value)
