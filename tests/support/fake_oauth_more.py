"""Route tables for the fake X, LinkedIn (legacy) and Slack (legacy) providers, as their
modules place the endpoints under GOTRUE_EXTERNAL_<P>_URL, and a fake X that enforces PKCE."""

from __future__ import annotations

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from flask import jsonify, request

from .fake_oauth import FakeProvider

X_ROUTES = {"authorize": "/i/oauth2/authorize", "token": "/2/oauth2/token",
            "profiles": ("/2/users/me",)}
LINKEDIN_ROUTES = {"authorize": "/oauth/v2/authorization", "token": "/oauth/v2/accessToken",
                   "profiles": ("/v2/me", "/v2/emailAddress")}
SLACK_ROUTES = {"authorize": "/oauth/authorize", "token": "/api/oauth.access",
                "profiles": ("/api/openid.connect.userInfo",)}


class PKCEFakeProvider(FakeProvider):
    """A provider that requires PKCE from its clients, as X does: the authorize request must
    carry an S256 challenge, and the token request the verifier of the challenge its code was
    issued for (else 400 invalid_grant, before anything else is looked at)."""

    def __init__(self, routes: dict, **kwargs):
        super().__init__(routes, **kwargs)
        self.app.before_request(self._require_pkce)

    def _require_pkce(self):
        if request.path == self.routes["authorize"]:
            if request.args.get("code_challenge_method") != "S256" or \
                    not request.args.get("code_challenge"):
                self._record()
                return jsonify(error="invalid_request", error_description="PKCE required"), 400
        elif request.path == self.routes["token"] and self.token_mode == "ok":
            issued = self.codes.get(request.form.get("code", ""))
            verifier = request.form.get("code_verifier", "")
            if issued is None or not verifier or \
                    create_s256_code_challenge(verifier) != issued.get("code_challenge"):
                self._record()
                return jsonify(error="invalid_grant",
                               error_description="code_verifier does not match"), 400
        return None
