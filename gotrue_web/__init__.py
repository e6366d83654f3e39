"""gotrue-web: a GoTrue-compatible authentication server with an operator console."""

from __future__ import annotations

import hashlib
import logging
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

    if settings is None:
        settings = settings_module.from_env()
    else:
        settings_module.validate(settings)
    app = GoTrueFlask(__name__, template_folder=str(ROOT / "templates"),
                static_folder=str(ROOT / "static"))
    configure_flask(app, settings)
    init_extensions(app, settings)
    init_runtime(app, settings)
    register_api(app, settings)
    register_console(app, settings)
    register_error_handlers(app)
    register_cli(app)
    from .proxies import ForwardedClient, parse_trusted_proxies

    app.wsgi_app = ForwardedClient(app.wsgi_app,
                                   parse_trusted_proxies(settings.api.trusted_proxies))
    return app


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
    logging.getLogger("gotrue_web").setLevel(settings.log_level.upper()
                                              if settings.log_level.upper() in logging._nameToLevel
                                              else "INFO")


def init_extensions(app: Flask, settings) -> None:
    from .db import configure_engine
    from .extensions import csrf, db, mail, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    mail.init_app(app)
    with app.app_context():
        configure_engine(db.engine)
    CORS(
        app,
        resources={r"^(?!/console|/static).*": {"origins": "*"}},
        supports_credentials=True,
        allow_headers=["Accept", "Authorization", "Content-Type", "X-Client-IP",
                       "X-Client-Info", "X-JWT-AUD", "X-Supabase-Api-Version", "apikey",
                       "redirect_to"],
        expose_headers=["X-Total-Count", "Link", "X-Supabase-Api-Version"],
        methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
    )


def init_runtime(app: Flask, settings) -> None:
    """The Runtime every service receives: settings, clock, keys, transports, limiter."""
    from .ratelimit import RateLimiter, default_storage_url
    from .runtime import Runtime
    from .security import common_passwords
    from .security.access_tokens import KeyRing
    from .security.passwords import PasswordHasher
    from .services.mail.log import PendingMailLog
    from .services.mail.outbox import MailOutbox
    from .services.mail.template_urls import TemplateURLCache
    from .services.hooks import log as hook_log
    from .services.phone import delivery as sms_delivery
    from .transports import sms
    from .transports.mail.smtp import SMTPMailer

    runtime = Runtime(
        settings=settings,
        keyring=KeyRing(settings.jwt),
        hasher=PasswordHasher(settings.password.bcrypt_cost),
        mailer=SMTPMailer(settings.smtp, app.extensions["mail"]),
        sms=sms.build(settings.sms, timeout=settings.external.http_timeout),
        limiter=RateLimiter.from_settings(
            settings.rate_limit,
            default_storage_url(
                f'{app.config["SQLALCHEMY_DATABASE_URI"]}#{settings.db.namespace}')),
        template_urls=TemplateURLCache(),
        mail_log=PendingMailLog(),
        outbox=MailOutbox(),
        common_passwords=(common_passwords.load() if settings.password.common_list_enabled
                          else frozenset()),
    )
    app.extensions["gotrue"] = runtime
    # Mail log entries outlive the request's transaction (a failed send is still recorded).
    app.teardown_appcontext(runtime.mail_log.write_pending)
    # sms_log rows likewise (a failed text message is still recorded).
    app.teardown_appcontext(sms_delivery.write_pending)
    # hook_deliveries rows likewise (a hook that failed the request is still recorded).
    app.teardown_appcontext(hook_log.write_pending)

    # Emails a request queued go out on the outbox's threads, so the answer does not wait for
    # the SMTP server; a failed request drops them (its tokens were rolled back).
    @app.after_request
    def _send_queued_mail(response):
        queued = runtime.outbox.take()
        if queued and response.status_code < 400:
            runtime.outbox.dispatch(lambda: _deliver_queued(app, runtime, queued))
        return response

    app.teardown_appcontext(runtime.outbox.discard)


def _deliver_queued(app: Flask, runtime, queued: list) -> None:
    from .services.mail import outbox

    with app.app_context():
        outbox.deliver(runtime, queued)


def register_api(app: Flask, settings) -> None:
    from .api import api
    from .extensions import csrf

    csrf.exempt(api)
    app.register_blueprint(api, url_prefix=API_PREFIX, name="api_v1")
    app.register_blueprint(api)

    # Served over HTTPS: browsers must never fall back to plain HTTP for this host.
    hsts = settings.api.external_url.startswith("https://")

    @app.after_request
    def _no_store(response):
        if not request.path.startswith((CONSOLE_PREFIX, "/static")):
            response.headers.setdefault("Cache-Control", "no-store")
        if hsts:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response


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
    )
    app.register_blueprint(console)

    @app.after_request
    def _console_headers(response):
        if request.path.startswith(CONSOLE_PREFIX):
            response.headers.setdefault("Content-Security-Policy", CONSOLE_CSP)
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
            response.headers.setdefault("Referrer-Policy", "same-origin")
            response.headers.setdefault("X-Frame-Options", "DENY")
            response.headers.setdefault("Cache-Control", "no-store")
        return response


HSTS = "max-age=31536000"
# Scripts and styles from this server only; previews live in sandboxed srcdoc iframes.
CONSOLE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
               "frame-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "
               "object-src 'none'")


def register_cli(app: Flask) -> None:
    from .cli import operators_cli

    app.cli.add_command(operators_cli)


def _is_api_request() -> bool:
    return not request.path.startswith((CONSOLE_PREFIX, "/static"))


def register_error_handlers(app: Flask) -> None:
    """GoTrueError and HTTP errors become GoTrue's JSON everywhere outside the console."""
    from .api.errors import from_http_exception, from_unexpected, render_error, render_oauth_error
    from .console import errors as console_errors
    from .errors import GoTrueError, OAuthError
    from .extensions import db

    @app.errorhandler(GoTrueError)
    def _gotrue_error(error: GoTrueError):
        if error.commit_first:
            db.session.commit()
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
        db.session.rollback()
        error = from_unexpected(exc)
        if not _is_api_request():
            return console_errors.unexpected_error()
        return render_error(error)
