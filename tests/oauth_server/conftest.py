"""Fixtures for this server as an OAuth 2.1 / OIDC authorization server: an app with the server
on (consent page at SITE_URL/oauth/consent, an RSA signing key so ID tokens can be made), its
API client, and clients registered straight into the database (the admin API's own tests
register them through the API)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gotrue_web.extensions import db
from gotrue_web.models import ClientType, OAuthClient, RegistrationType
from gotrue_web.security.client_secrets import client_secret_hash, new_client_secret

from ..conftest import ApiClient, api_for

SITE = "http://localhost:3000"
CONSENT_PATH = "/oauth/consent"
REDIRECT_URI = "http://localhost:8765/callback"


def _private_jwk(key, algorithm: str, kid: str, ops: list[str]) -> dict:
    jwk = json.loads(jwt.algorithms.get_default_algorithms()[algorithm].to_jwk(key))
    jwk.update({"kid": kid, "alg": algorithm, "key_ops": ops})
    return jwk


@pytest.fixture(scope="session")
def signing_keys() -> tuple[dict, ...]:
    """GOTRUE_JWT_KEYS: an RSA key that signs (access and ID tokens) and a P-256 key that only
    verifies (published in the JWKS as well)."""
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    return (_private_jwk(rsa_key, "RS256", "oauth-server-rsa", ["sign", "verify"]),
            _private_jwk(ec_key, "ES256", "oauth-server-ec", ["verify"]))


def oauth_overrides(signing_keys, **overrides) -> dict:
    """make_app overrides for an app with the OAuth server on."""
    return {"oauth_server.enabled": True, "oauth_server.authorization_path": CONSENT_PATH,
            "site_url": SITE, "jwt.keys": tuple(signing_keys), "mailer.autoconfirm": True,
            **overrides}


@pytest.fixture
def oauth_app(make_app, signing_keys):
    return make_app(**oauth_overrides(signing_keys))


@pytest.fixture
def oauth_api(oauth_app, service_role_token) -> ApiClient:
    return api_for(oauth_app, service_role_token)


@dataclass
class RegisteredClient:
    client_id: str
    secret: str | None
    redirect_uris: tuple[str, ...]
    client_type: str


def register_client(app, *, client_type: str = "confidential",
                    redirect_uris: tuple[str, ...] = (REDIRECT_URI,),
                    auth_method: str | None = None,
                    grant_types: tuple[str, ...] = ("authorization_code", "refresh_token"),
                    name: str | None = "Example App", disabled: bool = False,
                    deleted: bool = False) -> RegisteredClient:
    """A client row written straight into ``app``'s database (as the admin API would)."""
    method = auth_method or ("none" if client_type == "public" else "client_secret_basic")
    secret = new_client_secret() if client_type == "confidential" else None
    now = datetime.now(timezone.utc)
    client_id = uuid.uuid4()
    with app.app_context():
        db.session.add(OAuthClient(
            id=client_id, client_secret_hash=client_secret_hash(secret) if secret else None,
            registration_type=RegistrationType.manual, client_type=ClientType(client_type),
            token_endpoint_auth_method=method, redirect_uris=",".join(redirect_uris),
            grant_types=",".join(grant_types), client_name=name, created_at=now,
            updated_at=now, disabled_at=now if disabled else None,
            deleted_at=now if deleted else None))
        db.session.commit()
    return RegisteredClient(str(client_id), secret, tuple(redirect_uris), client_type)


@pytest.fixture
def confidential_client(oauth_app) -> RegisteredClient:
    return register_client(oauth_app)


@pytest.fixture
def public_client(oauth_app) -> RegisteredClient:
    return register_client(oauth_app, client_type="public")
