"""SMS settings: each provider's credentials under GoTrue's names, GOTRUE_SMS_<P>_URL, the test
numbers, SMS_MAX_FREQUENCY (Go duration or bare seconds), and GOTRUE_INTERNAL_HTTP_TIMEOUT as
the senders' deadline."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from gotrue_web.settings import SettingsError, from_env
from gotrue_web.transports.sms import SMSDeliveryError, SMSProviderUnavailable, build

from ..support.fake_sms import FakeTwilio
from .conftest import PHONE, TEXT

REQUIRED = {
    "GOTRUE_SITE_URL": "https://app.example.com",
    "API_EXTERNAL_URL": "https://auth.example.com",
    "GOTRUE_JWT_SECRET": "a-secret-of-at-least-thirty-two-characters",
}


def load(**variables: str):
    return from_env({**REQUIRED, **variables}, env_file=None)


def sender(**variables: str):
    settings = load(**variables)
    return build(settings.sms, timeout=settings.external.http_timeout)


def test_each_provider_reads_its_credentials_under_gotrue_names():
    sms = load(
        GOTRUE_SMS_TWILIO_ACCOUNT_SID="AC1", GOTRUE_SMS_TWILIO_AUTH_TOKEN="tok",
        GOTRUE_SMS_TWILIO_MESSAGE_SERVICE_SID="MG1", GOTRUE_SMS_TWILIO_CONTENT_SID="HX1",
        GOTRUE_SMS_TWILIO_VERIFY_ACCOUNT_SID="AC2", GOTRUE_SMS_TWILIO_VERIFY_AUTH_TOKEN="tok2",
        GOTRUE_SMS_TWILIO_VERIFY_MESSAGE_SERVICE_SID="VA2",
        GOTRUE_SMS_MESSAGEBIRD_ACCESS_KEY="mbkey", GOTRUE_SMS_MESSAGEBIRD_ORIGINATOR="Acme",
        GOTRUE_SMS_TEXTLOCAL_API_KEY="tlkey", GOTRUE_SMS_TEXTLOCAL_SENDER="ACMEIN",
        GOTRUE_SMS_VONAGE_API_KEY="vk", GOTRUE_SMS_VONAGE_API_SECRET="vs",
        GOTRUE_SMS_VONAGE_FROM="AcmeCo",
    ).sms
    assert (sms.twilio.account_sid, sms.twilio.auth_token, sms.twilio.message_service_sid,
            sms.twilio.content_sid) == ("AC1", "tok", "MG1", "HX1")
    assert (sms.twilio_verify.account_sid, sms.twilio_verify.auth_token,
            sms.twilio_verify.message_service_sid) == ("AC2", "tok2", "VA2")
    assert (sms.messagebird.access_key, sms.messagebird.originator) == ("mbkey", "Acme")
    assert (sms.textlocal.api_key, sms.textlocal.sender) == ("tlkey", "ACMEIN")
    assert (sms.vonage.api_key, sms.vonage.api_secret, sms.vonage.from_) == ("vk", "vs",
                                                                             "AcmeCo")
    # Secrets stay out of logs that print the settings.
    assert "tok" not in repr(sms.twilio) and "vs" not in repr(sms.vonage)


def test_twilio_verify_does_not_borrow_the_twilio_credentials():
    verify = sender(GOTRUE_SMS_PROVIDER="twilio_verify", GOTRUE_SMS_TWILIO_ACCOUNT_SID="AC1",
                    GOTRUE_SMS_TWILIO_AUTH_TOKEN="tok",
                    GOTRUE_SMS_TWILIO_MESSAGE_SERVICE_SID="MG1")
    assert verify.reason == "missing Twilio account SID"


def test_the_provider_apis_default_to_the_real_hosts():
    sms = load().sms
    assert (sms.twilio.url, sms.twilio_verify.url, sms.messagebird.url, sms.textlocal.url,
            sms.vonage.url) == ("https://api.twilio.com", "https://verify.twilio.com",
                                "https://rest.messagebird.com", "https://api.textlocal.in",
                                "https://rest.nexmo.com")


def test_the_url_setting_replaces_scheme_and_host_and_keeps_a_path_prefix(servers):
    fake = servers(FakeTwilio())
    twilio = sender(GOTRUE_SMS_PROVIDER="twilio", GOTRUE_SMS_TWILIO_URL=fake.url + "/proxy/",
                    GOTRUE_SMS_TWILIO_ACCOUNT_SID="AC9", GOTRUE_SMS_TWILIO_AUTH_TOKEN="t",
                    GOTRUE_SMS_TWILIO_MESSAGE_SERVICE_SID="MG9")
    assert twilio.send(PHONE, TEXT) == "SM1"
    assert fake.last.path == "/proxy/2010-04-01/Accounts/AC9/Messages.json"


@pytest.mark.parametrize("name", ["TWILIO", "TWILIO_VERIFY", "MESSAGEBIRD", "TEXTLOCAL",
                                  "VONAGE"])
@pytest.mark.parametrize("value", ["ftp://example.com", "not a url", "https://"])
def test_a_url_that_is_not_http_stops_start_up(name, value):
    with pytest.raises(SettingsError, match=f"^GOTRUE_SMS_{name}_URL: "):
        load(**{f"GOTRUE_SMS_{name}_URL": value})


@pytest.mark.parametrize("provider", ["", "telesign", "Twilio"])
def test_an_unknown_or_empty_provider_loads_but_cannot_send(provider):
    sms = sender(GOTRUE_SMS_PROVIDER=provider)
    assert sms.available is False
    with pytest.raises(SMSProviderUnavailable):
        sms.send(PHONE, TEXT)
    if provider:
        assert sms.reason == f"sms Provider {provider} could not be found"


def test_credentials_are_checked_when_sending_not_at_start_up():
    twilio = sender(GOTRUE_SMS_PROVIDER="twilio", GOTRUE_SMS_TWILIO_ACCOUNT_SID="AC1")
    assert twilio.name == "twilio" and twilio.reason == "missing Twilio auth token"


# --- test numbers -----------------------------------------------------------------------------


def test_test_numbers_are_normalised_and_their_codes_kept_verbatim():
    sms = load(GOTRUE_SMS_TEST_OTP="+1 555 123 4567:123456, 4915112345678:000000,"
                                   "+44-20:12 34").sms
    assert sms.test_otp == {"15551234567": "123456", "4915112345678": "000000",
                            "44-20": "12 34"}
    now = datetime.now(timezone.utc)
    assert sms.test_code("15551234567", now) == "123456"
    assert sms.test_code("15550000000", now) is None


@pytest.mark.parametrize(("raw", "why"), [
    ("15551234567=123456", "expected phone:code pairs"),
    ("15551234567:1,", "expected phone:code pairs"),
    ("15551234567:", "needs a phone number and a code"),
    (":123456", "needs a phone number and a code"),
])
def test_a_malformed_test_number_list_stops_start_up(raw, why):
    with pytest.raises(SettingsError, match=f"^GOTRUE_SMS_TEST_OTP: .*{why}"):
        load(GOTRUE_SMS_TEST_OTP=raw)


def test_test_codes_stop_after_their_valid_until():
    sms = load(GOTRUE_SMS_TEST_OTP="15551234567:123456",
               GOTRUE_SMS_TEST_OTP_VALID_UNTIL="2030-01-31T23:59:59+02:00").sms
    assert sms.test_otp_valid_until == datetime(2030, 1, 31, 21, 59, 59, tzinfo=timezone.utc)
    before = datetime(2030, 1, 31, 21, 59, 59, tzinfo=timezone.utc)
    assert sms.test_code(PHONE, before) == "123456"
    assert sms.test_code(PHONE, before + timedelta(seconds=1)) is None
    # A naive time is UTC.
    assert sms.test_code(PHONE, datetime(2030, 1, 31, 21, 59, 59)) == "123456"
    assert sms.test_code(PHONE, datetime(2030, 1, 31, 22, 0, 0)) is None


def test_without_valid_until_test_codes_never_expire():
    sms = load(GOTRUE_SMS_TEST_OTP="15551234567:123456").sms
    assert sms.test_otp_valid_until is None
    assert sms.test_code(PHONE, datetime(2999, 1, 1, tzinfo=timezone.utc)) == "123456"


@pytest.mark.parametrize("raw", ["tomorrow", "2030-01-31", "2030-01-31T23:59:59",
                                 "2030-02-30T00:00:00Z"])
def test_a_valid_until_that_is_not_rfc3339_stops_start_up(raw):
    with pytest.raises(SettingsError, match="^GOTRUE_SMS_TEST_OTP_VALID_UNTIL: "):
        load(GOTRUE_SMS_TEST_OTP_VALID_UNTIL=raw)


# --- spacing and deadline -----------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [
    ("90", timedelta(seconds=90)),
    ("2m", timedelta(minutes=2)),
    ("1m30s", timedelta(seconds=90)),
    ("0", timedelta(seconds=60)),
])
def test_max_frequency_accepts_a_go_duration_or_bare_seconds(raw, expected):
    assert load(GOTRUE_SMS_MAX_FREQUENCY=raw).sms.max_frequency == expected


@pytest.mark.parametrize("raw", ["soon", "-5s", "5x"])
def test_a_malformed_max_frequency_stops_start_up(raw):
    with pytest.raises(SettingsError, match="^GOTRUE_SMS_MAX_FREQUENCY: "):
        load(GOTRUE_SMS_MAX_FREQUENCY=raw)


@pytest.mark.parametrize(("raw", "seconds"), [(None, 10), ("0", 10), ("300ms", 0.3),
                                              ("2s", 2)])
def test_the_senders_deadline_is_the_internal_http_timeout(raw, seconds):
    variables = {"GOTRUE_INTERNAL_HTTP_TIMEOUT": raw} if raw else {}
    assert sender(GOTRUE_SMS_PROVIDER="vonage", **variables).timeout == seconds


def test_a_malformed_internal_http_timeout_stops_start_up():
    with pytest.raises(SettingsError, match="^GOTRUE_INTERNAL_HTTP_TIMEOUT: "):
        load(GOTRUE_INTERNAL_HTTP_TIMEOUT="ten seconds")


def test_the_deadline_applies_to_the_app_sender(make_app, servers):
    fake = servers(FakeTwilio())
    fake.script(201, {"sid": "SM1"}, delay=3)
    from ..support.fake_sms import sms_settings

    app = make_app(**sms_settings(fake, timeout=0.3))
    with pytest.raises(SMSDeliveryError, match="no answer within 0.3 seconds"):
        app.extensions["gotrue"].sms.send(PHONE, TEXT)
