"""Fixtures for the SMS provider tests: each provider's fake on a loopback port."""

from __future__ import annotations

import pytest

from gotrue_web.settings.sms import DEFAULT_TEMPLATE
from gotrue_web.transports.sms import render_message

from ..support.fake_sms import (FakeMessagebird, FakeTextlocal, FakeTwilio, FakeTwilioVerify,
                                FakeVonage)

# The spec's examples: this number, this code, and the default template's text.
PHONE = "15551234567"
CODE = "123456"
TEXT = render_message(DEFAULT_TEMPLATE, CODE)
FORM = "application/x-www-form-urlencoded"
# A timeout short enough for tests, and a stall well past it.
SHORT_TIMEOUT = 0.3
STALL = 3


@pytest.fixture
def twilio(servers):
    return servers(FakeTwilio())


@pytest.fixture
def twilio_verify(servers):
    return servers(FakeTwilioVerify())


@pytest.fixture
def messagebird(servers):
    return servers(FakeMessagebird())


@pytest.fixture
def textlocal(servers):
    return servers(FakeTextlocal())


@pytest.fixture
def vonage(servers):
    return servers(FakeVonage())
