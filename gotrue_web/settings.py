"""Configuration, read once at start-up from GoTrue's own environment variables.

An existing GoTrue env file means the same thing here: every variable keeps its GoTrue name
(``GOTRUE_`` prefix; ``DATABASE_URL``, ``API_EXTERNAL_URL``, ``PORT`` and ``DB_NAMESPACE`` also
without it) and its GoTrue default, including GoTrue's habit of reading 0 as "use the default" for
some numbers. Nothing outside this module reads ``os.environ``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Mapping
from urllib.parse import quote, unquote, urlsplit

import sqlalchemy as sa
from dotenv import dotenv_values

from .durations import parse_go_duration, parse_seconds_or_duration
from .proxies import DEFAULT_TRUSTED_PROXIES, parse_trusted_proxies

PREFIX = "GOTRUE_"

# OAuth providers GoTrue knows; /settings reports each one's `enabled` flag.
EXTERNAL_PROVIDERS = (
    "apple", "azure", "bitbucket", "discord", "facebook", "snapchat", "figma", "fly", "github",
    "gitlab", "google", "keycloak", "kakao", "linkedin", "linkedin_oidc", "notion", "spotify",
    "slack", "slack_oidc", "workos", "twitch", "twitter", "zoom",
)


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


# --- groups ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class APISettings:
    host: str = "0.0.0.0"
    port: int = 8081
    external_url: str = ""
    max_request_bytes: int = 1024 * 1024
    # FORWARDED_ALLOW_IPS (gunicorn's): proxies whose X-Forwarded-For names the client.
    trusted_proxies: tuple[str, ...] = DEFAULT_TRUSTED_PROXIES


@dataclass(frozen=True)
class DBSettings:
    # A SQLAlchemy URL; None means the SQLite file in the instance folder.
    url: str | None = None
    namespace: str = "auth"
    pool_size: int = 5
    max_overflow: int = 10


@dataclass(frozen=True)
class JWTSettings:
    secret: str = ""
    exp: int = 3600
    aud: str = ""
    default_group_name: str = ""
    admin_group_name: str = "admin"
    admin_roles: tuple[str, ...] = ("service_role", "supabase_admin")
    issuer: str = ""
    key_id: str = ""
    # Private JWKs from GOTRUE_JWT_KEYS, as parsed JSON objects.
    keys: tuple[dict, ...] = ()
    valid_methods: tuple[str, ...] = ()


@dataclass(frozen=True)
class EmailProviderSettings:
    enabled: bool = True
    magic_link_enabled: bool = True
    authorized_addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExternalSettings:
    email: EmailProviderSettings = field(default_factory=EmailProviderSettings)
    phone_enabled: bool = False
    anonymous_users_enabled: bool = False
    # provider name -> enabled; only the names in EXTERNAL_PROVIDERS
    providers: Mapping[str, bool] = field(default_factory=dict)
    redirect_url: str = ""
    flow_state_expiry: timedelta = timedelta(seconds=300)


@dataclass(frozen=True)
class MailerSettings:
    autoconfirm: bool = False
    secure_email_change_enabled: bool = True
    otp_exp: int = 86400
    otp_length: int = 6
    url_paths: Mapping[str, str] = field(default_factory=dict)
    subjects: Mapping[str, str] = field(default_factory=dict)
    templates: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SMTPSettings:
    host: str = ""
    port: int = 587
    user: str = ""
    password: str = ""
    admin_email: str = ""
    sender_name: str = ""
    max_frequency: timedelta = timedelta(seconds=60)
    timeout: timedelta = timedelta(seconds=10)


@dataclass(frozen=True)
class SMSSettings:
    provider: str = ""
    autoconfirm: bool = False
    max_frequency: timedelta = timedelta(seconds=60)
    otp_exp: int = 60
    otp_length: int = 6
    template: str = "Your code is {{ .Code }}"


@dataclass(frozen=True)
class PasswordSettings:
    min_length: int = 6
    # Each entry is a set of characters of which the password needs at least one.
    required_characters: tuple[str, ...] = ()
    hibp_enabled: bool = False
    # bcrypt cost of new hashes; GoTrue uses 10. Only tests lower it.
    bcrypt_cost: int = 10


@dataclass(frozen=True)
class SecuritySettings:
    refresh_token_rotation_enabled: bool = True
    refresh_token_reuse_interval: int = 0
    refresh_token_allow_reuse: bool = False
    update_password_require_reauthentication: bool = False
    update_password_require_current_password: bool = False
    manual_linking_enabled: bool = False


@dataclass(frozen=True)
class SessionsSettings:
    timebox: timedelta | None = None
    inactivity_timeout: timedelta | None = None
    single_per_user: bool = False


@dataclass(frozen=True)
class ConsoleSettings:
    """The operator console (our own addition; GoTrue has none)."""

    # A console session ends after this long without a request, and this long after login.
    idle_timeout: timedelta = timedelta(minutes=30)
    max_age: timedelta = timedelta(hours=12)
    # Failed logins allowed per client IP and per operator within the window.
    login_attempts: int = 5
    login_window: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class RateLimitSettings:
    header: str = ""
    email_sent: str = "30"
    sms_sent: str = "30"
    verify: float = 30
    token_refresh: float = 150
    otp: float = 30
    anonymous_users: float = 30


@dataclass(frozen=True)
class Settings:
    site_url: str = ""
    uri_allow_list: tuple[str, ...] = ()
    disable_signup: bool = False
    log_level: str = "info"
    api: APISettings = field(default_factory=APISettings)
    db: DBSettings = field(default_factory=DBSettings)
    jwt: JWTSettings = field(default_factory=JWTSettings)
    external: ExternalSettings = field(default_factory=ExternalSettings)
    mailer: MailerSettings = field(default_factory=MailerSettings)
    smtp: SMTPSettings = field(default_factory=SMTPSettings)
    sms: SMSSettings = field(default_factory=SMSSettings)
    password: PasswordSettings = field(default_factory=PasswordSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    sessions: SessionsSettings = field(default_factory=SessionsSettings)
    rate_limit: RateLimitSettings = field(default_factory=RateLimitSettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)

    def replace(self, **changes) -> "Settings":
        """A copy with top-level fields or dotted group fields (``"jwt.exp"``) changed."""
        grouped: dict[str, dict] = {}
        top: dict = {}
        for key, value in changes.items():
            group, _, name = key.partition("__") if "__" in key else key.partition(".")
            if name:
                grouped.setdefault(group, {})[name] = value
            else:
                top[key] = value
        for group, values in grouped.items():
            top[group] = dataclasses.replace(getattr(self, group), **values)
        return dataclasses.replace(self, **top)


# --- reading --------------------------------------------------------------------------------

MAILER_TEMPLATE_KINDS = (
    "invite", "confirmation", "recovery", "magic_link", "email_change", "reauthentication",
)
DEFAULT_SUBJECTS = {
    "invite": "You've been invited",
    "confirmation": "Confirm your email address",
    "recovery": "Reset your password",
    "magic_link": "Your sign-in link",
    "email_change": "Confirm your new email address",
    "reauthentication": "{{ .Token }} is your verification code",
}
URL_PATH_KINDS = ("invite", "confirmation", "recovery", "email_change")


class _Env:
    """Looks up GoTrue variables: ``GOTRUE_<NAME>`` first, then the alternatives as written.

    An empty value counts as unset, so ``GOTRUE_X=`` in a file means "use the default".
    """

    def __init__(self, values: Mapping[str, str]):
        self.values = values

    def raw(self, name: str, *alternatives: str) -> tuple[str, str] | None:
        for key in (PREFIX + name, *alternatives):
            value = self.values.get(key)
            if value is not None and value != "":
                return key, value
        return None

    def str(self, name: str, default: str = "", *alternatives: str) -> str:
        found = self.raw(name, *alternatives)
        return found[1].strip() if found else default

    def bool(self, name: str, default: bool) -> bool:
        found = self.raw(name)
        if not found:
            return default
        key, value = found
        lowered = value.strip().lower()
        if lowered in ("1", "t", "true", "yes", "on"):
            return True
        if lowered in ("0", "f", "false", "no", "off"):
            return False
        raise SettingsError(f"{key}: expected true or false, got {value!r}")

    def int(self, name: str, default: int, *alternatives: str, minimum: int | None = None,
            zero_is_default: bool = False) -> int:
        """An integer; ``zero_is_default`` mirrors GoTrue replacing 0 by the default."""
        found = self.raw(name, *alternatives)
        if not found:
            return default
        key, value = found
        try:
            number = int(value.strip())
        except ValueError:
            raise SettingsError(f"{key}: expected an integer, got {value!r}") from None
        if zero_is_default and number == 0:
            return default
        if minimum is not None and number < minimum:
            raise SettingsError(f"{key}: must be at least {minimum}, got {number}")
        return number

    def float(self, name: str, default: float) -> float:
        found = self.raw(name)
        if not found:
            return default
        key, value = found
        try:
            number = float(value.strip())
        except ValueError:
            raise SettingsError(f"{key}: expected a number, got {value!r}") from None
        if number != number or number < 0:
            raise SettingsError(f"{key}: expected a number of at least 0, got {value!r}")
        return number

    def duration(self, name: str, default: timedelta | None, *,
                 zero_is_default: bool = False) -> timedelta | None:
        """A Go duration ("90s", "1h30m") or bare seconds; negative durations are refused."""
        found = self.raw(name)
        if not found:
            return default
        key, value = found
        try:
            duration = parse_seconds_or_duration(value)
        except ValueError:
            raise SettingsError(
                f"{key}: expected a duration such as 60s, 5m or 24h, got {value!r}"
            ) from None
        if duration < timedelta(0):
            raise SettingsError(f"{key}: must not be negative, got {value!r}")
        if zero_is_default and not duration:
            return default
        return duration

    def list(self, name: str, *, keep_braces: bool = False) -> tuple[str, ...]:
        """A comma list; with ``keep_braces`` a comma inside {...} stays in its item (globs)."""
        found = self.raw(name)
        if not found:
            return ()
        items = _split_outside_braces(found[1]) if keep_braces else found[1].split(",")
        return tuple(item.strip() for item in items if item.strip())


def _split_outside_braces(value: str) -> list[str]:
    items, current, depth = [], [], 0
    for char in value:
        if char == "," and depth == 0:
            items.append("".join(current))
            current = []
            continue
        if char == "{":
            depth += 1
        elif char == "}" and depth:
            depth -= 1
        current.append(char)
    items.append("".join(current))
    return items


def parse_required_characters(value: str) -> tuple[str, ...]:
    """GoTrue's PASSWORD_REQUIRED_CHARACTERS: sets joined by ':', where '\\:' is a literal colon.

    Any other backslash is an ordinary character; empty sets are dropped.
    """
    sets, current, index = [], [], 0
    while index < len(value):
        if value.startswith("\\:", index):
            current.append(":")
            index += 2
            continue
        if value[index] == ":":
            sets.append("".join(current))
            current = []
        else:
            current.append(value[index])
        index += 1
    sets.append("".join(current))
    return tuple(s for s in sets if s)


def _jwt_keys(env: _Env) -> tuple[dict, ...]:
    """GOTRUE_JWT_KEYS: a JSON array of JWKs, or a JWK set ``{"keys": [...]}``."""
    found = env.raw("JWT_KEYS")
    if not found:
        return ()
    key, value = found
    try:
        keys = json.loads(value)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{key}: not valid JSON ({exc.msg})") from None
    if isinstance(keys, dict) and "keys" in keys:
        keys = keys["keys"]
    if not isinstance(keys, list) or not all(isinstance(k, dict) for k in keys):
        raise SettingsError(f"{key}: expected a JSON array of JWK objects or {{\"keys\": [...]}}")
    return tuple(keys)


# --- DATABASE_URL ---------------------------------------------------------------------------

_URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_LIBPQ_PAIR = re.compile(r"\s*(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|(?:[^\s'\\]|\\.)*)")
_LIBPQ_URL_PARTS = ("user", "password", "host", "port", "dbname")
# pgx (GoTrue's driver) options that libpq, and so psycopg, would reject.
_PGX_ONLY = {"pool_max_conns", "pool_min_conns", "pool_max_conn_lifetime",
             "pool_max_conn_idle_time", "pool_health_check_period",
             "pool_max_conn_lifetime_jitter", "statement_cache_capacity",
             "description_cache_capacity", "default_query_exec_mode", "prefer_simple_protocol",
             "search_path"}
# go-sql-driver/mysql parameters; the ones PyMySQL has an equivalent for are translated.
_GO_MYSQL_PARAMS = {
    "allowallfiles", "allowcleartextpasswords", "allowfallbacktoplaintext",
    "allownativepasswords", "allowoldpasswords", "charset", "checkconnliveness", "collation",
    "clientfoundrows", "columnswithalias", "interpolateparams", "loc", "timetruncate",
    "maxallowedpacket", "multistatements", "parsetime", "readtimeout", "rejectreadonly",
    "serverpubkey", "timeout", "tls", "writetimeout", "connectionattributes",
}
_GO_MYSQL_TIMEOUTS = {"timeout": "connect_timeout", "readtimeout": "read_timeout",
                      "writetimeout": "write_timeout"}


def normalize_database_url(raw: str) -> str:
    """Turn GoTrue's DATABASE_URL forms into a SQLAlchemy URL; ValueError when it is none.

    Accepts ``postgres://`` / ``postgresql://`` URLs, libpq ``key=value`` strings, Go MySQL DSNs
    (``user:pass@tcp(host:3306)/db?parseTime=true`` or ``root@localhost/gotrue``), ``mysql://``
    URLs, and anything that already is a SQLAlchemy URL (returned unchanged).
    """
    value = raw.strip()
    scheme_match = _URL_SCHEME.match(value)
    if scheme_match:
        scheme = scheme_match.group(1).lower()
        if scheme in ("postgres", "postgresql"):
            url = _postgres_url(value[scheme_match.end():])
        elif scheme in ("mysql", "mariadb"):
            url = _mysql_url_from_url(value)
        else:
            url = value
    elif re.match(r"\w+\s*=", value):
        url = _postgres_url_from_libpq(value)
    elif "/" in value and ("@" in value or "(" in value):
        url = _mysql_url_from_go_dsn(value)
    else:
        raise ValueError("unrecognised database URL")
    try:
        sa.engine.make_url(url).get_dialect()
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ValueError):
        raise ValueError("unrecognised database URL") from None
    return url


def _postgres_url(rest: str) -> str:
    location, _, query = rest.partition("?")
    params = [p for p in query.split("&")
              if p and unquote(p.partition("=")[0]).lower() not in _PGX_ONLY]
    return "postgresql+psycopg://" + location + ("?" + "&".join(params) if params else "")


def _postgres_url_from_libpq(conninfo: str) -> str:
    pairs: dict[str, str] = {}
    position = 0
    while position < len(conninfo):
        match = _LIBPQ_PAIR.match(conninfo, position)
        if not match or match.end() == position:
            if conninfo[position:].strip():
                raise ValueError("malformed key=value connection string")
            break
        name, text = match.group(1), match.group(2)
        if text.startswith("'"):
            text = text[1:-1]
        pairs[name] = re.sub(r"\\(.)", r"\1", text)
        position = match.end()
    user, password = pairs.pop("user", ""), pairs.pop("password", "")
    host, port = pairs.pop("host", ""), pairs.pop("port", "")
    dbname = pairs.pop("dbname", "")
    # Socket directories and host lists cannot go in the URL's authority; libpq reads them
    # from the query string as well.
    if host and ("/" in host or "," in host):
        pairs["host"] = host
        host = ""
    if port and not port.isdigit():
        pairs["port"] = port
        port = ""
    auth = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
    netloc = (auth + "@" if auth else "") + host + (":" + port if port else "")
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in pairs.items())
    return f"postgresql+psycopg://{netloc}/{quote(dbname, safe='')}" + (
        "?" + query if query else "")


def _mysql_query(params: list[tuple[str, str]]) -> dict[str, str]:
    """PyMySQL query arguments for a DSN's parameters (Go-only ones dropped)."""
    query: dict[str, str] = {}
    for name, value in params:
        lowered = name.lower()
        if lowered == "charset":
            query["charset"] = value.split(",")[0]
        elif lowered == "collation":
            query["collation"] = value
        elif lowered in _GO_MYSQL_TIMEOUTS:
            seconds = parse_seconds_or_duration(value).total_seconds()
            query[_GO_MYSQL_TIMEOUTS[lowered]] = str(max(1, math.ceil(seconds)))
        elif lowered == "tls":
            # TLS stays on; PyMySQL verifies the server only when ssl_ca is given as well.
            if value.lower() not in ("false", "0"):
                query["ssl_check_hostname"] = "false"
        elif lowered not in _GO_MYSQL_PARAMS:
            query[name] = value
    query.setdefault("charset", "utf8mb4")
    return query


def _mysql_url_from_url(value: str) -> str:
    url = sa.engine.make_url(value)
    params = [(name, item) for name, items in url.query.items()
              for item in ((items,) if isinstance(items, str) else items)]
    return url.set(drivername="mysql+pymysql", query=_mysql_query(params)).render_as_string(
        hide_password=False)


def _mysql_url_from_go_dsn(dsn: str) -> str:
    """``[user[:password]@][net[(addr)]]/dbname[?params]``, split the way the Go driver does."""
    slash = dsn.rindex("/")
    left, right = dsn[:slash], dsn[slash + 1:]
    credentials, at, location = left.rpartition("@")
    if not at:
        credentials, location = "", left
    user, _, password = credentials.partition(":")
    network, paren, address = location.partition("(")
    query: dict[str, str] = {}
    if paren:
        if not address.endswith(")"):
            raise ValueError("malformed Go MySQL DSN address")
        address = address[:-1]
        if network == "unix":
            query["unix_socket"], address = address, ""
    else:
        # "root@localhost/gotrue": the host written where the network would go.
        address = network
    host, port = address, None
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else None
    elif address.count(":") == 1:
        host, port = address.split(":")
    database, _, raw_query = right.partition("?")
    params = [(name, unquote(item)) for name, _, item in
              (p.partition("=") for p in raw_query.split("&") if p)]
    query.update(_mysql_query(params))
    return sa.engine.URL.create(
        "mysql+pymysql", username=user or None, password=password or None,
        host=host or "localhost", port=int(port) if port else None, database=database or None,
        query=query,
    ).render_as_string(hide_password=False)


# --- from_env -------------------------------------------------------------------------------


def from_env(environ: Mapping[str, str] | None = None, env_file: str | os.PathLike | None = ".env",
             ) -> Settings:
    """Build and validate Settings from the environment and an optional .env file.

    Real environment variables win over the file (as godotenv.Load does for GoTrue).
    """
    values: dict[str, str] = {}
    if env_file and Path(env_file).is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ if environ is None else environ)
    env = _Env(values)

    database_url = None
    found = env.raw("DB_DATABASE_URL", "DATABASE_URL")
    if found:
        try:
            database_url = normalize_database_url(found[1])
        except ValueError:
            raise SettingsError(f"{found[0]}: not a database URL GoTrue would accept") from None

    providers = {name: env.bool(f"EXTERNAL_{name.upper()}_ENABLED", False)
                 for name in EXTERNAL_PROVIDERS}
    required_characters = env.raw("PASSWORD_REQUIRED_CHARACTERS")
    settings = Settings(
        site_url=env.str("SITE_URL"),
        uri_allow_list=env.list("URI_ALLOW_LIST", keep_braces=True),
        disable_signup=env.bool("DISABLE_SIGNUP", False),
        log_level=env.str("LOG_LEVEL", "info").lower(),
        api=APISettings(
            host=env.str("API_HOST", "0.0.0.0"),
            port=env.int("API_PORT", 8081, "PORT", minimum=0),
            external_url=env.str("API_EXTERNAL_URL", "", "API_EXTERNAL_URL"),
            trusted_proxies=_trusted_proxies(env),
        ),
        db=DBSettings(
            url=database_url,
            # GoTrue reads DB_NAMESPACE unprefixed (its struct tag doubles the DB_ otherwise).
            namespace=env.str("DB_NAMESPACE", "auth", "GOTRUE_DB_DB_NAMESPACE", "DB_NAMESPACE"),
            pool_size=env.int("DB_MAX_POOL_SIZE", 5, minimum=1, zero_is_default=True),
        ),
        jwt=JWTSettings(
            secret=env.str("JWT_SECRET"),
            exp=env.int("JWT_EXP", 3600, minimum=1, zero_is_default=True),
            aud=env.str("JWT_AUD"),
            default_group_name=env.str("JWT_DEFAULT_GROUP_NAME"),
            admin_group_name=env.str("JWT_ADMIN_GROUP_NAME", "admin"),
            admin_roles=env.list("JWT_ADMIN_ROLES") or ("service_role", "supabase_admin"),
            issuer=env.str("JWT_ISSUER"),
            key_id=env.str("JWT_KEY_ID"),
            keys=_jwt_keys(env),
            valid_methods=env.list("JWT_VALID_METHODS"),
        ),
        external=ExternalSettings(
            email=EmailProviderSettings(
                enabled=env.bool("EXTERNAL_EMAIL_ENABLED", True),
                magic_link_enabled=env.bool("EXTERNAL_EMAIL_MAGIC_LINK_ENABLED", True),
                authorized_addresses=env.list("EXTERNAL_EMAIL_AUTHORIZED_ADDRESSES"),
            ),
            phone_enabled=env.bool("EXTERNAL_PHONE_ENABLED", False),
            anonymous_users_enabled=env.bool("EXTERNAL_ANONYMOUS_USERS_ENABLED", False),
            providers=providers,
            redirect_url=env.str("EXTERNAL_REDIRECT_URL", "", "GOTRUE_EXTERNAL_REDIRECTURL"),
            # GoTrue raises shorter expiries to its 300s minimum.
            flow_state_expiry=max(
                env.duration("EXTERNAL_FLOW_STATE_EXPIRY_DURATION", timedelta(seconds=300)),
                timedelta(seconds=300),
            ),
        ),
        mailer=MailerSettings(
            autoconfirm=env.bool("MAILER_AUTOCONFIRM", False),
            secure_email_change_enabled=env.bool("MAILER_SECURE_EMAIL_CHANGE_ENABLED", True),
            otp_exp=env.int("MAILER_OTP_EXP", 86400, minimum=1, zero_is_default=True),
            otp_length=_otp_length(env.int("MAILER_OTP_LENGTH", 6)),
            url_paths={kind: env.str(f"MAILER_URLPATHS_{kind.upper()}", "/verify")
                       for kind in URL_PATH_KINDS},
            subjects={kind: env.str(f"MAILER_SUBJECTS_{kind.upper()}", DEFAULT_SUBJECTS[kind])
                      for kind in MAILER_TEMPLATE_KINDS},
            templates={kind: env.str(f"MAILER_TEMPLATES_{kind.upper()}")
                       for kind in MAILER_TEMPLATE_KINDS
                       if env.str(f"MAILER_TEMPLATES_{kind.upper()}")},
        ),
        smtp=SMTPSettings(
            host=env.str("SMTP_HOST"),
            port=env.int("SMTP_PORT", 587, minimum=1),
            user=env.str("SMTP_USER"),
            password=env.str("SMTP_PASS"),
            admin_email=env.str("SMTP_ADMIN_EMAIL"),
            sender_name=env.str("SMTP_SENDER_NAME"),
            max_frequency=env.duration("SMTP_MAX_FREQUENCY", timedelta(seconds=60),
                                       zero_is_default=True),
        ),
        sms=SMSSettings(
            provider=env.str("SMS_PROVIDER"),
            autoconfirm=env.bool("SMS_AUTOCONFIRM", False),
            max_frequency=env.duration("SMS_MAX_FREQUENCY", timedelta(seconds=60),
                                       zero_is_default=True),
            otp_exp=env.int("SMS_OTP_EXP", 60, minimum=1, zero_is_default=True),
            otp_length=_otp_length(env.int("SMS_OTP_LENGTH", 6)),
            template=env.str("SMS_TEMPLATE", "Your code is {{ .Code }}"),
        ),
        password=PasswordSettings(
            # GoTrue raises lower minimums to 6.
            min_length=max(env.int("PASSWORD_MIN_LENGTH", 6), 6),
            # Not stripped: a space can be one of the required characters.
            required_characters=parse_required_characters(
                required_characters[1] if required_characters else ""),
            hibp_enabled=env.bool("PASSWORD_HIBP_ENABLED", False),
        ),
        security=SecuritySettings(
            refresh_token_rotation_enabled=env.bool(
                "SECURITY_REFRESH_TOKEN_ROTATION_ENABLED", True),
            refresh_token_reuse_interval=env.int(
                "SECURITY_REFRESH_TOKEN_REUSE_INTERVAL", 0, minimum=0),
            refresh_token_allow_reuse=env.bool("SECURITY_REFRESH_TOKEN_ALLOW_REUSE", False),
            update_password_require_reauthentication=env.bool(
                "SECURITY_UPDATE_PASSWORD_REQUIRE_REAUTHENTICATION", False),
            update_password_require_current_password=env.bool(
                "SECURITY_UPDATE_PASSWORD_REQUIRE_CURRENT_PASSWORD", False),
            manual_linking_enabled=env.bool("SECURITY_MANUAL_LINKING_ENABLED", False),
        ),
        sessions=SessionsSettings(
            timebox=_positive(env.duration("SESSIONS_TIMEBOX", None)),
            inactivity_timeout=_positive(env.duration("SESSIONS_INACTIVITY_TIMEOUT", None)),
            single_per_user=env.bool("SESSIONS_SINGLE_PER_USER", False),
        ),
        rate_limit=RateLimitSettings(
            header=env.str("RATE_LIMIT_HEADER"),
            email_sent=env.str("RATE_LIMIT_EMAIL_SENT", "30"),
            sms_sent=env.str("RATE_LIMIT_SMS_SENT", "30"),
            verify=env.float("RATE_LIMIT_VERIFY", 30),
            token_refresh=env.float("RATE_LIMIT_TOKEN_REFRESH", 150),
            otp=env.float("RATE_LIMIT_OTP", 30),
            anonymous_users=env.float("RATE_LIMIT_ANONYMOUS_USERS", 30),
        ),
        console=ConsoleSettings(
            idle_timeout=env.duration("CONSOLE_IDLE_TIMEOUT", timedelta(minutes=30)),
            max_age=env.duration("CONSOLE_SESSION_MAX_AGE", timedelta(hours=12)),
            login_attempts=env.int("CONSOLE_LOGIN_ATTEMPTS", 5, minimum=1),
            login_window=env.duration("CONSOLE_LOGIN_WINDOW", timedelta(minutes=15)),
        ),
    )
    validate(settings)
    return settings


def _trusted_proxies(env: _Env) -> tuple[str, ...]:
    found = env.raw("FORWARDED_ALLOW_IPS", "FORWARDED_ALLOW_IPS")
    if not found:
        return APISettings.trusted_proxies
    key, value = found
    items = tuple(item.strip() for item in value.split(",") if item.strip())
    try:
        parse_trusted_proxies(items)
    except ValueError:
        raise SettingsError(f"{key}: expected IP addresses, networks (CIDR) or *, "
                            f"got {value!r}") from None
    return items


def _otp_length(value: int) -> int:
    # GoTrue resets lengths outside 6..10 to 6.
    return value if 6 <= value <= 10 else 6


def _positive(value: timedelta | None) -> timedelta | None:
    return value if value and value.total_seconds() > 0 else None


def _check_url(name: str, value: str, *, http_only: bool) -> None:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise SettingsError(f"{name}: not a valid URL: {value!r}") from None
    if not parts.scheme or not parts.hostname:
        raise SettingsError(f"{name}: expected an absolute URL, got {value!r}")
    if http_only and parts.scheme not in ("http", "https"):
        raise SettingsError(f"{name}: expected an http(s) URL, got {value!r}")


def _check_jwt_keys(jwt_settings: JWTSettings) -> None:
    for key in jwt_settings.keys:
        if not isinstance(key.get("kid"), str) or not key["kid"]:
            raise SettingsError("GOTRUE_JWT_KEYS: every key needs a kid")
        if not isinstance(key.get("key_ops", []), list):
            raise SettingsError(f"GOTRUE_JWT_KEYS: key_ops of {key['kid']!r} must be a list")
    kids = [key["kid"] for key in jwt_settings.keys]
    if len(set(kids)) != len(kids):
        raise SettingsError("GOTRUE_JWT_KEYS: two keys share a kid")
    signing = [k for k in jwt_settings.keys if "sign" in (k.get("key_ops") or [])]
    if len(signing) != 1:
        raise SettingsError(
            "GOTRUE_JWT_KEYS: exactly one key must have \"sign\" in its key_ops, "
            f"found {len(signing)}")
    from .services.access_tokens import KeyRing

    try:
        KeyRing(jwt_settings)
    except Exception as exc:  # any parse failure of the key material
        raise SettingsError(f"GOTRUE_JWT_KEYS: unusable key ({exc})") from None


def validate(settings: Settings) -> None:
    """Fail start-up with an error that names the variable at fault."""
    if settings.smtp.host and not settings.smtp.admin_email:
        # Without a sender every email would fail at send time.
        raise SettingsError("GOTRUE_SMTP_ADMIN_EMAIL: required when GOTRUE_SMTP_HOST is set")
    if not settings.site_url:
        raise SettingsError("GOTRUE_SITE_URL: required")
    _check_url("GOTRUE_SITE_URL", settings.site_url, http_only=False)
    if not settings.api.external_url:
        raise SettingsError("API_EXTERNAL_URL: required")
    _check_url("API_EXTERNAL_URL", settings.api.external_url, http_only=True)
    if not settings.jwt.secret:
        raise SettingsError("GOTRUE_JWT_SECRET: required")
    if settings.jwt.keys:
        _check_jwt_keys(settings.jwt)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", settings.db.namespace):
        raise SettingsError(f"DB_NAMESPACE: not a schema name: {settings.db.namespace!r}")
    from .services.redirects import glob_pattern

    for pattern in settings.uri_allow_list:
        try:
            glob_pattern(pattern)
        except ValueError as exc:
            raise SettingsError(f"GOTRUE_URI_ALLOW_LIST: {pattern!r}: {exc}") from None
    for kind in ("email_sent", "sms_sent"):
        value = getattr(settings.rate_limit, kind)
        if not re.fullmatch(r"\d+(\.\d+)?(/\S+)?", value):
            raise SettingsError(
                f"GOTRUE_RATE_LIMIT_{kind.upper()}: expected a number or N/duration, got {value!r}"
            )
        if "/" in value:
            try:
                period = parse_go_duration(value.split("/", 1)[1])
            except ValueError:
                raise SettingsError(
                    f"GOTRUE_RATE_LIMIT_{kind.upper()}: bad duration in {value!r}") from None
            if period <= timedelta(0):
                raise SettingsError(
                    f"GOTRUE_RATE_LIMIT_{kind.upper()}: the period must be positive in {value!r}")
