"""The SMS half of the message log (/console/sms): every text message with its time, kind,
masked number, channel, provider, status, the provider's message id and error; the filters,
keyset pages both ways, htmx fragments, and the Email | SMS tabs shared with the mail log.

Rows are written here through the model, as the mail log tests seed theirs; a row written by a
real send (the test send against the fake provider) is covered in test_sms_template.py."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from functools import partial
from urllib.parse import urlencode

import pytest

from gotrue_web.services.phone.masking import mask_phone
from gotrue_web.extensions import db
from gotrue_web.models import SMSLogEntry

from ..factories import make_user
from . import log_pages

row_ids = partial(log_pages.row_ids, "sms")
row_html = partial(log_pages.row_html, "sms")
START = datetime(2030, 5, 6, 7, 0, tzinfo=timezone.utc)
NUMBER = "15551234567"


def seed(app, count: int = 1, *, start: datetime = START,
         step: timedelta = timedelta(minutes=1), **fields) -> list[uuid.UUID]:
    """``count`` rows ``step`` apart (oldest first)."""
    ids = []
    with app.app_context():
        for number in range(count):
            entry = SMSLogEntry(
                id=uuid.uuid4(), created_at=start + number * step,
                kind=fields.get("kind", "confirmation"),
                recipient=fields.get("recipient", f"1555000{number:04d}"),
                channel=fields.get("channel", "sms"),
                provider=fields.get("provider", "twilio"),
                status=fields.get("status", "sent"),
                message_id=fields.get("message_id", f"SM{number:032x}"),
                error=fields.get("error"), user_id=fields.get("user_id"))
            db.session.add(entry)
            ids.append(entry.id)
        db.session.commit()
    return ids


def page_of(console, query: str = "", **kwargs):
    response = console.get(f"/console/sms{query}", **kwargs)
    return response, response.get_data(as_text=True)


def shown(console, query: str = "") -> list[uuid.UUID]:
    response, body = page_of(console, query)
    assert response.status_code == 200, body
    return row_ids(body)


# --- what a row shows -----------------------------------------------------------------------------


def test_masking():
    assert mask_phone("15551234567") == "+1\u2022\u2022\u2022\u2022\u2022\u20224567"
    assert mask_phone("+447700900123") == "+4" + "\u2022" * 7 + "0123"
    assert mask_phone("1234567") == "+\u2022\u2022\u2022\u2022\u202267"
    assert mask_phone("") == ""
    for number in ("15551234567", "447700900123", "12345678", "123"):
        masked = mask_phone(number)
        assert number not in masked
        assert masked.startswith("+") and len(masked) == len(number) + 1
        assert masked.count("\u2022") * 2 >= len(number) - 1


def test_rows_show_every_field_with_the_number_masked(console, app):
    user_id = make_user(app, phone=NUMBER)
    [sent] = seed(app, recipient=NUMBER, message_id="SM0123456789abcdef", user_id=user_id)
    [failed] = seed(app, start=START + timedelta(hours=1), recipient="447700900123",
                    channel="whatsapp", status="failed", message_id=None, kind="phone_change",
                    error="Invalid 'To' Phone Number More information: https://example.test/21211")
    [test_code] = seed(app, start=START + timedelta(hours=2), recipient="4915112345678",
                       status="test_otp", message_id="test-otp", provider="")
    response, body = page_of(console)
    assert response.status_code == 200
    assert row_ids(body) == [test_code, failed, sent]

    row = row_html(body, sent)
    assert "2030-05-06 07:00" in row
    assert "Confirmation" in row and "twilio" in row and "SMS" in row
    assert '<span class="badge ok">Sent</span>' in row
    assert "SM0123456789abcdef" in row
    assert f'href="/console/users/{user_id}">+1\u2022\u2022\u2022\u2022\u2022\u20224567</a>' in row

    row = row_html(body, failed)
    assert "Phone change" in row and "WhatsApp" in row
    assert '<span class="badge danger">Failed</span>' in row
    assert "Invalid &#39;To&#39; Phone Number More information: https://example.test/21211" in row
    assert "+4" + "\u2022" * 7 + "0123" in row and "<a href" not in row

    row = row_html(body, test_code)
    assert '<span class="badge info">Test code</span>' in row and "test-otp" in row

    # Not one whole number (nor its middle digits) is anywhere in the page.
    for number in (NUMBER, "447700900123", "4915112345678"):
        assert number not in body and number[1:-4] not in body


def test_a_row_of_a_deleted_user_is_not_linked(console, app):
    [entry] = seed(app, recipient=NUMBER, user_id=uuid.uuid4())
    _, body = page_of(console)
    assert "/console/users/" not in row_html(body, entry)


def test_empty_log_and_no_provider(console):
    response, body = page_of(console)
    assert response.status_code == 200
    assert "No text message yet" in body
    assert 'id="sms-unset"' in body and "GOTRUE_SMS_PROVIDER" in body


def test_the_provider_note_is_gone_when_a_provider_is_set(make_app):
    from .conftest import signed_in

    app = make_app(**{"sms.provider": "twilio"})
    console = signed_in(app)
    _, body = page_of(console)
    assert 'id="sms-unset"' not in body


# --- tabs and access ------------------------------------------------------------------------------


def test_mail_and_sms_logs_link_to_each_other(console):
    mail = console.get("/console/mail").get_data(as_text=True)
    assert 'href="/console/sms"' in mail
    assert '<a class="btn small primary" href="/console/mail" aria-current="page">Email</a>' \
        in mail
    _, sms = page_of(console)
    assert '<a class="btn small primary" href="/console/sms" aria-current="page">SMS</a>' in sms
    assert 'href="/console/mail"' in sms
    assert 'href="/console/sms/template"' in sms


def test_signed_out_visitors_are_sent_to_the_login(anonymous_console, app):
    seed(app, recipient=NUMBER)
    response = anonymous_console.get("/console/sms")
    assert response.status_code == 303
    assert "/console/login" in response.headers["Location"]
    assert "4567" not in response.get_data(as_text=True)


def test_htmx_gets_the_results_fragment(console, app):
    [entry] = seed(app, recipient=NUMBER)
    response, body = page_of(console, "?kind=confirmation", htmx=True)
    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    assert "<html" not in body and "<form" not in body
    assert 'id="sms-results"' in body and row_ids(body) == [entry]


# --- filters --------------------------------------------------------------------------------------


@pytest.fixture
def mixed(app):
    return {
        "a": seed(app, recipient="15551234567", kind="confirmation", status="sent",
                  message_id="SMaaa111")[0],
        "b": seed(app, start=START + timedelta(minutes=5), recipient="447700900123",
                  kind="phone_change", channel="whatsapp", status="failed", message_id=None,
                  error="twilio error: x 30007 for message SM1")[0],
        "c": seed(app, start=START + timedelta(days=1), recipient="15559876543", kind="test",
                  status="sent", message_id="SMccc333")[0],
        "d": seed(app, start=START + timedelta(days=2), recipient="4915112345678",
                  kind="mfa", status="test_otp", message_id="test-otp")[0],
    }


@pytest.mark.parametrize("query, expected", [
    ({"number": "15551234567"}, {"a"}),
    ({"number": "+1 555-123-4567"}, {"a"}),
    ({"number": "+1 (555)"}, {"a", "c"}),
    ({"number": "7700 900"}, {"b"}),
    ({"kind": "phone_change"}, {"b"}),
    ({"kind": "test"}, {"c"}),
    ({"status": "failed"}, {"b"}),
    ({"status": "test_otp"}, {"d"}),
    ({"channel": "whatsapp"}, {"b"}),
    ({"channel": "sms"}, {"a", "c", "d"}),
    ({"message_id": "ccc"}, {"c"}),
    ({"message_id": "SM"}, {"a", "c"}),
    ({"since": "2030-05-07"}, {"c", "d"}),
    ({"until": "2030-05-06"}, {"a", "b"}),
    ({"since": "2030-05-06T07:03", "until": "2030-05-07"}, {"b", "c"}),
    ({"number": "1555", "status": "sent", "kind": "test"}, {"c"}),
    ({"number": "000000"}, set()),
])
def test_filters(console, mixed, query, expected):
    assert set(shown(console, "?" + urlencode(query))) == {mixed[name] for name in expected}


@pytest.mark.parametrize("query, problem", [
    ({"kind": "nope"}, "Kind: &#39;nope&#39; is not one of"),
    ({"status": "queued"}, "Status: &#39;queued&#39; is not one of sent, failed, test_otp."),
    ({"channel": "pigeon"}, "Channel: &#39;pigeon&#39; is not one of sms, whatsapp."),
    ({"number": "call me"}, "Number: type some digits of the number."),
    ({"number": "155\x00"}, "Number: control characters cannot be searched for."),
    ({"since": "yesterday"}, "From: &#39;yesterday&#39; is not a date or a date and time."),
])
def test_bad_filters_are_422_with_what_is_wrong(console, mixed, query, problem):
    response, body = page_of(console, "?" + urlencode(query))
    assert response.status_code == 422
    assert problem in body
    assert row_ids(body) == []


# --- keyset pages ---------------------------------------------------------------------------------


def test_keyset_pages_older_and_newer(console, app):
    ids = list(reversed(seed(app, 7)))  # newest first
    pages = log_pages.walk(console, "sms", "/console/sms?limit=3", "next")
    assert pages == [ids[0:3], ids[3:6], ids[6:7]]
    last = console.get(log_pages.pager_link(
        console.get(log_pages.pager_link(console.get("/console/sms?limit=3")
                                         .get_data(as_text=True), "next"))
        .get_data(as_text=True), "next")).get_data(as_text=True)
    back = log_pages.walk(console, "sms", log_pages.pager_link(last, "prev"), "prev")
    assert back == [ids[3:6], ids[0:3]]


def test_rows_with_the_same_time_are_paged_exactly_once(console, app):
    ids = set(seed(app, 5, step=timedelta(0)))
    pages = log_pages.walk(console, "sms", "/console/sms?limit=2", "next")
    assert [len(page) for page in pages] == [2, 2, 1]
    assert {entry for page in pages for entry in page} == ids


def test_filters_are_kept_across_pages(console, app):
    seed(app, 3, kind="test")
    seed(app, 3, start=START + timedelta(hours=1), kind="confirmation")
    pages = log_pages.walk(console, "sms", "/console/sms?kind=test&limit=2", "next")
    assert [len(page) for page in pages] == [2, 1]


def test_a_damaged_cursor_shows_the_newest_page(console, app):
    ids = list(reversed(seed(app, 3)))
    assert shown(console, "?before=garbage&limit=2") == ids[:2]
