"""Access tokens (contract section 5): claims, headers, JWT_KEYS signing and verification, and
the published JWKS."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timezone

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from gotrue_web import create_app
from gotrue_web.settings import SettingsError

from ..conftest import JWT_SECRET, api_for, make_jwt
from ..factories import claims

CLAIM_KEYS = {"sub", "aud", "exp", "iat", "email", "phone", "app_metadata", "user_metadata",
              "role", "aal", "amr", "session_id", "is_anonymous"}
OCT_SECRET = "b2N0LWtleS1zZWNyZXQtdGhhdC1pcy1sb25nLWVub3VnaC1mb3ItaHMyNTY"


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _jwk(algorithm, private_key, kid: str, ops: list[str]) -> dict:
    document = json.loads(algorithm.to_jwk(private_key))
    document.update(kid=kid, key_ops=ops)
    return document


def _private_keys():
    return {
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ec": ec.generate_private_key(ec.SECP256R1()),
        "okp": ed25519.Ed25519PrivateKey.generate(),
    }


def _key_set(signer: str):
    """JWT_KEYS with RSA, EC (P-256), OKP (Ed25519) and oct keys; ``signer`` signs."""
    private = _private_keys()
    ops = lambda name: ["sign", "verify"] if name == signer else ["verify"]  # noqa: E731
    jwks = [
        _jwk(RSAAlgorithm, private["rsa"], "rsa-key", ops("rsa")),
        _jwk(ECAlgorithm, private["ec"], "ec-key", ops("ec")),
        _jwk(OKPAlgorithm, private["okp"], "okp-key", ops("okp")),
        {"kty": "oct", "k": OCT_SECRET, "kid": "oct-key", "key_ops": ops("oct")},
    ]
    return jwks, private


# --- claims -----------------------------------------------------------------------------------


def test_access_token_claims(make_app):
    app = make_app(**{"mailer.autoconfirm": True, "jwt.exp": 600})
    session = api_for(app).session("claims@example.com")
    token = session["access_token"]
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    claims = jwt.decode(token, JWT_SECRET, algorithms=["HS256"],
                        options={"verify_aud": False})
    assert set(claims) == CLAIM_KEYS
    user = session["user"]
    assert claims["sub"] == user["id"]
    assert claims["aud"] == "authenticated"
    assert claims["exp"] - claims["iat"] == 600
    assert session["expires_in"] == 600
    assert claims["exp"] == session["expires_at"]
    assert claims["email"] == "claims@example.com"
    assert claims["phone"] == ""
    assert claims["app_metadata"] == user["app_metadata"]
    assert claims["user_metadata"] == user["user_metadata"]
    assert claims["role"] == "authenticated"
    assert claims["aal"] == "aal1"
    assert claims["is_anonymous"] is False
    [amr] = claims["amr"]
    assert set(amr) == {"method", "timestamp"}
    assert amr["method"] == "password"
    assert isinstance(amr["timestamp"], int)
    assert abs(amr["timestamp"] - claims["iat"]) <= 1


def test_issuer_and_key_id_when_configured(make_app):
    app = make_app(**{"mailer.autoconfirm": True, "jwt.issuer": "http://localhost:9999/auth/v1",
                      "jwt.key_id": "legacy-hs"})
    client = api_for(app)
    token = client.session("iss@example.com")["access_token"]
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT",
                                                "kid": "legacy-hs"}
    assert claims(token)["iss"] == "http://localhost:9999/auth/v1"
    assert client.get("/user", token=token).status_code == 200


def test_empty_default_audience_is_an_empty_string(make_app):
    app = make_app(**{"mailer.autoconfirm": True, "jwt.aud": "",
                      "jwt.default_group_name": ""})
    session = api_for(app).session("noaud@example.com")
    token_claims = claims(session["access_token"])
    assert token_claims["aud"] == ""
    assert token_claims["role"] == ""
    assert session["user"]["role"] == ""


# --- JWT_KEYS ---------------------------------------------------------------------------------


@pytest.mark.parametrize("signer, algorithm", [("rsa", "RS256"), ("ec", "ES256"),
                                               ("okp", "EdDSA"), ("oct", "HS256")])
def test_jwt_keys_sign_and_verify(make_app, signer, algorithm):
    jwks, _ = _key_set(signer)
    app = make_app(**{"mailer.autoconfirm": True, "jwt.keys": tuple(jwks)})
    client = api_for(app)
    session = client.session(f"{signer}@example.com")
    header = jwt.get_unverified_header(session["access_token"])
    assert header == {"alg": algorithm, "typ": "JWT", "kid": f"{signer}-key"}
    assert client.get("/user", token=session["access_token"]).status_code == 200


def test_jwks_publishes_only_public_asymmetric_keys(make_app):
    jwks, private = _key_set("rsa")
    app = make_app(**{"mailer.autoconfirm": True, "jwt.keys": tuple(jwks)})
    client = api_for(app)
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=600"
    assert response.mimetype == "application/json"
    published = response.get_json()["keys"]
    assert [key["kid"] for key in published] == ["rsa-key", "ec-key", "okp-key"]
    expected_alg = {"rsa-key": "RS256", "ec-key": "ES256", "okp-key": "EdDSA"}
    for key in published:
        assert key["use"] == "sig"
        assert key["key_ops"] == ["verify"]
        assert key["alg"] == expected_alg[key["kid"]]
        assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & set(key)
    assert client.get("/auth/v1/.well-known/jwks.json").get_json() == response.get_json()

    # A client holding only the published document verifies our tokens (auth-js getClaims).
    token = client.session("jwks@example.com")["access_token"]
    [rsa_public] = [key for key in published if key["kid"] == "rsa-key"]
    claims = jwt.decode(token, jwt.PyJWK(rsa_public).key, algorithms=["RS256"],
                        options={"verify_aud": False})
    assert claims["email"] == "jwks@example.com"


def test_jwks_is_empty_with_hs256_only(client):
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.get_json() == {"keys": []}
    assert response.headers["Cache-Control"] == "public, max-age=600"


@pytest.mark.parametrize("kid, algorithm", [("ec-key", "ES256"), ("okp-key", "EdDSA"),
                                            ("oct-key", "HS256")])
def test_tokens_signed_with_any_configured_key_verify(make_app, kid, algorithm):
    jwks, private = _key_set("rsa")
    app = make_app(**{"mailer.autoconfirm": True, "jwt.keys": tuple(jwks)})
    client = api_for(app)
    session = client.session("multi@example.com")
    token_claims = claims(session["access_token"])
    key = {"ec-key": private["ec"], "okp-key": private["okp"],
           "oct-key": jwt.PyJWK(jwks[3], algorithm="HS256").key}[kid]
    token = jwt.encode(token_claims, key, algorithm=algorithm, headers={"kid": kid})
    response = client.get("/user", token=token)
    assert response.status_code == 200
    assert response.get_json()["id"] == session["user"]["id"]


@pytest.mark.parametrize("headers", [None, {"kid": "no-such-key"}])
def test_hs256_falls_back_to_the_secret(make_app, headers):
    jwks, _ = _key_set("rsa")
    app = make_app(**{"mailer.autoconfirm": True, "jwt.keys": tuple(jwks)})
    client = api_for(app)
    session = client.session("fallback@example.com")
    token = make_jwt(claims(session["access_token"]), headers=headers)
    assert client.get("/user", token=token).status_code == 200


def test_key_confusion_is_refused(make_app):
    """An HS256 token naming the RSA key by kid, keyed with its public PEM, must not verify."""
    jwks, private = _key_set("rsa")
    app = make_app(**{"mailer.autoconfirm": True, "jwt.keys": tuple(jwks)})
    client = api_for(app)
    session = client.session("confusion@example.com")
    pem = private["rsa"].public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-key"}).encode())
    payload = _b64url(json.dumps(claims(session["access_token"])).encode())
    signature = hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    token = f"{header}.{payload}.{_b64url(signature)}"
    response = client.get("/user", token=token)
    assert response.status_code == 403
    assert response.get_json()["code"] == "bad_jwt"


def test_valid_methods_restrict_algorithms(make_app):
    jwks, _ = _key_set("rsa")
    app = make_app(**{"mailer.autoconfirm": True, "jwt.keys": tuple(jwks),
                      "jwt.valid_methods": ("RS256",)})
    client = api_for(app)
    session = client.session("methods@example.com")
    assert client.get("/user", token=session["access_token"]).status_code == 200
    hs = make_jwt(claims(session["access_token"]))
    response = client.get("/user", token=hs)
    assert response.status_code == 403
    assert response.get_json()["code"] == "bad_jwt"


@pytest.mark.parametrize("signers", [[], ["rsa", "ec"]])
def test_exactly_one_signing_key(settings, signers):
    jwks, _ = _key_set("none")
    for key in jwks:
        if key["kid"].split("-")[0] in signers:
            key["key_ops"] = ["sign", "verify"]
    with pytest.raises(SettingsError, match="exactly one"):
        create_app(settings.replace(**{"jwt.keys": tuple(jwks)}))


# --- admin tokens -----------------------------------------------------------------------------


def test_service_role_token_without_exp_is_an_admin(api, service_role_token):
    assert "exp" not in claims(service_role_token)
    response = api.admin("GET", "/admin/users")
    assert response.status_code == 200
    assert "users" in response.get_json()


def test_expired_service_role_token_is_refused(api):
    expired = make_jwt({"role": "service_role",
                        "exp": int(datetime.now(timezone.utc).timestamp()) - 5})
    response = api.get("/admin/users", token=expired)
    assert response.status_code == 403
    assert response.get_json()["code"] == "bad_jwt"


def test_user_token_is_not_an_admin(api):
    token = api.session("notadmin@example.com")["access_token"]
    response = api.get("/admin/users", token=token)
    assert response.status_code == 403
    assert response.get_json() == {"code": "not_admin", "message": "User not allowed"}


def test_a_remembered_token_is_refused_once_it_expires(app, api, monkeypatch):
    """Verified signatures are cached per token; the expiry is judged again on every use."""
    from gotrue_web.security import access_tokens

    session = api.session()
    token = session["access_token"]
    assert api.get("/user", token=token).status_code == 200
    real_time = access_tokens.time.time
    monkeypatch.setattr(access_tokens.time, "time",
                        lambda: real_time() + app.config["GOTRUE_SETTINGS"].jwt.exp + 1)
    response = api.get("/user", token=token)
    assert response.status_code == 403
    assert response.get_json()["code"] == "bad_jwt"
    assert "expired" in response.get_json()["message"]
