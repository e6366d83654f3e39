"""Fuzz the served API with schemathesis: ``bin/fuzz-api`` (or ``python -m tests.openapi.fuzz``).

Starts gotrue-web on a free loopback port (a fresh, migrated SQLite database in a temporary
folder; autoconfirm and anonymous sign-ins on; generous rate limits so the fuzzer reaches past
them), then runs schemathesis twice against the document the server itself serves at
/openapi.json: the admin routes with an admin (service_role) bearer, and every other route under
/auth/v1 with a signed-up user's bearer. A run fails on any 5xx and on any answer that breaks
its documented status, content type, headers or schema. Bounded by --max-examples per operation
(default 15: well under a minute on two cores); other arguments go to both schemathesis runs.
One worker and a fixed seed by default, so a run is repeatable; ``--workers 2`` sends requests
concurrently, which also finds races between them.
"""

from __future__ import annotations

import argparse
import logging
import secrets
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import jwt
import requests
from werkzeug.serving import make_server

from gotrue_web import API_PREFIX, create_app
from gotrue_web.extensions import db
from gotrue_web.settings import Settings

CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_headers_conformance,response_schema_conformance")
# Run with the admin bearer. POST /logout is there too: with the user's bearer it would end
# the session every other user route of that run needs.
ADMIN_PATHS = r"^/(admin/|invite$|logout$)"


def fuzz_settings(database: Path, secret: str) -> Settings:
    high = 1_000_000
    return Settings(site_url="http://localhost:3000").replace(**{
        "api.external_url": "http://localhost:9999",
        "log_level": "warning",
        "db.url": f"sqlite:///{database}",
        "jwt.secret": secret,
        "password.bcrypt_cost": 4,
        "mailer.autoconfirm": True,
        "external.anonymous_users_enabled": True,
        "rate_limit.storage_url": "memory://",
        "rate_limit.verify": high, "rate_limit.otp": high, "rate_limit.token_refresh": high,
        "rate_limit.anonymous_users": high, "rate_limit.mfa_challenge_and_verify": high,
        "rate_limit.email_sent": str(high), "rate_limit.email_sent_per_client": 0,
        "rate_limit.email_sent_per_address": 0, "rate_limit.password_failures": 0,
        "rate_limit.password_failures_per_client": 0,
        # The OAuth 2.1 server on, with self-registration, so its routes are fuzzed past the
        # switch.
        "oauth_server.enabled": True, "oauth_server.allow_dynamic_registration": True,
        "oauth_server.authorization_path": "/oauth/consent",
        "rate_limit.oauth_client_register": high,
    })


def start_server(settings: Settings):
    app = create_app(settings)
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def user_token(base_url: str) -> str:
    email = f"fuzz-{secrets.token_hex(4)}@example.com"
    response = requests.post(f"{base_url}/signup", timeout=30,
                             json={"email": email, "password": "fuzz-password-1"})
    response.raise_for_status()
    return response.json()["access_token"]


def schemathesis(document_url: str, base_url: str, token: str, selection: list[str],
                 max_examples: int, extra: list[str], workdir: str) -> int:
    command = [
        str(Path(sys.executable).with_name("schemathesis")), "run", document_url,
        "--url", base_url, "--checks", CHECKS, "--max-examples", str(max_examples),
        "--phases", "examples,coverage,fuzzing,stateful", "--generation-database", "none",
        "--header", f"Authorization: Bearer {token}", "--request-timeout", "20",
        "--workers", "1", "--seed", "1", "--no-color", *selection, *extra,
    ]
    print("$ schemathesis run", document_url, "--url", base_url, *selection, flush=True)
    # In the temporary folder: schemathesis keeps a cache of crashes in its working directory.
    return subprocess.run(command, check=False, cwd=workdir).returncode


def main(argv: list[str] | None = None) -> int:
    # The server's request lines would bury schemathesis's report.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=15)
    args, extra = parser.parse_known_args(argv)
    with tempfile.TemporaryDirectory(prefix="gotrue-fuzz-") as folder:
        secret = secrets.token_urlsafe(48)
        server, base_url = start_server(fuzz_settings(Path(folder) / "gotrue.db", secret))
        try:
            admin = jwt.encode({"role": "service_role", "iss": "supabase"}, secret, "HS256")
            document_url = f"{base_url}/openapi.json"
            failed = schemathesis(document_url, base_url, admin,
                                  ["--include-path-regex", ADMIN_PATHS], args.max_examples,
                                  extra, folder)
            failed |= schemathesis(document_url, base_url + API_PREFIX, user_token(base_url),
                                   ["--exclude-path-regex", ADMIN_PATHS], args.max_examples,
                                   extra, folder)
        finally:
            server.shutdown()
            with server.app.app_context():
                db.engine.dispose()
    print("fuzz-api:", "FAILED" if failed else "passed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
