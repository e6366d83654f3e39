"""The SMS template page (/console/sms/template): GOTRUE_SMS_TEMPLATE read-only with a preview
rendered by the transport, the provider in use and whether it can send, and the test send to
a number through a fake provider on loopback (tests/support/fake_sms.py): what the fake got,
the provider's message id or its error in the answer, the sms_log row and the audit entry."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest
import sqlalchemy as sa

from gotrue_web.models import SMSLogEntry

from ..conftest import table_rows
from ..factories import audit_entries
from ..support.fake_sms import FakeMessagebird, FakeTwilio, closed_port_url, sms_settings
from .conftest import OPERATOR_EMAIL, signed_in
from .support_users import unescape

PAGE = "/console/sms/template"
TEST = "/console/sms/test"
MASKED = "+1" + "\u2022" * 6 + "4567"


def sms_rows(app) -> list[SMSLogEntry]:
    return [row for (row,) in table_rows(app, sa.select(SMSLogEntry).order_by(
        SMSLogEntry.created_at, SMSLogEntry.id))]


def sms_test_entries(app) -> list[dict]:
    return audit_entries(app, "sms_test_sent")


def _html(response) -> str:
    return response.get_data(as_text=True)


def _form(body: bytes) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(body.decode()).items()}


@pytest.fixture
def twilio(servers):
    return servers(FakeTwilio())


@pytest.fixture
def twilio_app(make_app, twilio):
    return make_app(**sms_settings(twilio))


@pytest.fixture
def twilio_console(twilio_app):
    return signed_in(twilio_app)


# --- the page -------------------------------------------------------------------------------------


def test_page_without_a_provider(console):
    response = console.get(PAGE)
    body = _html(response)
    assert response.status_code == 200
    assert '<pre class="json" id="sms-template-source">Your code is {{ .Code }}</pre>' in body
    assert '<pre class="json" id="sms-preview">Your code is 123456</pre>' in body
    assert '<span class="badge warn">Not configured</span>' in body
    assert "No SMS provider is configured (GOTRUE_SMS_PROVIDER)." in body
    assert '<option value="whatsapp"' not in body
    assert 'action="/console/sms/test"' in body and 'name="csrf_token"' in body


def test_the_email_templates_page_links_here(console):
    assert f'href="{PAGE}"' in _html(console.get("/console/templates"))


def test_page_with_a_configured_provider_and_a_custom_template(make_app, twilio):
    app = make_app(**sms_settings(twilio), **{"sms.template": "Acme: {{- .Code -}} !",
                                               "sms.otp_length": 8})
    body = _html(signed_in(app).get(PAGE))
    assert "<code>twilio</code>" in body
    assert '<span class="badge ok">Configured</span>' in body
    assert '<pre class="json" id="sms-preview">Acme:12345678!</pre>' in body
    assert "sample code <code>12345678</code> (8 digits" in body
    assert '<option value="whatsapp"' in body
    assert twilio.received == []  # looking sends nothing


def test_a_missing_credential_is_shown_as_not_configured(make_app, twilio):
    app = make_app(**sms_settings(twilio, auth_token=""))
    body = _html(signed_in(app).get(PAGE))
    assert '<span class="badge warn">Not configured</span>' in body
    assert "Twilio" in body and "missing" in body.lower()


def test_a_template_that_does_not_render_is_explained(make_app):
    app = make_app(**{"sms.template": "Hi {{ .Name }}"})
    console = signed_in(app)
    body = _html(console.get(PAGE))
    assert 'id="sms-preview-error"' in body and "does not render" in body
    response = console.post(TEST, {"number": "+15551234567", "channel": "sms"}, htmx=True)
    assert response.status_code == 422
    assert "The template does not render" in _html(response)
    assert sms_rows(app) == [] and sms_test_entries(app) == []


def test_signed_out_visitors_are_sent_to_the_login(anonymous_console):
    response = anonymous_console.get(PAGE)
    assert response.status_code == 303
    assert "/console/login" in response.headers["Location"]


# --- the test send --------------------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [False, True])
def test_test_send_reaches_the_provider_and_is_logged(twilio_app, twilio_console, twilio, htmx):
    response = twilio_console.post(TEST, {"number": "+1 (555) 123-4567", "channel": "sms"},
                                   htmx=htmx)
    message = f"Test SMS sent to {MASKED} through twilio. Message id: SM1."
    if htmx:
        assert response.status_code == 200, _html(response)
        body = _html(response)
        assert body.lstrip().startswith('<form id="sms-test-form"')
        assert f'<div class="flash ok" role="status">{message}</div>' in body
        assert json.loads(response.headers["HX-Trigger"])["toast"] == {
            "message": message, "kind": "ok"}
    else:
        assert response.status_code == 303
        assert response.headers["Location"] == PAGE
        page = _html(twilio_console.get(PAGE))
        assert f'<div class="flash ok" role="status">{message}</div>' in page
        body = page
    assert "15551234567" not in body

    request = twilio.last
    assert request.method == "POST" and request.path == "/2010-04-01/Accounts/AC1/Messages.json"
    assert _form(request.body) == {"Body": "Your code is 123456", "Channel": "sms",
                                   "From": "MG123", "To": "+15551234567"}
    [row] = sms_rows(twilio_app)
    assert (row.kind, row.recipient, row.channel, row.provider, row.status, row.message_id,
            row.error, row.user_id) == ("test", "15551234567", "sms", "twilio", "sent", "SM1",
                                        None, None)
    [entry] = sms_test_entries(twilio_app)
    assert entry["actor_username"] == OPERATOR_EMAIL
    assert entry["traits"] == {"to": MASKED, "channel": "sms", "provider": "twilio",
                               "status": "sent", "message_id": "SM1"}

    log = _html(twilio_console.get("/console/sms"))
    assert f'<tr id="sms-{row.id}"' in log and "SM1" in log and MASKED in log


def test_test_send_by_whatsapp(twilio_app, twilio_console, twilio):
    response = twilio_console.post(TEST, {"number": "+15551234567", "channel": "whatsapp"},
                                   htmx=True)
    assert response.status_code == 200, _html(response)
    assert _form(twilio.last.body)["To"] == "whatsapp:+15551234567"
    [row] = sms_rows(twilio_app)
    assert row.channel == "whatsapp" and row.status == "sent"


def test_the_providers_error_is_shown_in_its_words_and_logged(twilio_app, twilio_console,
                                                              twilio):
    twilio.script(400, {"code": 21211, "message": "Invalid 'To' Phone Number",
                        "more_info": "https://example.test/21211", "status": 400})
    response = twilio_console.post(TEST, {"number": "+15551234567", "channel": "sms"},
                                   htmx=True)
    error = "Invalid 'To' Phone Number More information: https://example.test/21211"
    assert response.status_code == 422
    assert f"The provider refused the test: {error}" in unescape(_html(response))
    assert json.loads(response.headers["HX-Trigger"])["toast"]["kind"] == "error"
    [row] = sms_rows(twilio_app)
    assert (row.status, row.error, row.message_id) == ("failed", error, None)
    [entry] = sms_test_entries(twilio_app)
    assert entry["traits"]["status"] == "failed" and entry["traits"]["error"] == error


def test_an_unreachable_provider_is_a_readable_refusal(make_app):
    app = make_app(**sms_settings(closed_port_url(), provider="twilio", timeout=2))
    console = signed_in(app)
    response = console.post(TEST, {"number": "+15551234567", "channel": "sms"})
    assert response.status_code == 303
    page = _html(console.get(PAGE))
    assert "The provider refused the test:" in page
    [row] = sms_rows(app)
    assert row.status == "failed" and row.error


def test_without_a_provider_the_attempt_is_refused_and_logged(app, console):
    response = console.post(TEST, {"number": "+15551234567", "channel": "sms"}, htmx=True)
    assert response.status_code == 422
    assert "no SMS provider is configured" in _html(response)
    [row] = sms_rows(app)
    assert (row.status, row.provider, row.kind) == ("failed", "", "test")


def test_a_missing_credential_refuses_the_send(make_app, twilio):
    app = make_app(**sms_settings(twilio, auth_token=""))
    response = signed_in(app).post(TEST, {"number": "+15551234567"}, htmx=True)
    assert response.status_code == 422
    assert twilio.received == []
    [row] = sms_rows(app)
    assert row.status == "failed"


@pytest.mark.parametrize("number, problem", [
    ("", "Type the number to send the test to."),
    ("call me", "Invalid phone number format (E.164 required)"),
    ("+0 555 1234", "Invalid phone number format (E.164 required)"),
    ("+1555\x00123", "Invalid phone number format (E.164 required)"),
    ("+1" + "5" * 40, "Invalid phone number format (E.164 required)"),
])
def test_a_bad_number_sends_nothing(twilio_app, twilio_console, twilio, number, problem):
    response = twilio_console.post(TEST, {"number": number, "channel": "sms"}, htmx=True)
    assert response.status_code == 422
    assert problem in _html(response)
    assert twilio.received == [] and sms_rows(twilio_app) == []
    assert sms_test_entries(twilio_app) == []


def test_whatsapp_through_a_provider_without_it_is_refused(make_app, servers):
    fake = servers(FakeMessagebird())
    app = make_app(**sms_settings(fake))
    response = signed_in(app).post(TEST, {"number": "+15551234567", "channel": "whatsapp"},
                                   htmx=True)
    assert response.status_code == 422
    assert "WhatsApp needs twilio or twilio_verify" in unescape(_html(response))
    assert fake.received == [] and sms_rows(app) == []


def test_the_test_send_needs_the_csrf_token(twilio_app, twilio_console, twilio):
    for htmx in (False, True):
        response = twilio_console.post(TEST, {"number": "+15551234567"}, htmx=htmx,
                                       csrf=False)
        assert response.status_code == 400
    assert twilio.received == [] and sms_rows(twilio_app) == []
    assert sms_test_entries(twilio_app) == []


def test_a_get_sends_nothing(twilio_app, twilio_console, twilio):
    assert twilio_console.get(TEST + "?number=%2B15551234567").status_code == 405
    assert twilio.received == []
