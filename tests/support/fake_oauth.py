"""Fake OAuth providers: small Flask apps on loopback ports, reached through
GOTRUE_EXTERNAL_<P>_URL.

FakeProvider plays the provider's side of the authorization-code dance: its authorize page
redirects straight back with a code (or with ``deny`` set, with an error), its token endpoint
checks the client credentials and the code, and its profile endpoints answer what the test put
in ``documents``. With ``signing_key`` it is an OIDC server too: discovery, JWKS, and an
id_token in the token reply. Everything it receives is recorded in ``received``.

``token_mode`` breaks the token endpoint: "error" (500), "garbage" (an HTML page), "slow"
(sleeps ``delay`` seconds), "no_basic" (refuses HTTP Basic, accepts credentials in the body),
"no_access_token" (JSON without access_token).
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from urllib.parse import unquote_plus, urlencode

from flask import Flask, jsonify, redirect, request
from joserfc import jwt
from joserfc.jwk import RSAKey
from markupsafe import escape
from .loopback_http import LoopbackWSGIServer

GITHUB_ROUTES = {"authorize": "/login/oauth/authorize", "token": "/login/oauth/access_token",
                 "profiles": ("/api/v3/user", "/api/v3/user/emails")}
GITLAB_ROUTES = {"authorize": "/oauth/authorize", "token": "/oauth/token",
                 "profiles": ("/api/v4/user", "/api/v4/user/emails")}
KEYCLOAK_ROUTES = {"authorize": "/realms/test/protocol/openid-connect/auth",
                   "token": "/realms/test/protocol/openid-connect/token",
                   "profiles": ("/realms/test/protocol/openid-connect/userinfo",)}
GOOGLE_ROUTES = {"authorize": "/o/oauth2/v2/auth", "token": "/token",
                 "profiles": ("/userinfo/v2/me",),
                 "discovery": "/.well-known/openid-configuration", "jwks": "/oauth2/v3/certs"}
GOOGLE_ISSUER = "https://accounts.google.com"

# The paths of the other providers as their modules place them under GOTRUE_EXTERNAL_<P>_URL.
BITBUCKET_ROUTES = {"authorize": "/site/oauth2/authorize", "token": "/site/oauth2/access_token",
                    "profiles": ("/2.0/user", "/2.0/user/emails")}
DISCORD_ROUTES = {"authorize": "/api/oauth2/authorize", "token": "/api/oauth2/token",
                  "profiles": ("/api/users/@me",)}
FACEBOOK_ROUTES = {"authorize": "/dialog/oauth", "token": "/oauth/access_token",
                   "profiles": ("/me",)}
SPOTIFY_ROUTES = {"authorize": "/authorize", "token": "/api/token", "profiles": ("/me",)}
TWITCH_ROUTES = {"authorize": "/oauth2/authorize", "token": "/oauth2/token",
                 "profiles": ("/helix/users",)}
NOTION_ROUTES = {"authorize": "/v1/oauth/authorize", "token": "/v1/oauth/token",
                 "profiles": ("/v1/users/me",)}
ZOOM_ROUTES = {"authorize": "/oauth/authorize", "token": "/oauth/token",
               "profiles": ("/v2/users/me",)}
FIGMA_ROUTES = {"authorize": "/oauth", "token": "/v1/oauth/token", "profiles": ("/v1/me",)}
FLY_ROUTES = {"authorize": "/oauth/authorize", "token": "/oauth/token",
              "profiles": ("/oauth/token/info",)}
KAKAO_ROUTES = {"authorize": "/oauth/authorize", "token": "/oauth/token",
                "profiles": ("/v2/user/me",)}
WORKOS_ROUTES = {"authorize": "/sso/authorize", "token": "/sso/token", "profiles": ()}
SLACK_OIDC_ROUTES = {"authorize": "/openid/connect/authorize",
                     "token": "/api/openid.connect.token",
                     "profiles": ("/api/openid.connect.userInfo",)}
LINKEDIN_OIDC_ROUTES = {"authorize": "/oauth/v2/authorization", "token": "/oauth/v2/accessToken",
                        "profiles": (), "discovery": "/oauth/.well-known/openid-configuration",
                        "jwks": "/oauth/openid/jwks"}
LINKEDIN_ISSUER = "https://www.linkedin.com/oauth"
# Azure with URL=<fake>/tenant-1: the token's issuer is Microsoft's, its discovery is on the fake.
AZURE_ROUTES = {"authorize": "/tenant-1/oauth2/v2.0/authorize",
                "token": "/tenant-1/oauth2/v2.0/token", "profiles": (),
                "discovery": "/tenant-1/v2.0/.well-known/openid-configuration",
                "jwks": "/tenant-1/discovery/v2.0/keys"}
AZURE_ISSUER = "https://login.microsoftonline.com/tenant-1/v2.0"


class FakeProvider(LoopbackWSGIServer):
    def __init__(self, routes: dict, *, client_id: str = "client-1",
                 secret: str = "secret:1 two", signing_key: RSAKey | None = None,
                 issuer: str = GOOGLE_ISSUER):
        self.routes = routes
        self.client_id, self.secret = client_id, secret
        self.signing_key = signing_key
        self.issuer = issuer
        self.documents: dict[str, object] = {}
        # Headers every profile request must carry (else 401), e.g. Twitch's Client-Id.
        self.required_headers: dict[str, str] = {}
        # Extra keys of the token reply (WorkOS puts the profile there).
        self.token_extra: dict[str, object] = {}
        self.id_token_claims: dict | None = None
        self.token_mode = "ok"
        self.profile_status = 200
        self.discovery_status = 200
        self.deny = False
        # More fields of a response_mode=form_post answer (Apple's id_token and user).
        self.form_post_extra: dict[str, str] = {}
        self.delay = 0.0
        self.refresh_token = "provider-refresh-1"
        self.received: list[dict] = []
        self.codes: dict[str, dict] = {}
        self.access_tokens: set[str] = set()
        self.lock = threading.Lock()
        self.serve(self._build())

    def requests_to(self, route: str) -> list[dict]:
        with self.lock:
            return [r for r in self.received if r["path"] == route]

    # --- the provider ---

    def _record(self) -> None:
        with self.lock:
            self.received.append({
                "method": request.method, "path": request.path,
                "args": request.args.to_dict(), "form": request.form.to_dict(),
                "authorization": request.headers.get("Authorization", ""),
                "accept": request.headers.get("Accept", ""),
                "headers": dict(request.headers),
            })

    def _client_authenticated(self) -> bool:
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            if self.token_mode == "no_basic":
                return False
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            return (unquote_plus(user), unquote_plus(password)) == (self.client_id, self.secret)
        return (request.form.get("client_id"), request.form.get("client_secret")) == (
            self.client_id, self.secret)

    def _build(self) -> Flask:
        app = Flask(f"fake-oauth-{id(self)}")
        routes = self.routes

        @app.route(routes["authorize"])
        def authorize():
            self._record()
            target = request.args["redirect_uri"]
            if request.args.get("response_mode") == "form_post":
                return self._form_post(target)
            if self.deny:
                return redirect(target + "?" + urlencode({
                    "error": "access_denied", "error_description": "The user said no",
                    "state": request.args.get("state", "")}))
            code = secrets.token_urlsafe(12)
            self.codes[code] = request.args.to_dict()
            return redirect(target + "?" + urlencode({"code": code,
                                                      "state": request.args["state"]}))

        @app.route(routes["token"], methods=["POST"])
        def token():
            self._record()
            if self.token_mode == "error":
                return "upstream exploded", 500
            if self.token_mode == "garbage":
                return "<html>gateway</html>", 200, {"Content-Type": "text/html"}
            if self.token_mode == "slow":
                time.sleep(self.delay)
            if not self._client_authenticated():
                return jsonify(error="invalid_client"), 401
            if request.form.get("code") not in self.codes:
                return jsonify(error="invalid_grant"), 400
            if self.token_mode == "no_access_token":
                return jsonify(token_type="bearer")
            access_token = "provider-access-" + secrets.token_hex(4)
            self.access_tokens.add(access_token)
            reply = {"access_token": access_token, "token_type": "bearer",
                     "refresh_token": self.refresh_token, "expires_in": 3600,
                     **self.token_extra}
            if self.id_token_claims is not None and self.signing_key is not None:
                reply["id_token"] = self.sign({**self.id_token_claims})
            return jsonify(reply)

        def profile():
            self._record()
            header = request.headers.get("Authorization", "")
            if header.removeprefix("Bearer ") not in self.access_tokens:
                return jsonify(message="bad token"), 401
            if any(request.headers.get(k) != v for k, v in self.required_headers.items()):
                return jsonify(message="missing header"), 401
            if self.profile_status != 200:
                return jsonify(message="broken"), self.profile_status
            return jsonify(self.documents[request.path])

        for path in routes["profiles"]:
            app.add_url_rule(path, path, profile)

        if "discovery" in routes:
            @app.route(routes["discovery"])
            def discovery():
                self._record()
                if self.discovery_status != 200:
                    return "unavailable", self.discovery_status
                return jsonify({
                    "issuer": self.issuer,
                    "authorization_endpoint": self.url + routes["authorize"],
                    "token_endpoint": self.url + routes["token"],
                    "userinfo_endpoint": self.url + (routes["profiles"] or ("/userinfo",))[0],
                    "jwks_uri": self.url + routes["jwks"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                })

            @app.route(routes["jwks"])
            def jwks():
                self._record()
                return jsonify({"keys": [self.signing_key.as_dict(private=False)]})

        return app

    def _form_post(self, target: str) -> str:
        """The answer as a page whose form the browser POSTs to ``target`` (OIDC form_post)."""
        if self.deny:
            fields = {"error": "access_denied", "error_description": "The user said no"}
        else:
            code = secrets.token_urlsafe(12)
            self.codes[code] = request.args.to_dict()
            fields = {"code": code, **self.form_post_extra}
        fields["state"] = request.args.get("state", "")
        inputs = "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">'
                         for k, v in fields.items())
        return f'<form method="post" action="{escape(target)}">{inputs}</form>'

    def sign(self, claims: dict) -> str:
        now = int(time.time())
        claims.setdefault("iss", self.issuer)
        claims.setdefault("aud", self.client_id)
        claims.setdefault("iat", now)
        claims.setdefault("exp", now + 600)
        return jwt.encode({"alg": "RS256", "kid": self.signing_key.kid}, claims,
                          self.signing_key)


def rsa_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "test-key-1"}, private=True)
