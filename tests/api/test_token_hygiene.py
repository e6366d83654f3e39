"""Token and header hygiene (abuse defences, findings 6 and 7): a signed token whose exp is
not a number or whose aud is not a string, redirects that carry tokens, and HSTS over HTTPS."""

from __future__ import annotations

import time
import uuid

import pytest

from ..conftest import api_for, make_jwt
from ..factories import create_user, query


def _claims(user_id: str, **changes) -> dict:
    now = int(time.time())
    return {"sub": user_id, "aud": "authenticated", "role": "authenticated", "iat": now,
            "exp": now + 600, **changes}


def test_an_exp_that_is_not_a_number_is_refused_every_time(app, api, service_role_token):
    user = create_user(api_for(app, service_role_token), "exp@example.com", password="pw-123456")
    token = make_jwt(_claims(user["id"], exp=str(int(time.time()) + 600)))
    # Twice: the second use comes from the verified-token cache and must be judged again.
    for _ in range(2):
        response = api.get("/user", token=token)
        assert response.status_code == 403
        assert response.get_json()["code"] == "bad_jwt"


@pytest.mark.parametrize("aud", [123, [123], {"a": 1}, None, True])
def test_an_aud_that_is_not_a_string_is_a_client_error(app, api, service_role_token, aud):
    user = create_user(api_for(app, service_role_token), f"aud-{uuid.uuid4().hex[:6]}x@example.com",
                       password="pw-123456")
    token = make_jwt(_claims(user["id"], aud=aud))
    response = api.get("/user", token=token)
    assert response.status_code == 400
    assert response.get_json() == {"code": "validation_failed",
                                   "message": "Token audience doesn't match request audience"}
    assert api.put("/user", token=token, json={"data": {"x": 1}}).status_code < 500


def test_redirects_that_carry_tokens_send_no_referrer(app, service_role_token):
    api = api_for(app, service_role_token)
    create_user(api, "ref@example.com", password="pw-123456")
    link = api.admin("POST", "/admin/generate_link",
                     json={"type": "magiclink", "email": "ref@example.com"}).get_json()
    token = query(link["action_link"])["token"]
    for _ in range(2):  # the session redirect, then the error redirect of a spent link
        response = api.get(f"/verify?token={token}&type=magiclink")
        assert response.status_code == 303
        assert response.headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize("external_url, expected", [
    ("https://auth.example.com", "max-age=31536000"),
    ("http://localhost:9999", None),
])
def test_hsts_is_sent_when_the_api_is_served_over_https(make_app, external_url, expected):
    app = make_app(**{"api.external_url": external_url})
    for path in ("/health", "/auth/v1/settings", "/console/login"):
        assert app.test_client().get(path).headers.get("Strict-Transport-Security") == expected
