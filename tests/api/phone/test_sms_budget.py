"""GOTRUE_RATE_LIMIT_SMS_SENT (spec phone-sms §2.1, §2.2 step 3): one budget of texted codes
for the whole server, counted in the rate-limit storage every worker shares; not charged for
test numbers nor under SMS_AUTOCONFIRM."""

from __future__ import annotations

from gotrue_web.models import User

from ...conftest import api_for
from ...factories import count, make_user
from ...support.fake_sms import FakeTwilio, FakeVonage
from .send_support import OTHER, PHONE, phone_app, sms_log, user_by_phone

SPENT = {"code": "over_sms_send_rate_limit", "message": "SMS rate limit exceeded"}


def _otp(app, phone):
    return api_for(app).post("/otp", json={"phone": phone})


def test_the_second_number_is_refused_when_the_budget_is_one(make_app, servers):
    fake = servers(FakeTwilio())
    app = phone_app(make_app, fake, **{"rate_limit.sms_sent": "1"})
    assert _otp(app, PHONE).status_code == 200
    refused = _otp(app, OTHER)
    assert refused.status_code == 429 and refused.get_json() == SPENT
    assert int(refused.headers["Retry-After"]) > 3000
    assert len(fake.received) == 1
    # The refused signup rolled back; nothing was logged for a message never tried.
    assert user_by_phone(app, OTHER) is None and count(app, User) == 1
    assert [entry.recipient for entry in sms_log(app)] == [PHONE]


def test_a_budget_per_duration(make_app, servers):
    fake = servers(FakeTwilio())
    app = phone_app(make_app, fake, **{"rate_limit.sms_sent": "2/10m"})
    assert _otp(app, PHONE).status_code == 200
    assert _otp(app, OTHER).status_code == 200
    refused = _otp(app, "15550001111")
    assert refused.status_code == 429 and refused.get_json() == SPENT
    assert 0 < int(refused.headers["Retry-After"]) <= 600


def test_a_budget_of_zero_texts_nothing(make_app, servers):
    fake = servers(FakeTwilio())
    app = phone_app(make_app, fake, **{"rate_limit.sms_sent": "0"})
    refused = _otp(app, PHONE)
    assert refused.status_code == 429 and refused.get_json() == SPENT
    assert fake.received == [] and count(app, User) == 0


def test_a_failed_send_still_spends_its_unit(make_app, servers):
    fake = servers(FakeVonage())
    fake.script(200, {"messages": []})
    app = phone_app(make_app, fake, **{"rate_limit.sms_sent": "1"})
    failed = _otp(app, PHONE)
    assert failed.status_code == 422
    assert failed.get_json()["message"] == (
        "Error sending confirmation OTP to provider: vonage error: Internal Error")
    assert _otp(app, PHONE).get_json() == SPENT
    assert len(fake.received) == 1


def test_autoconfirm_is_not_counted(make_app, servers):
    fake = servers(FakeTwilio())
    app = phone_app(make_app, fake, **{"rate_limit.sms_sent": "1", "sms.autoconfirm": True})
    for phone in (PHONE, OTHER):
        make_user(app, phone=phone)
        assert _otp(app, phone).get_json() == {"message_id": "SM1"}
    assert len(fake.received) == 2


def test_test_numbers_are_not_counted(make_app, servers):
    fake = servers(FakeTwilio())
    app = phone_app(make_app, fake, **{"rate_limit.sms_sent": "1",
                                       "sms.test_otp": {"15550001111": "111111"}})
    assert _otp(app, "15550001111").get_json() == {"message_id": "test-otp"}
    assert _otp(app, PHONE).get_json() == {"message_id": "SM1"}
    assert _otp(app, OTHER).get_json() == SPENT


def test_workers_share_one_budget(make_app, servers, tmp_path):
    """Two apps on one storage are two workers of one server: the budget is theirs together."""
    fake = servers(FakeTwilio())
    shared = {"rate_limit.sms_sent": "1",
              "rate_limit.storage_url": f"sqlite:///{tmp_path}/limits.sqlite3"}
    first, second = phone_app(make_app, fake, **shared), phone_app(make_app, fake, **shared)
    assert _otp(first, PHONE).status_code == 200
    assert _otp(second, OTHER).get_json() == SPENT
    # A worker with its own per-process counter (memory://) would have let it through.
    alone = phone_app(make_app, fake, **{"rate_limit.sms_sent": "1"})
    assert _otp(alone, OTHER).status_code == 200
    assert len(fake.received) == 2
