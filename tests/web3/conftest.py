"""An app with both Web3 chains on, the golden vectors' allow-list and a frozen clock, and a
client that posts web3 grants the way the official client does."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from ..conftest import ApiClient, api_for
from ..factories import freeze_clock
from .wallets import ALLOW_LIST

# The golden vectors' "now": their messages were issued 9 min 59 s before.
NOW = datetime(2025, 3, 29, 0, 9, 59, tzinfo=timezone.utc)
WEB3_ON = {"web3.solana_enabled": True, "web3.ethereum_enabled": True,
           "uri_allow_list": ALLOW_LIST}


@pytest.fixture
def web3_app(make_app):
    """``web3_app(**overrides)``: both chains on, the clock at NOW."""

    def build(**overrides):
        app = make_app(**{**WEB3_ON, **overrides})
        freeze_clock(app, NOW)
        return app

    return build


@pytest.fixture
def app(web3_app):
    return web3_app()


def post_web3(app_or_api, chain: str, message: str, signature: str, **body):
    api = app_or_api if isinstance(app_or_api, ApiClient) else api_for(app_or_api)
    return api.post("/token?grant_type=web3",
                    json={"chain": chain, "message": message, "signature": signature, **body})


def oauth_error(response) -> tuple[int, str, str]:
    body = response.get_json()
    return response.status_code, body.get("error"), body.get("error_description")


def api_error(response) -> tuple[int, str, str]:
    body = response.get_json()
    return response.status_code, body.get("code"), body.get("message")
