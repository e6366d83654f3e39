"""The guards of the web3 grant (spec idp-passkeys-web3.md sections 0 and 3.1): the captcha
applies (unlike the id_token, pkce and refresh grants), and GOTRUE_RATE_LIMIT_WEB3 counts web3
sign-ins per client in a bucket of their own: the 31st in 5 minutes is a 429."""

from __future__ import annotations

from gotrue_web.models import User

from ..api.test_captcha import captcha_on, solved
from ..conftest import api_for
from ..factories import count
from ..support.captcha_servers import CaptchaServer
from .conftest import api_error, post_web3
from .wallets import SolanaWallet, siws

SOLVED = "solved-captcha-token-web3"


def signed(wallet: SolanaWallet | None = None) -> dict:
    wallet = wallet or SolanaWallet()
    message = siws(wallet.address)
    return {"chain": "solana", "message": message, "signature": wallet.sign_b64url(message)}


def test_the_captcha_applies_to_the_web3_grant(web3_app, servers):
    captcha = servers(CaptchaServer(SOLVED))
    app = web3_app(**captcha_on(captcha))
    api = api_for(app)
    body = signed()
    refused = api.post("/token?grant_type=web3", json=body)
    assert api_error(refused) == (400, "captcha_failed", "captcha protection: request "
                                  "disallowed (no captcha_token found in gotrue_meta_security)")
    wrong = api.post("/token?grant_type=web3", json=solved(body, "wrong"))
    assert wrong.status_code == 400 and wrong.get_json()["code"] == "captcha_failed"
    assert count(app, User) == 0
    accepted = api.post("/token?grant_type=web3", json=solved(body, SOLVED))
    assert accepted.status_code == 200, accepted.get_json()
    assert [post["form"]["response"] for post in captcha.posts] == ["wrong", SOLVED]


def test_the_31st_web3_sign_in_in_five_minutes_is_refused(app):
    api = api_for(app)
    wallet = SolanaWallet()
    for _ in range(30):
        assert api.post("/token?grant_type=web3", json=signed(wallet)).status_code == 200
    refused = api.post("/token?grant_type=web3", json=signed(wallet))
    assert api_error(refused) == (429, "over_request_rate_limit", "Request rate limit reached")
    assert 290 <= int(refused.headers["Retry-After"]) <= 300
    # Failures count too, and the bucket is web3's alone: the password grant still answers.
    assert post_web3(api, "bitcoin", "m", "s").status_code == 429
    password = api.post("/token?grant_type=password",
                        json={"email": "nobody@example.com", "password": "password-123"})
    assert password.status_code == 400


def test_the_setting_sizes_the_bucket_and_other_grants_do_not_use_it(web3_app):
    app = web3_app(**{"rate_limit.web3": 2, "rate_limit.token_refresh": 2})
    api = api_for(app)
    statuses = [api.post("/token?grant_type=password",
                         json={"email": "nobody@example.com", "password": "password-123"}
                         ).status_code for _ in range(3)]
    assert statuses == [400, 400, 429]
    assert api.post("/token?grant_type=web3", json=signed()).status_code == 200
    assert api.post("/token?grant_type=web3", json=signed()).status_code == 200
    assert api.post("/token?grant_type=web3", json=signed()).status_code == 429
