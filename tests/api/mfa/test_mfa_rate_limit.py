"""The "mfa" limiter bucket (GOTRUE_MFA_RATE_LIMIT_CHALLENGE_AND_VERIFY): challenge and verify
requests per client, 2*N per 2 minutes, then 429 over_request_rate_limit."""

from __future__ import annotations

import pytest

from ...conftest import api_for
from .support import (
    app_now,
    assert_error,
    challenge,
    enroll_totp,
    enrolled_totp,
    signed_in,
    verify,
    wrong_code,
)

OVER = "Request rate limit reached"


@pytest.fixture
def limited(make_app, service_role_token):
    app = make_app(**{"mailer.autoconfirm": True, "rate_limit.mfa_challenge_and_verify": 2})
    return app, api_for(app, service_role_token)


def test_challenge_and_verify_share_the_mfa_bucket(limited):
    app, api = limited
    session = signed_in(api)
    token = session["access_token"]
    factor = enrolled_totp(api, token)
    secret = factor["totp"]["secret"]
    first = challenge(api, token, factor["id"])
    assert first.status_code == 200, first.get_data(as_text=True)
    chal_id = first.get_json()["id"]
    counted = [
        verify(api, token, factor["id"], chal_id, wrong_code(secret, app_now(app))),
        challenge(api, token, factor["id"]),
        verify(api, token, factor["id"], chal_id, wrong_code(secret, app_now(app))),
    ]
    assert [r.status_code for r in counted] == [422, 200, 422]
    refused = challenge(api, token, factor["id"])
    assert_error(refused, 429, "over_request_rate_limit", OVER)
    assert 0 < int(refused.headers["Retry-After"]) <= 120
    assert_error(verify(api, token, factor["id"], chal_id, "123456"),
                 429, "over_request_rate_limit", OVER)


def test_the_bucket_is_per_client(limited):
    app, api = limited
    session = signed_in(api)
    token = session["access_token"]
    factor = enrolled_totp(api, token)
    for _ in range(4):
        assert challenge(api, token, factor["id"]).status_code == 200
    assert_error(challenge(api, token, factor["id"]), 429, "over_request_rate_limit")
    elsewhere = challenge(api, token, factor["id"], environ_base={"REMOTE_ADDR": "192.0.2.99"})
    assert elsewhere.status_code == 200, elsewhere.get_data(as_text=True)


def test_enrolment_is_not_in_the_mfa_bucket(limited):
    app, api = limited
    session = signed_in(api)
    token = session["access_token"]
    factor = enrolled_totp(api, token, friendly_name="first")
    for _ in range(4):
        assert challenge(api, token, factor["id"]).status_code == 200
    assert_error(challenge(api, token, factor["id"]), 429, "over_request_rate_limit")
    for index in range(5):
        response = enroll_totp(api, token, friendly_name=f"more {index}")
        assert response.status_code == 200, response.get_data(as_text=True)
