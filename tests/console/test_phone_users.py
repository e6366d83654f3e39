"""Phone users in the console: finding them by a number typed the way people write numbers,
creating them with a phone (confirmed or not) through the admin API's service, and confirming
a phone by hand from the user page, audited like the other user actions. The effect is proved
through the API: an unconfirmed phone user cannot sign in with the password; once the
operator confirms the number, they can."""

from __future__ import annotations

import json
import re
import uuid
from urllib.parse import urlencode

import pytest

from ..factories import audit_entries, identities, make_user, user_row
from .support_users import assert_operator_entry, unescape

PASSWORD = "Phone-pass-42"
# Ids no row has; fixed, so that every pytest-xdist worker collects the same tests.
NO_USER = "4b8d2f6a-0c1e-4a3b-9d5f-7e9a1c3b5d70"


@pytest.fixture
def app(make_app):
    return make_app(**{"external.phone_enabled": True, "mailer.autoconfirm": True})


def _html(response) -> str:
    return response.get_data(as_text=True)


def _listed(console, query: str) -> set[uuid.UUID]:
    response = console.get("/console/users?" + urlencode({"q": query}), htmx=True)
    assert response.status_code == 200, _html(response)
    return {uuid.UUID(found) for found in
            re.findall(r'href="/console/users/([0-9a-f-]{36})"', _html(response))}


def _password_grant(api, phone: str, password: str = PASSWORD):
    return api.post("/token?grant_type=password", json={"phone": phone, "password": password})


def _create(console, **fields):
    data = {"email": "", "phone": "", "password": "", "user_metadata": "", **fields}
    return console.post("/console/users/new", data)


# --- search ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", [
    "15551234567",
    "+15551234567",
    "+1 555 123 4567",
    "+1-555-123-4567",
    "+1 (555) 123-4567",
    "1.555.123.4567",
    "+1 555",
])
def test_search_finds_a_number_typed_with_plus_spaces_dashes_or_brackets(console, app, typed):
    wanted = make_user(app, "phone.owner@example.com", phone="15551234567")
    make_user(app, "other@example.com", phone="4915112345678")
    make_user(app, "no.phone@example.com")
    assert _listed(console, typed) == {wanted}


def test_search_by_number_finds_phone_only_users_and_shows_them_by_number(console, app):
    phone_only = make_user(app, phone="447700900123", password=PASSWORD)
    body = _html(console.get("/console/users?" + urlencode({"q": "+44 7700 900"})))
    assert f'href="/console/users/{phone_only}">+447700900123</a>' in body
    assert _listed(console, "+44 (7700) 900-123") == {phone_only}


def test_digits_in_the_middle_of_a_number_do_not_match(console, app):
    make_user(app, phone="15551234567")
    assert _listed(console, "1234567") == set()


# --- create with a phone --------------------------------------------------------------------------


def test_create_with_a_spaced_phone_and_auto_confirm_signs_in_by_phone(console, app, api):
    response = _create(console, phone="+44 7700 900456", password=PASSWORD, auto_confirm="on")
    assert response.status_code == 303, _html(response)
    user_id = response.headers["Location"].rsplit("/", 1)[1]
    user = user_row(app, user_id)
    assert user.phone == "447700900456" and user.phone_confirmed_at is not None
    [identity] = identities(app, user_id)
    assert identity.provider == "phone"
    assert_operator_entry(app, "user_signedup", user_id, user_phone="447700900456")
    page = _html(console.get(f"/console/users/{user_id}"))
    assert "Confirm phone by hand" not in page
    assert "+447700900456 is confirmed." in page
    login = _password_grant(api, "+447700900456")
    assert login.status_code == 200, _html(login)


def test_a_number_the_api_refuses_is_refused_with_nothing_created(console, app):
    before = len(audit_entries(app))
    response = _create(console, phone="+0 555 1234", password=PASSWORD, auto_confirm="on")
    assert response.status_code == 422
    assert "Invalid phone number format (E.164 required)" in _html(response)
    assert len(audit_entries(app)) == before
    assert _listed(console, "0555") == set()


# --- confirm phone by hand ------------------------------------------------------------------------


@pytest.fixture
def unconfirmed(console, app) -> str:
    """A phone user created from the console without auto-confirm."""
    response = _create(console, phone="+15550104242", password=PASSWORD)
    assert response.status_code == 303, _html(response)
    user_id = response.headers["Location"].rsplit("/", 1)[1]
    assert user_row(app, user_id).phone_confirmed_at is None
    return user_id


def test_the_user_page_offers_confirm_phone_for_an_unconfirmed_number(console, unconfirmed):
    page = _html(console.get(f"/console/users/{unconfirmed}"))
    assert f'action="/console/users/{unconfirmed}/confirm-phone"' in page
    assert "Confirm phone by hand" in page
    assert 'href="/console/sms?number=15550104242"' in page


@pytest.mark.parametrize("htmx", [False, True])
def test_confirm_phone_by_hand(console, app, api, unconfirmed, htmx):
    refused = _password_grant(api, "+15550104242")
    assert refused.status_code == 400, _html(refused)
    assert "Phone not confirmed" in _html(refused)

    response = console.post(f"/console/users/{unconfirmed}/confirm-phone", htmx=htmx)
    message = "+15550104242 is now confirmed."
    if htmx:
        assert response.status_code == 200, _html(response)
        assert _html(response).lstrip().startswith('<div id="user-detail">')
        assert json.loads(response.headers["HX-Trigger"])["toast"] == {
            "message": message, "kind": "ok"}
        assert "Confirm phone by hand" not in _html(response)
    else:
        assert response.status_code == 303
        assert response.headers["Location"] == f"/console/users/{unconfirmed}"
        page = _html(console.get(response.headers["Location"]))
        assert f'<div class="flash ok" role="status">{message}</div>' in unescape(page)

    user = user_row(app, unconfirmed)
    assert user.phone_confirmed_at is not None
    assert user.raw_user_meta_data.get("phone_verified") is True
    [identity] = identities(app, unconfirmed)
    assert identity.identity_data["phone_verified"] is True
    assert_operator_entry(app, "user_modified", unconfirmed, change="phone_confirmed",
                          user_phone="15550104242")
    login = _password_grant(api, "+15550104242")
    assert login.status_code == 200, _html(login)


def test_confirm_phone_refuses_a_confirmed_number_and_changes_nothing(console, app, unconfirmed):
    assert console.post(f"/console/users/{unconfirmed}/confirm-phone").status_code == 303
    confirmed_at = user_row(app, unconfirmed).phone_confirmed_at
    before = len(audit_entries(app))
    response = console.post(f"/console/users/{unconfirmed}/confirm-phone", htmx=True)
    assert response.status_code == 422
    assert json.loads(response.headers["HX-Trigger"])["toast"] == {
        "message": "This phone number is confirmed already.", "kind": "error"}
    assert user_row(app, unconfirmed).phone_confirmed_at == confirmed_at
    assert len(audit_entries(app)) == before


def test_confirm_phone_refuses_a_user_without_a_phone(console, app):
    user_id = make_user(app, "mail.only@example.com", confirmed=False)
    before = len(audit_entries(app))
    response = console.post(f"/console/users/{user_id}/confirm-phone")
    assert response.status_code == 422
    assert "This user has no phone number." in _html(response)
    assert user_row(app, user_id).phone_confirmed_at is None
    assert len(audit_entries(app)) == before


def test_confirm_phone_needs_the_csrf_token(console, app, unconfirmed):
    before = len(audit_entries(app))
    for htmx in (False, True):
        response = console.post(f"/console/users/{unconfirmed}/confirm-phone", htmx=htmx,
                                csrf=False)
        assert response.status_code == 400
    assert user_row(app, unconfirmed).phone_confirmed_at is None
    assert len(audit_entries(app)) == before


def test_confirm_phone_for_a_missing_user_is_404(console):
    assert console.post(f"/console/users/{NO_USER}/confirm-phone").status_code == 404


def test_confirm_phone_needs_a_signed_in_operator(anonymous_console, app):
    user_id = make_user(app, phone="15550107070", confirmed=False)
    response = anonymous_console.post(f"/console/users/{user_id}/confirm-phone")
    assert response.status_code == 303
    assert "/console/login" in response.headers["Location"]
    assert user_row(app, user_id).phone_confirmed_at is None
