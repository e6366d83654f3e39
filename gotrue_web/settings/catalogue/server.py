"""Catalogue entries: the server itself (site, API, database, tokens, logs, tracing, metrics and
the operator console)."""

from __future__ import annotations

from dataclasses import replace

from . import DIFFERENT, Variable


def unprefixed(name: str) -> tuple[str, ...]:
    """The seed README's name for ``name``: without GOTRUE_ (GoTrue read it only with it)."""
    return (name.removeprefix("GOTRUE_"),)


def grouped(group: str, *entries: Variable) -> tuple[Variable, ...]:
    return tuple(replace(entry, group=group) for entry in entries)


GENERAL = grouped(
    "General",
    Variable("GOTRUE_SITE_URL", "required",
             "Your app: the default redirect after links, and the base of allowed redirects",
             legacy=unprefixed("GOTRUE_SITE_URL"), origin="seed"),
    Variable("GOTRUE_URI_ALLOW_LIST", "empty",
             "Comma-separated redirect globs (`*` within a host label or path segment, `**` "
             "across)", legacy=unprefixed("GOTRUE_URI_ALLOW_LIST"), origin="seed"),
    Variable("GOTRUE_DISABLE_SIGNUP", "`false`", "Refuse new sign-ups",
             legacy=unprefixed("GOTRUE_DISABLE_SIGNUP"), origin="seed"),
    Variable("GOTRUE_STRICT_CONFIG", "`false`",
             "`true`: a variable that is set but not honoured, an unknown `GOTRUE_*` name or a "
             "feature configured but not available stops start-up instead of a warning",
             origin="gotrue-web"),
)

API = grouped(
    "API",
    Variable("API_EXTERNAL_URL", "required",
             "This server's public URL, used in email links and OAuth callbacks",
             aliases=("GOTRUE_API_EXTERNAL_URL",)),
    Variable("GOTRUE_API_HOST", "`0.0.0.0`", "Where gunicorn binds (see `gunicorn.conf.py`)",
             legacy=unprefixed("GOTRUE_API_HOST"), origin="seed"),
    Variable("GOTRUE_API_PORT", "`8081`", "The port gunicorn binds", aliases=("PORT",),
             legacy=unprefixed("GOTRUE_API_PORT"), origin="seed"),
    Variable("GOTRUE_API_REQUEST_ID_HEADER", "unset",
             "A request header whose value becomes the request's id in the logs (see "
             "[Logs](#logs))", aliases=("REQUEST_ID_HEADER",), origin="seed"),
    Variable("FORWARDED_ALLOW_IPS", "`127.0.0.1,::1`",
             "Reverse proxies (addresses, CIDR networks, or `*`) trusted for `X-Forwarded-Proto` "
             "and `X-Forwarded-For` (gunicorn's variable)",
             aliases=("GOTRUE_FORWARDED_ALLOW_IPS",), origin="gunicorn"),
    Variable("WEB_CONCURRENCY", "the CPUs this process may use",
             "Worker processes gunicorn starts (each with 4 threads)", origin="gunicorn",
             reader="gunicorn.conf.py"),
)

DATABASE = grouped(
    "Database",
    Variable("DATABASE_URL", "SQLite in `instance/gotrue.db`",
             "`postgres://…`, a MySQL DSN such as `root@localhost/gotrue` or "
             "`user:pass@tcp(host:3306)/db`, or any SQLAlchemy URL",
             aliases=("GOTRUE_DB_DATABASE_URL",), legacy=("DB_DATABASE_URL",), origin="seed"),
    Variable("GOTRUE_DB_DRIVER", "unset", "The kind of database (`postgres`, `mysql`, `sqlite`)",
             status=DIFFERENT,
             note="The database URL's form decides the driver; this value is only checked "
                  "against it (a contradiction stops start-up)",
             legacy=unprefixed("GOTRUE_DB_DRIVER"), origin="seed"),
    Variable("GOTRUE_DB_NAMESPACE", "`auth`", "PostgreSQL schema holding the tables",
             aliases=("DB_NAMESPACE", "GOTRUE_DB_DB_NAMESPACE"), origin="seed"),
    Variable("GOTRUE_DB_MAX_POOL_SIZE", "`5`", "Connections per worker process", origin="seed"),
    Variable("GOTRUE_DB_CLEANUP_INTERVAL", "`5m`",
             "How often each process deletes expired rows: revoked refresh tokens, ended "
             "sessions, old flow states and MFA challenges (see [Database cleanup]"
             "(#database-cleanup)); `0` turns it off", origin="gotrue-web"),
)

JWT = grouped(
    "Access tokens",
    Variable("GOTRUE_JWT_SECRET", "required", "HS256 secret for access tokens; it also keys the "
             "stored digests of emailed codes (changing it voids codes already mailed)",
             status=DIFFERENT,
             note="Under 16 bytes the server refuses to start (the console warns below 32)",
             legacy=unprefixed("GOTRUE_JWT_SECRET"), origin="seed"),
    Variable("GOTRUE_JWT_EXP", "`3600`", "Access-token lifetime, seconds",
             legacy=unprefixed("GOTRUE_JWT_EXP"), origin="seed"),
    Variable("GOTRUE_JWT_AUD", "empty", "Default audience (Supabase uses `authenticated`)",
             legacy=unprefixed("GOTRUE_JWT_AUD"), origin="seed"),
    Variable("GOTRUE_JWT_DEFAULT_GROUP_NAME", "empty",
             "Role of new users (Supabase uses `authenticated`)",
             legacy=unprefixed("GOTRUE_JWT_DEFAULT_GROUP_NAME"), origin="seed"),
    Variable("GOTRUE_JWT_ADMIN_GROUP_NAME", "`admin`",
             "GoTrue's legacy admin role: a user with this role (in the default audience) may "
             "change other users' admin-only attributes",
             legacy=unprefixed("GOTRUE_JWT_ADMIN_GROUP_NAME"), origin="seed"),
    Variable("GOTRUE_JWT_ADMIN_ROLES", "`service_role,supabase_admin`",
             "Roles allowed on the admin API"),
    Variable("GOTRUE_JWT_ISSUER", "unset", "`iss` claim of the tokens issued", status=DIFFERENT,
             note="When set, user routes refuse (403 `bad_jwt`) a token whose `iss` differs; "
                  "admin routes do not check it"),
    Variable("GOTRUE_JWT_KEYS", "unset",
             "JSON array of private JWKs (RSA, EC, OKP, oct), each with a `kid`; exactly one "
             "with `\"key_ops\": [\"sign\", …]`. Public keys are served at "
             "`/.well-known/jwks.json`"),
    Variable("GOTRUE_JWT_KEY_ID", "unset", "`kid` for the HS256 secret"),
    Variable("GOTRUE_JWT_VALID_METHODS", "unset", "Accepted signing algorithms"),
)

LOGS = grouped(
    "Logs, tracing and metrics",
    Variable("GOTRUE_LOG_LEVEL", "`info`",
             "`debug`, `info`, `warn`/`warning`, `error`, `fatal`/`panic`; another value is a "
             "start-up warning and means `info`", aliases=("LOG_LEVEL",), origin="seed"),
    Variable("GOTRUE_LOG_FILE", "unset",
             "A file the JSON log lines are appended to instead of stdout and stderr (every "
             "worker and gunicorn itself write there)", aliases=("LOG_FILE",), origin="seed"),
    Variable("GOTRUE_TRACING_ENABLED", "`false`",
             "OpenTelemetry traces (see [Tracing](#tracing))", aliases=("TRACING_ENABLED",),
             origin="seed"),
    Variable("GOTRUE_TRACING_EXPORTER", "`opentelemetry`", "How spans are exported",
             status=DIFFERENT,
             note="Only `opentelemetry` (OTLP over HTTP); GoTrue's older `opentracing` stops "
                  "start-up"),
    Variable("GOTRUE_TRACING_HOST", "`localhost`", "The collector's host",
             aliases=("TRACING_HOST",), status=DIFFERENT,
             note="Spans go over OTLP/HTTP to `http://HOST:PORT/v1/traces`; the seed sent them "
                  "to an OpenTracing agent", origin="seed"),
    Variable("GOTRUE_TRACING_PORT", "`4318`", "The collector's port", aliases=("TRACING_PORT",),
             status=DIFFERENT,
             note="OTLP/HTTP's port (4318), not an OpenTracing agent's", origin="seed"),
    Variable("GOTRUE_TRACING_TAGS", "empty",
             "`key:value,…` added to the spans' resource attributes", aliases=("TRACING_TAGS",),
             origin="seed"),
    Variable("GOTRUE_TRACING_SERVICE_NAME", "`gotrue`", "The service name spans carry",
             aliases=("GOTRUE_SERVICE_NAME", "SERVICE_NAME"), origin="seed"),
    Variable("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "unset",
             "The full OTLP/HTTP traces URL (wins over the others)", origin="opentelemetry"),
    Variable("OTEL_EXPORTER_OTLP_ENDPOINT", "unset", "A collector's base URL (`/v1/traces` is "
             "added)", origin="opentelemetry"),
    Variable("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "`http/protobuf`",
             "Must be `http/protobuf` when set", aliases=("OTEL_EXPORTER_OTLP_PROTOCOL",),
             origin="opentelemetry"),
    Variable("OTEL_SERVICE_NAME", "unset", "The service name (wins over GoTrue's)",
             origin="opentelemetry"),
    Variable("OTEL_RESOURCE_ATTRIBUTES", "unset", "`key=value,…` resource attributes",
             origin="opentelemetry"),
    Variable("GOTRUE_METRICS_ENABLED", "`false`",
             "Prometheus metrics (see [Metrics](#metrics))"),
    Variable("GOTRUE_METRICS_EXPORTER", "`opentelemetry`", "How metrics are exported",
             status=DIFFERENT,
             note="Only `prometheus` is served; `opentelemetry` with metrics on stops start-up"),
    Variable("GOTRUE_METRICS_PROMETHEUS_LISTEN_HOST", "`0.0.0.0`",
             "Where the metrics endpoint listens"),
    Variable("GOTRUE_METRICS_PROMETHEUS_LISTEN_PORT", "`9100`",
             "The metrics endpoint's port"),
)

CONSOLE = grouped(
    "Operator console (not in GoTrue)",
    Variable("GOTRUE_CONSOLE_IDLE_TIMEOUT", "`30m`",
             "A console sign-in ends after this much inactivity", origin="gotrue-web"),
    Variable("GOTRUE_CONSOLE_SESSION_MAX_AGE", "`12h`",
             "A console sign-in ends this long after it began", origin="gotrue-web"),
    Variable("GOTRUE_CONSOLE_LOGIN_ATTEMPTS", "`5`",
             "Failed console sign-ins allowed per operator and client address within the "
             "window (four times as many per client address)", origin="gotrue-web"),
    Variable("GOTRUE_CONSOLE_LOGIN_WINDOW", "`15m`", "The window of those attempts",
             origin="gotrue-web"),
    Variable("GOTRUE_CONSOLE_LIVE_SETTINGS_INTERVAL", "`5s`",
             "How often each process looks for settings changed on the console's "
             "Configuration page", origin="gotrue-web"),
)

TOOLS = grouped(
    "Tools (not read by the server)",
    Variable("GOTRUE_WEB_AUDIT_REQUIRED", "unset",
             "`1`: `bin/audit` fails when the advisory service answered for no package",
             origin="gotrue-web", reader="bin/_audit_report.py"),
)

ENTRIES = (*GENERAL, *API, *DATABASE, *JWT, *LOGS, *CONSOLE, *TOOLS)
