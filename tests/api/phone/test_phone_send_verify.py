"""Send, then verify, through the API only: the code the Twilio fake received is typed back at
POST /verify (sms after POST /otp, phone_change after PUT /user) and as the nonce of PUT /user
after GET /reauthenticate. This is what proves the send and the check agree on how a code is
stored."""

from __future__ import annotations

import re
from urllib.parse import parse_qs

import pytest

from ...conftest import api_for
from ...factories import later, one_time_tokens, user_row
from ...support.fake_sms import FakeTwilio, sms_settings
from .verify_support import PHONE_SETTINGS, admin_phone_user, verify

PHONE, NEW = "15550001111", "15550002222"


@pytest.fixture
def twilio(servers):
    return servers(FakeTwilio())


def _texted_code(fake, number: str) -> str:
    """The code in the last message the fake got for ``number``."""
    form = parse_qs(fake.last.text)
    assert form["To"] == ["+" + number]
    [code] = re.findall(r"\d{6}", form["Body"][0])
    return code


def test_otp_then_verify_sms(make_app, twilio):
    app = make_app(**PHONE_SETTINGS, **sms_settings(twilio))
    client = api_for(app)
    sent = client.post("/otp", json={"phone": "+" + PHONE})
    assert sent.status_code == 200, sent.get_data(as_text=True)
    code = _texted_code(twilio, PHONE)
    response = verify(client, "sms", PHONE, code)
    assert response.status_code == 200, response.get_data(as_text=True)
    user_id = response.get_json()["user"]["id"]
    assert user_row(app, user_id).phone_confirmed_at is not None
    assert one_time_tokens(app, user_id) == {}


def test_put_user_then_verify_phone_change(make_app, twilio, service_role_token):
    app = make_app(**PHONE_SETTINGS, **sms_settings(twilio))
    admin_phone_user(app, service_role_token, PHONE)
    client = api_for(app)
    session = client.post("/token?grant_type=password",
                          json={"phone": PHONE, "password": "password-123"}).get_json()
    asked = client.put("/user", token=session["access_token"], json={"phone": "+" + NEW})
    assert asked.status_code == 200, asked.get_data(as_text=True)
    code = _texted_code(twilio, NEW)
    response = verify(client, "phone_change", NEW, code)
    assert response.status_code == 200, response.get_data(as_text=True)
    user = user_row(app, session["user"]["id"])
    assert (user.phone, user.phone_change) == (NEW, "")


def test_reauthenticate_then_nonce(make_app, twilio, service_role_token):
    app = make_app(**PHONE_SETTINGS, **sms_settings(twilio),
                   **{"security.update_password_require_reauthentication": True})
    admin_phone_user(app, service_role_token, PHONE)
    client = api_for(app)
    session = client.post("/token?grant_type=password",
                          json={"phone": PHONE, "password": "password-123"}).get_json()
    later(app, 25 * 3600)
    asked = client.get("/reauthenticate", token=session["access_token"])
    assert asked.status_code == 200, asked.get_data(as_text=True)
    nonce = _texted_code(twilio, PHONE)
    changed = client.put("/user", token=session["access_token"],
                         json={"password": "fresh-password-9", "nonce": nonce})
    assert changed.status_code == 200, changed.get_data(as_text=True)
    assert client.post("/token?grant_type=password",
                       json={"phone": PHONE, "password": "fresh-password-9"}).status_code == 200
