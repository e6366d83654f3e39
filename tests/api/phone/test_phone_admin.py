"""The phone fields of /admin/users (api-contract §3): POST and PUT take ``phone`` (validated,
stored as digits) and ``phone_confirm``; a number held by another user is 422 phone_exists; the
phone identity follows; what the admin sets is what the password grant and /verify then see."""

from __future__ import annotations

import pytest

from ...conftest import api_for
from ...factories import audit_entries, create_user, freeze_clock, unique_email, user_row
from .verify_support import PHONE_SETTINGS, phone_identities

PHONE, OTHER = "15550001111", "15550002222"
E164 = {"code": "validation_failed", "message": "Invalid phone number format (E.164 required)"}
TAKEN = {"code": "phone_exists", "message": "Phone number already registered by another user"}


@pytest.fixture
def phone_app(make_app):
    return make_app(**PHONE_SETTINGS)


@pytest.fixture
def admin(phone_app, service_role_token):
    return api_for(phone_app, service_role_token)


def _create(admin, **body):
    return admin.admin("POST", "/admin/users", json=body)


def _update(admin, user_id, **body):
    return admin.admin("PUT", f"/admin/users/{user_id}", json=body)


def _login(app, phone):
    return api_for(app).post("/token?grant_type=password",
                             json={"phone": phone, "password": "password-123"})


def test_create_unconfirmed_phone_user(phone_app, admin):
    response = _create(admin, phone="+1 555 000 1111", password="password-123")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["phone"] == PHONE and body["email"] == ""
    assert body.get("phone_confirmed_at") is None
    user = user_row(phone_app, body["id"])
    assert user.phone == PHONE and user.phone_confirmed_at is None
    [identity] = phone_identities(phone_app, body["id"])
    assert identity.identity_data["phone"] == PHONE
    assert identity.identity_data["phone_verified"] is False
    assert _login(phone_app, PHONE).get_json()["code"] == "phone_not_confirmed"


def test_create_with_phone_confirm_signs_in_by_phone(phone_app, admin):
    clock = freeze_clock(phone_app)
    response = _create(admin, phone=PHONE, password="password-123", phone_confirm=True)
    assert response.status_code == 200
    user = user_row(phone_app, response.get_json()["id"])
    assert user.phone_confirmed_at == clock.now
    assert _login(phone_app, "+" + PHONE).status_code == 200


@pytest.mark.parametrize("phone", ["+0123456", "12a", "++15550001111", "+1-555-000-1111"])
def test_malformed_phone_is_400(phone_app, admin, phone):
    created = _create(admin, phone=phone)
    assert created.status_code == 400 and created.get_json() == E164
    user_id = create_user(admin, unique_email("adm"))["id"]
    updated = _update(admin, user_id, phone=phone)
    assert updated.status_code == 400 and updated.get_json() == E164
    assert user_row(phone_app, user_id).phone is None


def test_taken_phone_is_422_on_create_and_update(phone_app, admin):
    assert _create(admin, phone=PHONE).status_code == 200
    created = _create(admin, phone="+" + PHONE)
    assert created.status_code == 422 and created.get_json() == TAKEN
    other_id = _create(admin, phone=OTHER).get_json()["id"]
    updated = _update(admin, other_id, phone=PHONE)
    assert updated.status_code == 422 and updated.get_json() == TAKEN
    assert user_row(phone_app, other_id).phone == OTHER


def test_update_moves_the_number_and_its_identity(phone_app, admin):
    user_id = _create(admin, phone=PHONE, phone_confirm=True).get_json()["id"]
    [before] = phone_identities(phone_app, user_id)
    response = _update(admin, user_id, phone="+" + OTHER)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["phone"] == OTHER
    [identity] = phone_identities(phone_app, user_id)
    assert identity.id == before.id and identity.identity_data["phone"] == OTHER
    assert user_row(phone_app, user_id).phone == OTHER
    modified = [e for e in audit_entries(phone_app, "user_modified")
                if e["traits"].get("user_id") == user_id]
    assert modified and modified[-1]["traits"]["user_phone"] == OTHER


def test_update_phone_confirm_confirms_the_number(phone_app, admin):
    clock = freeze_clock(phone_app)
    user_id = _create(admin, phone=PHONE, password="password-123").get_json()["id"]
    clock.advance(minutes=5)
    response = _update(admin, user_id, phone_confirm=True)
    assert response.status_code == 200
    assert response.get_json()["phone_confirmed_at"] is not None
    user = user_row(phone_app, user_id)
    assert user.phone_confirmed_at == clock.now
    [identity] = phone_identities(phone_app, user_id)
    assert identity.identity_data["phone_verified"] is True
    assert _login(phone_app, PHONE).status_code == 200


def test_email_user_given_a_phone_gets_a_phone_identity(phone_app, admin):
    user_id = create_user(admin, unique_email("adm"))["id"]
    response = _update(admin, user_id, phone=PHONE, phone_confirm=True)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["phone"] == PHONE and body["phone_confirmed_at"] is not None
    assert sorted(i["provider"] for i in body["identities"]) == ["email", "phone"]
    [identity] = phone_identities(phone_app, user_id)
    assert identity.identity_data["phone"] == PHONE
    assert identity.identity_data["phone_verified"] is True
    assert user_row(phone_app, user_id).raw_app_meta_data["providers"] == ["email", "phone"]
