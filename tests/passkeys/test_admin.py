"""The admin's view of a user's passkeys (spec idp-passkeys-web3.md sections 0 and 2.2,
"Admin"): GET /admin/users/{uid}/passkeys and DELETE /admin/users/{uid}/passkeys/{pid}, served
whether or not passkeys are enabled; another user's passkey is a 404; the audit names the
admin."""

from __future__ import annotations

import pytest

from gotrue_web.models import WebAuthnCredential

from ..conftest import make_jwt
from ..factories import audit_entries, count, freeze_clock
from ..openapi.conformance import assert_conforms
from ..support.soft_authenticator import SoftAuthenticator
from .conftest import ORIGIN, RP_ID
from .passkey_flows import Passkeys, api_error, credentials

NIL = "00000000-0000-0000-0000-000000000000"
NOT_FOUND = (404, "validation_failed", "Passkey not found")


@pytest.fixture
def passkeys(app, service_role_token) -> Passkeys:
    return Passkeys(app, service_role_token)


def _with_passkeys(passkeys: Passkeys, authenticator, how_many: int = 1):
    """A user with ``how_many`` passkeys: (user id, their ids oldest first)."""
    user_id, token = passkeys.user()
    return user_id, [passkeys.register(token, authenticator)["id"] for _ in range(how_many)]


def test_the_list_is_the_users_passkeys_oldest_first(app, passkeys, authenticator):
    clock = freeze_clock(app)
    user_id, token = passkeys.user()
    first = passkeys.register(token, authenticator)
    clock.advance(seconds=3)
    second = passkeys.register(token, authenticator)
    _with_passkeys(passkeys, SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN))
    passkeys.login(authenticator)
    path = f"/admin/users/{user_id}/passkeys"
    response = passkeys.api.admin("GET", path)
    assert response.status_code == 200
    assert_conforms(response, path, "GET")
    assert response.get_json() == [
        {"id": first["id"], "friendly_name": "Passkey", "created_at": first["created_at"]},
        {"id": second["id"], "friendly_name": "Passkey", "created_at": second["created_at"],
         "last_used_at": clock.now.strftime("%Y-%m-%dT%H:%M:%S.000000Z")},
    ]


def test_a_user_without_passkeys_has_an_empty_list(passkeys):
    user_id, _ = passkeys.user()
    assert passkeys.api.admin("GET", f"/admin/users/{user_id}/passkeys").get_json() == []


def test_the_routes_are_served_with_passkeys_disabled(passkey_app, service_role_token,
                                                      authenticator):
    app = passkey_app()
    user_id, [passkey_id] = _with_passkeys(Passkeys(app, service_role_token), authenticator)
    disabled = Passkeys(passkey_app(**{"passkeys.enabled": False}), service_role_token)
    listed = disabled.api.admin("GET", f"/admin/users/{user_id}/passkeys")
    assert [item["id"] for item in listed.get_json()] == [passkey_id]
    deleted = disabled.api.admin("DELETE", f"/admin/users/{user_id}/passkeys/{passkey_id}")
    assert deleted.status_code == 204
    assert count(app, WebAuthnCredential) == 0


def test_the_delete_is_204_removes_the_passkey_and_names_the_admin(app, passkeys,
                                                                   authenticator):
    user_id, [doomed, kept] = _with_passkeys(passkeys, authenticator, 2)
    path = f"/admin/users/{user_id}/passkeys/{doomed}"
    response = passkeys.api.admin("DELETE", path)
    assert response.status_code == 204 and response.get_data() == b""
    assert_conforms(response, path, "DELETE")
    assert [str(row.id) for row in credentials(app, user_id)] == [kept]
    [entry] = audit_entries(app, "passkey_deleted")
    assert (entry["actor_id"], entry["actor_username"]) == (NIL, "service_role")
    assert entry["traits"] == {"passkey_id": doomed, "user_id": str(user_id)}
    assert api_error(passkeys.api.admin("DELETE", path)) == NOT_FOUND


def test_an_admin_with_a_subject_is_named_by_it(app, passkeys, authenticator):
    user_id, [passkey_id] = _with_passkeys(passkeys, authenticator)
    admin_id = "7f9a3c6e-2b1d-4e8f-9a0b-1c2d3e4f5a6b"
    token = make_jwt({"sub": admin_id, "role": "service_role", "email": "ops@example.com"})
    response = passkeys.api.delete(f"/admin/users/{user_id}/passkeys/{passkey_id}",
                                   token=token)
    assert response.status_code == 204
    [entry] = audit_entries(app, "passkey_deleted")
    assert (entry["actor_id"], entry["actor_username"]) == (admin_id, "ops@example.com")


def test_another_users_passkey_is_404_and_stays(app, passkeys, authenticator):
    owner_id, [passkey_id] = _with_passkeys(passkeys, authenticator)
    other_id, _ = passkeys.user()
    response = passkeys.api.admin("DELETE", f"/admin/users/{other_id}/passkeys/{passkey_id}")
    assert api_error(response) == NOT_FOUND
    assert [str(row.id) for row in credentials(app, owner_id)] == [passkey_id]
    assert audit_entries(app, "passkey_deleted") == []


@pytest.mark.parametrize("passkey_id", ["not-a-uuid", NIL], ids=["malformed", "unknown"])
def test_a_malformed_or_unknown_passkey_is_404(passkeys, passkey_id):
    user_id, _ = passkeys.user()
    response = passkeys.api.admin("DELETE", f"/admin/users/{user_id}/passkeys/{passkey_id}")
    assert api_error(response) == NOT_FOUND


@pytest.mark.parametrize("method, suffix", [("GET", ""), ("DELETE", f"/{NIL}")],
                         ids=["list", "delete"])
def test_the_user_must_exist(passkeys, method, suffix):
    unknown = passkeys.api.admin(method, f"/admin/users/{NIL}/passkeys{suffix}")
    assert api_error(unknown) == (404, "user_not_found", "User not found")
    malformed = passkeys.api.admin(method, f"/admin/users/nope/passkeys{suffix}")
    assert api_error(malformed) == (404, "validation_failed", "user_id must be an UUID")


@pytest.mark.parametrize("method, suffix", [("GET", ""), ("DELETE", f"/{NIL}")],
                         ids=["list", "delete"])
def test_only_admins_may(app, passkeys, authenticator, method, suffix):
    user_id, token = passkeys.user()
    path = f"/admin/users/{user_id}/passkeys{suffix}"
    assert api_error(passkeys.api.request(method, path))[:2] == (401, "no_authorization")
    assert api_error(passkeys.api.request(method, path, token=token)) == (
        403, "not_admin", "User not allowed")
