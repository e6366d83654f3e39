"""gotrue-web: a GoTrue-compatible authentication server with an operator console."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface
from flask_cors import CORS
from werkzeug.exceptions import HTTPException

__version__ = "0.1.0"

ROOT = Path(__file__).resolve().parent.parent
API_PREFIX = "/auth/v1"
CONSOLE_PREFIX = "/console"


class GoTrueFlask(Flask):
    """Flask minus its per-call coroutine check: nothing registered here is async, and Flask
    would otherwise inspect each of the dozen hook functions on every request."""

    def ensure_sync(self, func):
        return func


def create_app(settings=None) -> Flask:
    """Build the app from ``settings`` (default: the environment), in a few named steps.

    Never touches the database or the network: the schema comes from ``flask db upgrade``.
    """
    from . import settings as settings_module
    from .observability import init_observability, logs

    findings = []
    if settings is None:
        values = settings_module.environment_values()
        settings = settings_module.from_env(values, env_file=None)
        findings = review_configuration(values, settings)
    else:
        settings_module.validate(settings)
    app = GoTrueFlask(__name__, template_folder=str(ROOT / "templates"),
                static_folder=str(ROOT / "static"))
    configure_flask(app, settings)
    init_observability(app, settings)
    logs.warn_once(finding.message for finding in findings)
    # The console's settings page shows them too.
    app.extensions["gotrue_config_findings"] = list(findings)
    init_extensions(app, settings)
    init_runtime(app, settings)
    register_api(app, settings)
    register_console(app, settings)
    register_response_headers(app, settings)
    register_error_handlers(app)
    register_cli(app)
    from .proxies import ForwardedClient, parse_trusted_proxies

    app.wsgi_app = ForwardedClient(app.wsgi_app,
                                   parse_trusted_proxies(settings.api.trusted_proxies))
    return app


def review_configuration(values, settings) -> list:
    """What is set in ``values`` (the environment and .env) but will not take effect, as
    findings with a message each: names not honoured or unknown (settings/catalogue), features
    configured but not available (api/settings.py), an unknown GOTRUE_LOG_LEVEL.

    GOTRUE_STRICT_CONFIG=true makes any of them (but the OAuth server's ID-token warning) a
    SettingsError, so the server does not start.
    gunicorn.conf.py calls this in the master and logs the warnings there, once."""
    from .api.settings import unavailable_features
    from .observability.logs import is_level
    from .settings.catalogue.review import INVALID, UNAVAILABLE, Finding, refuse, review
    from .transports import sms

    findings = review(values) + unavailable_features(settings, sms.build(settings.sms))
    if not is_level(settings.log_level):
        findings.append(Finding("GOTRUE_LOG_LEVEL", INVALID, (
            f"GOTRUE_LOG_LEVEL: unknown level {settings.log_level!r}, using info (expected "
            "debug, info, warn, error, fatal or panic)")))
    if settings.strict_config and findings:
        raise refuse(findings)
    # A warning, never a refusal: an OAuth server without ID tokens is a valid set-up.
    from .services.oauth_server.id_tokens import startup_warning

    openid_refused = startup_warning(settings)
    if openid_refused:
        findings.append(Finding("GOTRUE_OAUTH_SERVER_ENABLED", UNAVAILABLE, openid_refused))
    return findings


def configure_flask(app: Flask, settings) -> None:
    """Derive every Flask key from Settings; nothing else reads the environment."""
    from .db import engine_options

    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    database_url = settings.db.url or f"sqlite:///{Path(app.instance_path) / 'gotrue.db'}"
    app.config.update(
        SECRET_KEY=hashlib.sha256(b"gotrue-web console\x00" + settings.jwt.secret.encode())
        .hexdigest(),
        SQLALCHEMY_DATABASE_URI=database_url,
        SQLALCHEMY_ENGINE_OPTIONS=engine_options(
            database_url, settings.db.namespace, settings.db.pool_size),
        MAX_CONTENT_LENGTH=settings.api.max_request_bytes,
        GOTRUE_SETTINGS=settings,
    )
    from .transports.mail.smtp import flask_mail_config

    app.config.update(flask_mail_config(settings.smtp))
    app.session_interface = ConsoleOnlySessions()
    app.json.sort_keys = False
    app.json.compact = True
    app.json.ensure_ascii = False


def init_extensions(app: Flask, settings) -> None:
    from . import driver_sql
    from .db import configure_engine, release_session
    from .extensions import csrf, db, mail, migrate
    from .observability import observe_database
    from .observability.request_ids import DEFAULT_ECHO_HEADER

    db.init_app(app)
    # Teardowns run in reverse order: this one just before Flask-SQLAlchemy's own removal of
    # the request's session, which then has nothing left to do (db.release_session).
    app.teardown_appcontext(lambda _exception=None: release_session(db.session))
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    mail.init_app(app)
    with app.app_context():
        configure_engine(db.engine)
        statement_span = observe_database(app, db.engine)
    if statement_span is not None:
        # Tracing is on: the hot paths' raw driver statements get spans as well.
        driver_sql.statement_span = statement_span
    hooks_before_cors = len(app.after_request_funcs[None])
    CORS(
        app,
        resources={r"^(?!/console|/static).*": {"origins": "*"}},
        supports_credentials=True,
        allow_headers=["Accept", "Authorization", "Content-Type", "X-Client-IP",
                       "X-Client-Info", "X-JWT-AUD", "X-Supabase-Api-Version", "apikey",
                       "redirect_to"],
        # The request id (observability.request_log) too: a browser client may quote it.
        expose_headers=["X-Total-Count", "Link", "X-Supabase-Api-Version",
                        settings.api.request_id_header or DEFAULT_ECHO_HEADER],
        methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
    )
    hooks = app.after_request_funcs[None]
    hooks[hooks_before_cors:] = [_cross_origin_only(hook) for hook in hooks[hooks_before_cors:]]


def _cross_origin_only(cors_hook):
    """flask-cors's after_request hook, run only for requests with an Origin header. Without
    one it adds nothing (this server allows credentials, so it never sends a wildcard) but
    still matches the path and reads the headers, ~15 us on every server-to-server call."""

    @functools.wraps(cors_hook)
    def cors_when_cross_origin(response):
        if not request.environ.get("HTTP_ORIGIN"):
            return response
        return cors_hook(response)

    return cors_when_cross_origin


def init_runtime(app: Flask, settings) -> None:
    """The Runtime every service receives: settings, clock, keys, transports, limiter."""
    from .ratelimit import RateLimiter, default_storage_url
    from .runtime import Runtime
    from .security import common_passwords
    from .security.access_tokens import KeyRing
    from .security.passwords import PasswordHasher
    from .services.cleanup import DatabaseCleaner
    from .services.hooks import log as hook_log
    from .services.live_settings import LiveSettings
    from .services.mail.dispatcher import MailOutbox
    from .services.mail.log import PendingMailLog
    from .services.mail.template_urls import TemplateURLCache
    from .services.phone import delivery as sms_delivery
    from .transports import sms
    from .transports.mail.smtp import SMTPMailer
    from .transports.pwned_passwords import KnownPwned

    metrics = app.extensions["gotrue_metrics"]  # observability.metrics.install
    runtime = Runtime(
        settings=settings,
        keyring=KeyRing(settings.jwt),
        hasher=PasswordHasher(settings.password.bcrypt_cost),
        mailer=SMTPMailer(settings.smtp, app.extensions["mail"]),
        sms=sms.build(settings.sms, timeout=settings.external.http_timeout),
        limiter=RateLimiter.from_settings(
            settings.rate_limit,
            default_storage_url(
                f'{app.config["SQLALCHEMY_DATABASE_URI"]}#{settings.db.namespace}'),
            on_refusal=metrics.rate_limit_refused),
        template_urls=TemplateURLCache(),
        mail_log=PendingMailLog(),
        outbox=MailOutbox(settings),
        metrics=metrics,
        common_passwords=(common_passwords.load() if settings.password.common_list_enabled
                          else frozenset()),
        known_pwned=(KnownPwned(settings.password.hibp_bloom_items,
                                settings.password.hibp_bloom_false_positives)
                     if settings.password.hibp_bloom_enabled else None),
        live_settings=LiveSettings(settings),
        cleaner=DatabaseCleaner(settings),
    )
    app.extensions["gotrue"] = runtime

    # A process's background threads start with its first request (after any fork) other
    # than a health check, which must never reach the database. Settings changed in the
    # console (runtime_settings): that request loads them, then a thread of its own looks for
    # changes. The mail outbox's dispatcher thread: see _send_queued_mail. The database
    # cleanup's thread (services/cleanup).
    @app.before_request
    def _start_process_threads():
        if not request.path.endswith("/health"):
            runtime.live_settings.before_request(app)
            runtime.outbox.start(app)
            runtime.cleaner.start(app)

    # Mail log entries outlive the request's transaction (a failed send is still recorded).
    app.teardown_appcontext(runtime.mail_log.write_pending)
    # sms_log rows likewise (a failed text message is still recorded).
    app.teardown_appcontext(sms_delivery.write_pending)
    # hook_deliveries rows likewise (a hook that failed the request is still recorded).
    app.teardown_appcontext(hook_log.write_pending)

    # Emails a request queued are rows of its transaction (the mail outbox). This process's
    # dispatcher thread (started by _start_process_threads) is woken once a request that
    # queued mail has answered successfully (and so committed). A request that failed rolled
    # its rows back, unless its error committed first: those are withdrawn.
    @app.after_request
    def _send_queued_mail(response):
        queued = runtime.outbox.take()
        if queued and response.status_code < 400:
            runtime.outbox.wake()
        elif queued:
            runtime.outbox.withdraw(queued)
        return response

    app.teardown_appcontext(runtime.outbox.discard)
    _register_outbox_cli(app)


def _register_outbox_cli(app: Flask) -> None:
    """``flask --app wsgi outbox run``: the dispatcher as a process of its own."""
    import click
    from flask.cli import AppGroup

    from .services.mail import dispatcher

    outbox_cli = AppGroup("outbox", help="Send the emails waiting in the mail outbox.")

    @outbox_cli.command("run", help="Send due emails, then keep looking every "
                        "GOTRUE_MAILER_OUTBOX_POLL_INTERVAL until stopped (Ctrl-C, SIGTERM).")
    @click.option("--once", is_flag=True, help="Send what is due now, then exit.")
    def run(once: bool):
        import signal
        import threading

        runtime = app.extensions["gotrue"]
        stop = threading.Event()
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            tried = dispatcher.run(runtime, runtime.outbox.sealer, once=once, stop=stop,
                                   echo=click.echo)
        except KeyboardInterrupt:
            return
        if once:
            click.echo(f"mail outbox: tried {tried} email(s); "
                       f"{dispatcher.backlog(runtime)} waiting")

    app.cli.add_command(outbox_cli)


def register_api(app: Flask, settings) -> None:
    from .api import api

    app.register_blueprint(api, url_prefix=API_PREFIX, name="api_v1")
    app.register_blueprint(api)


class ConsoleOnlySessions(SecureCookieSessionInterface):
    """Cookie sessions exist for the operator console only; API requests never open one."""

    def open_session(self, app, request):
        if not request.path.startswith(CONSOLE_PREFIX):
            return self.make_null_session(app)
        return super().open_session(app, request)


def register_console(app: Flask, settings) -> None:
    """The operator console at /console: cookie rules, security headers, HTML errors."""
    from .console import console

    # Over HTTPS the cookie is Secure and __Host- prefixed (no Domain, Path=/, Secure).
    secure = settings.api.external_url.startswith("https://")
    app.config.update(
        SESSION_COOKIE_NAME="__Host-gotrue-console" if secure else "gotrue-console",
        SESSION_COOKIE_SECURE=secure,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_PATH="/",
        PERMANENT_SESSION_LIFETIME=settings.console.max_age,
        WTF_CSRF_TIME_LIMIT=int(settings.console.max_age.total_seconds()),
        WTF_CSRF_SSL_STRICT=secure,
        # The console blueprint checks CSRF itself (console.check_csrf); the JSON API, which
        # takes no cookies, is spared the per-request check.
        WTF_CSRF_CHECK_DEFAULT=False,
    )
    app.register_blueprint(console)


def register_response_headers(app: Flask, settings) -> None:
    """Headers every answer carries: no-store on the API, the console's security headers, and
    HSTS when served over HTTPS (browsers must never fall back to plain HTTP for this host)."""
    hsts = settings.api.external_url.startswith("https://")

    @app.after_request
    def _response_headers(response):
        path = request.path
        if path.startswith(CONSOLE_PREFIX):
            defaults = CONSOLE_HEADERS
        elif not path.startswith("/static"):
            defaults = API_HEADERS
        else:
            defaults = ()
        if hsts:
            defaults += HSTS_HEADER
        _add_missing(response.headers, defaults)
        return response


def _add_missing(headers, defaults: tuple[tuple[str, str], ...]) -> None:
    """Each header the view did not set. Not Headers.setdefault: a miss there raises and
    catches an HTTP exception, a few microseconds per header on every answer."""
    present = {name.lower() for name, _ in headers}
    for name, value in defaults:
        if name.lower() not in present:
            headers[name] = value


HSTS = "max-age=31536000"
HSTS_HEADER = (("Strict-Transport-Security", HSTS),)
API_HEADERS = (("Cache-Control", "no-store"),)
# Scripts and styles from this server only; previews live in sandboxed srcdoc iframes.
CONSOLE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
               "frame-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "
               "object-src 'none'")
CONSOLE_HEADERS = (("Content-Security-Policy", CONSOLE_CSP), ("X-Content-Type-Options", "nosniff"),
                   ("Referrer-Policy", "same-origin"), ("X-Frame-Options", "DENY"),
                   ("Cache-Control", "no-store"))


def register_cli(app: Flask) -> None:
    from .cli import cleanup_cli, operators_cli, reencrypt_secrets_cli, search_index_cli

    app.cli.add_command(operators_cli)
    app.cli.add_command(cleanup_cli)
    app.cli.add_command(search_index_cli)
    app.cli.add_command(reencrypt_secrets_cli)


def _is_api_request() -> bool:
    return not request.path.startswith((CONSOLE_PREFIX, "/static"))


def register_error_handlers(app: Flask) -> None:
    """GoTrueError and HTTP errors become GoTrue's JSON everywhere outside the console."""
    import sqlalchemy as sa

    from .api.errors import (
        DATABASE_RETRY_AFTER_SECONDS,
        from_database_unavailable,
        from_http_exception,
        from_unexpected,
        render_error,
        render_oauth_error,
    )
    from .console import errors as console_errors
    from .db import database_unavailable, discard_session
    from .errors import GoTrueError, OAuthError
    from .extensions import db

    @app.errorhandler(GoTrueError)
    def _gotrue_error(error: GoTrueError):
        if error.commit_first:
            try:
                db.session.commit()
            except sa.exc.SQLAlchemyError as failure:  # what it had to keep was not saved
                return _unexpected(failure)
        else:
            db.session.rollback()
        if not _is_api_request():
            return console_errors.refused_error(error)
        return render_error(error)

    @app.errorhandler(OAuthError)
    def _oauth_error(error: OAuthError):
        db.session.rollback()
        return render_oauth_error(error)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if not _is_api_request():
            return console_errors.http_error(exc)
        return render_error(from_http_exception(exc))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        unavailable = database_unavailable(exc)
        if unavailable:
            # The connection may be gone: rolling back must not fail the answer as well.
            discard_session(db.session)
            error = from_database_unavailable(exc, unavailable)
            if not _is_api_request():
                return console_errors.database_unavailable(DATABASE_RETRY_AFTER_SECONDS)
            return render_error(error)
        db.session.rollback()
        error = from_unexpected(exc)
        if not _is_api_request():
            return console_errors.unexpected_error()
        return render_error(error)
