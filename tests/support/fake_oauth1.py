"""A fake Twitter: an OAuth 1.0a provider (RFC 5849) on a loopback port, reached through
GOTRUE_EXTERNAL_TWITTER_URL.

The server side is authlib's: AuthorizationServer issues the request token and the token
credentials, ResourceProtector guards verify_credentials. Both check the HMAC-SHA1 signature of
every request they receive, its timestamp and its nonce, so a request signed with the wrong
consumer secret or token secret is refused as Twitter would refuse it.

Twitter's access-token endpoint checks the exchange's signature with an empty token secret
(the consumer does not keep the request token's secret); ``exchange_token_secret`` is the
secret this fake expects there, "" by default. Everything received is recorded in
``received``, with the OAuth protocol parameters parsed by authlib.
"""

from __future__ import annotations

import dataclasses
import secrets
import threading
import time

from authlib.integrations.flask_oauth1 import AuthorizationServer, ResourceProtector
from authlib.oauth1 import OAuth1Request
from authlib.oauth1.errors import OAuth1Error
from flask import Flask, jsonify, redirect, request
from .loopback_http import LoopbackWSGIServer

TWITTER_ROUTES = {"request_token": "/oauth/request_token", "authenticate": "/oauth/authenticate",
                  "access_token": "/oauth/access_token",
                  "profile": "/1.1/account/verify_credentials.json"}
PROFILE_ARGS = {"include_entities": "false", "skip_status": "true", "include_email": "true"}


@dataclasses.dataclass
class Consumer:
    client_id: str
    secret: str

    def get_default_redirect_uri(self):
        return None

    def get_client_secret(self):
        return self.secret

    def get_rsa_public_key(self):
        return None


@dataclasses.dataclass
class Credential:
    """A request token (with its callback and, once granted, its verifier) or token
    credentials."""

    token: str
    secret: str
    client_id: str
    redirect_uri: str = ""
    verifier: str = ""

    def get_client_id(self):
        return self.client_id

    def get_redirect_uri(self):
        return self.redirect_uri

    def check_verifier(self, verifier):
        return bool(self.verifier) and secrets.compare_digest(verifier, self.verifier)

    def get_oauth_token(self):
        return self.token

    def get_oauth_token_secret(self):
        return self.secret

    def get_user_id(self):
        return 1


class FakeTwitter(LoopbackWSGIServer):
    def __init__(self, *, client_id: str = "client-1", secret: str = "secret:1 two"):
        self.routes = TWITTER_ROUTES
        self.client_id, self.secret = client_id, secret
        self.consumer = Consumer(client_id, secret)
        self.profile_document: dict = {}
        # "ok", "error" (500), "garbage" (an HTML page), "slow" (sleeps ``delay``)
        self.request_token_mode = "ok"
        self.access_token_mode = "ok"
        self.profile_status = 200
        self.delay = 0.0
        self.deny = False
        self.exchange_token_secret = ""
        self.received: list[dict] = []
        self.request_tokens: dict[str, Credential] = {}
        self.access_tokens: dict[str, Credential] = {}
        self.nonces: set[tuple] = set()
        self.lock = threading.Lock()
        self.serve(self._build())

    def requests_to(self, route: str) -> list[dict]:
        with self.lock:
            return [r for r in self.received if r["path"] == route]

    # --- the provider ---

    def _record(self) -> None:
        body = request.form.to_dict() if request.method == "POST" else None
        try:
            oauth = OAuth1Request(request.method, request.url, body, request.headers).oauth_params
        except (ValueError, OAuth1Error):
            oauth = {}
        with self.lock:
            self.received.append({"method": request.method, "path": request.path,
                                  "args": request.args.to_dict(), "oauth": dict(oauth),
                                  "authorization": request.headers.get("Authorization", "")})

    def _exists_nonce(self, nonce, timestamp, client_id, token) -> bool:
        key = (nonce, timestamp, client_id, token)
        with self.lock:
            if key in self.nonces:
                return True
            self.nonces.add(key)
            return False

    def _create_request_token(self, token: dict, client_id: str, redirect_uri: str):
        credential = Credential(token["oauth_token"], token["oauth_token_secret"], client_id,
                                redirect_uri)
        self.request_tokens[credential.token] = credential
        return credential

    def _get_request_token(self, token: str):
        credential = self.request_tokens.get(token)
        if credential is not None and request.path == self.routes["access_token"]:
            # Twitter checks the exchange's signature with this token secret.
            return dataclasses.replace(credential, secret=self.exchange_token_secret)
        return credential

    def _grant(self, credential: Credential, user, verifier: str) -> None:
        self.request_tokens[credential.token].verifier = verifier

    def _create_access_token(self, token: dict, request_token: Credential):
        credential = Credential(token["oauth_token"], token["oauth_token_secret"],
                                request_token.client_id)
        self.access_tokens[credential.token] = credential
        return credential

    def _query_token(self, client_id: str, token: str):
        credential = self.access_tokens.get(token)
        return credential if credential is not None and credential.client_id == client_id \
            else None

    def _broken(self, mode: str):
        if mode == "error":
            return "upstream exploded", 500
        if mode == "garbage":
            return "<html>gateway</html>", 200, {"Content-Type": "text/html"}
        if mode == "slow":
            time.sleep(self.delay)
        return None

    def _build(self) -> Flask:
        app = Flask(f"fake-twitter-{id(self)}")
        consumers = {self.consumer.client_id: self.consumer}
        server = AuthorizationServer(app, query_client=consumers.get)
        for name, hook in (("exists_nonce", self._exists_nonce),
                           ("create_temporary_credential", self._create_request_token),
                           ("get_temporary_credential", self._get_request_token),
                           ("delete_temporary_credential",
                            lambda token: self.request_tokens.pop(token, None)),
                           ("create_authorization_verifier", self._grant),
                           ("create_token_credential", self._create_access_token)):
            server.register_hook(name, hook)
        protected = ResourceProtector(app, query_client=consumers.get,
                                      query_token=self._query_token,
                                      exists_nonce=self._exists_nonce)
        routes = self.routes

        @app.route(routes["request_token"], methods=["POST"])
        def request_token():
            self._record()
            return self._broken(self.request_token_mode) or \
                server.create_temporary_credentials_response()

        @app.route(routes["authenticate"])
        def authenticate():
            # The user is signed in at Twitter and allows the app (or, with ``deny``, not).
            self._record()
            try:
                server.check_authorization_request()
            except OAuth1Error as error:
                return jsonify(error=error.error), 400
            if self.deny:
                credential = self.request_tokens[request.args["oauth_token"]]
                target = credential.redirect_uri
                return redirect(target + ("&" if "?" in target else "?")
                                + "denied=" + credential.token)
            return server.create_authorization_response(grant_user=1)

        @app.route(routes["access_token"], methods=["POST"])
        def access_token():
            self._record()
            return self._broken(self.access_token_mode) or server.create_token_response()

        @app.route(routes["profile"])
        def verify_credentials():
            self._record()
            try:
                protected.acquire_credential()
            except OAuth1Error as error:
                return jsonify(errors=[{"message": error.error}]), 401
            if request.args.to_dict() != PROFILE_ARGS:
                return jsonify(errors=[{"message": "unexpected query"}]), 400
            if self.profile_status != 200:
                return jsonify(errors=[{"message": "broken"}]), self.profile_status
            return jsonify(self.profile_document)

        @app.errorhandler(404)
        def unknown(_error):
            self._record()
            return "not found", 404

        return app
