"""A user's passkeys (spec idp-passkeys-web3.md sections 0 and 2.2, "Manage"): GET /passkeys
(and /passkeys/), PATCH /passkeys/{id} (no aal2 rule; 404 before the body; the 120-byte name)
and DELETE /passkeys/{id} (the aal2 rule first, then 404, then 204), with their rows and
audit entries."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from gotrue_web.extensions import db
from gotrue_web.models import AAL, WebAuthnCredential

from ..factories import add_factor, audit_entries, count, freeze_clock
from ..openapi.conformance import assert_conforms
from ..support.soft_authenticator import SoftAuthenticator
from .conftest import ORIGIN, RP_ID
from .passkey_flows import Passkeys, api_error, credential, credentials, session_token

NIL = "00000000-0000-0000-0000-000000000000"
NOT_FOUND = (404, "validation_failed", "Passkey not found")


@pytest.fixture
def passkeys(app, service_role_token) -> Passkeys:
    return Passkeys(app, service_role_token)


def _stamp(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _patch(passkeys: Passkeys, token: str, passkey_id: str, body=None, **kw):
    if body is not None:
        kw["json"] = body
    return passkeys.api.request("PATCH", f"/passkeys/{passkey_id}", token=token, **kw)


# --- GET -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/passkeys", "/passkeys/"], ids=["bare", "slash"])
def test_the_list_is_the_callers_passkeys_oldest_first(app, passkeys, authenticator, path):
    clock = freeze_clock(app)
    user_id, token = passkeys.user()
    assert passkeys.api.get(path, token=token).get_json() == []
    first = passkeys.register(token, authenticator)
    first_at = clock.now
    clock.advance(seconds=5)
    second = passkeys.register(token, authenticator)
    _, other_token = passkeys.user()
    passkeys.register(other_token, SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN))
    clock.advance(seconds=5)
    passkeys.login(authenticator)
    response = passkeys.api.get(path, token=token)
    assert response.status_code == 200
    assert_conforms(response, path, "GET")
    assert response.get_json() == [
        {"id": first["id"], "friendly_name": "Passkey", "created_at": _stamp(first_at)},
        {"id": second["id"], "friendly_name": "Passkey", "created_at": second["created_at"],
         "last_used_at": _stamp(clock.now)},
    ]
    assert list(response.get_json()[1]) == ["id", "friendly_name", "created_at", "last_used_at"]


def test_an_unnamed_passkey_has_no_friendly_name_key(app, passkeys, authenticator):
    _, token = passkeys.user()
    passkey_id = passkeys.register(token, authenticator)["id"]
    with app.app_context():
        db.session.execute(sa.update(WebAuthnCredential).values(friendly_name=None))
        db.session.commit()
    [item] = passkeys.api.get("/passkeys", token=token).get_json()
    assert list(item) == ["id", "created_at"] and item["id"] == passkey_id


def test_disabled_passkeys_are_a_404_on_every_manage_route(passkey_app):
    app = passkey_app(**{"passkeys.enabled": False})
    passkeys = Passkeys(app)
    _, token = passkeys.user()
    for response in (passkeys.api.get("/passkeys", token=token),
                     passkeys.api.get("/passkeys/", token=token),
                     _patch(passkeys, token, NIL, {"friendly_name": "x"}),
                     passkeys.api.delete(f"/passkeys/{NIL}", token=token)):
        assert api_error(response) == (404, "passkey_disabled", "Passkeys are disabled")


def test_a_bearer_is_required(passkeys):
    for response in (passkeys.api.get("/passkeys"),
                     _patch(passkeys, None, NIL, {"friendly_name": "x"}),
                     passkeys.api.delete(f"/passkeys/{NIL}")):
        assert api_error(response)[:2] == (401, "no_authorization")


# --- PATCH ---------------------------------------------------------------------------------------


def test_a_rename_answers_the_item_and_is_audited(app, passkeys, authenticator):
    clock = freeze_clock(app)
    user_id, token = passkeys.user()
    passkey_id = passkeys.register(token, authenticator)["id"]
    created_at = clock.now
    clock.advance(seconds=10)
    response = _patch(passkeys, token, passkey_id, {"friendly_name": "Work laptop"})
    assert response.status_code == 200, response.get_json()
    assert_conforms(response, f"/passkeys/{passkey_id}", "PATCH")
    assert response.get_json() == {"id": passkey_id, "friendly_name": "Work laptop",
                                   "created_at": _stamp(created_at)}
    row = credential(app, passkey_id)
    assert (row.friendly_name, row.updated_at, row.created_at) == (
        "Work laptop", clock.now, created_at)
    [entry] = audit_entries(app, "passkey_updated")
    assert entry["actor_id"] == str(user_id) and entry["traits"] == {"passkey_id": passkey_id}
    # The same name again at the same moment is still a rename of an existing passkey.
    assert _patch(passkeys, token, passkey_id, {"friendly_name": "Work laptop"}).status_code == 200


def test_a_rename_needs_no_aal2_session(app, passkeys, authenticator):
    user_id, token = passkeys.user()
    passkey_id = passkeys.register(token, authenticator)["id"]
    add_factor(app, user_id)
    assert _patch(passkeys, token, passkey_id, {"friendly_name": "Key"}).status_code == 200


@pytest.mark.parametrize("passkey_id", ["not-a-uuid", "1234", NIL + "0"],
                         ids=["word", "digits", "too-long"])
def test_a_malformed_id_is_404_before_the_body(passkeys, passkey_id):
    _, token = passkeys.user()
    response = _patch(passkeys, token, passkey_id, data="not json")
    assert api_error(response) == NOT_FOUND


def test_the_body_is_read_after_the_id(passkeys):
    _, token = passkeys.user()
    assert api_error(_patch(passkeys, token, NIL, data="not json"))[:2] == (400, "bad_json")
    assert api_error(_patch(passkeys, token, NIL, {"friendly_name": 5}))[:2] == (
        400, "bad_json")


@pytest.mark.parametrize("body", [{}, {"friendly_name": ""}, {"friendly_name": None}],
                         ids=["missing", "empty", "null"])
def test_a_name_is_required_before_the_passkey_is_looked_up(passkeys, body):
    _, token = passkeys.user()
    assert api_error(_patch(passkeys, token, NIL, body)) == (
        400, "validation_failed", "friendly_name is required")


@pytest.mark.parametrize("name, accepted", [
    ("a" * 120, True), ("a" * 121, False), ("€" * 40, True), ("€" * 41, False),
    ("é" * 60, True), ("é" * 61, False),
], ids=["120-ascii", "121-ascii", "120-bytes-euro", "123-bytes-euro", "120-bytes-e-acute",
        "122-bytes-e-acute"])
def test_the_name_is_at_most_120_bytes(app, passkeys, authenticator, name, accepted):
    _, token = passkeys.user()
    passkey_id = passkeys.register(token, authenticator)["id"]
    response = _patch(passkeys, token, passkey_id, {"friendly_name": name})
    if accepted:
        assert response.status_code == 200
        assert credential(app, passkey_id).friendly_name == name
    else:
        assert api_error(response) == (400, "validation_failed",
                                       "friendly_name must be 120 characters or less")
        assert credential(app, passkey_id).friendly_name == "Passkey"


def test_an_unknown_or_another_users_passkey_is_404(app, passkeys, authenticator):
    _, token = passkeys.user()
    _, other_token = passkeys.user()
    others = passkeys.register(other_token, authenticator)["id"]
    for passkey_id in (NIL, str(uuid.uuid4()), others):
        response = _patch(passkeys, token, passkey_id, {"friendly_name": "Mine now"})
        assert api_error(response) == NOT_FOUND
    assert credential(app, others).friendly_name == "Passkey"
    assert audit_entries(app, "passkey_updated") == []


# --- DELETE --------------------------------------------------------------------------------------


def test_a_delete_is_204_and_removes_only_that_passkey(app, passkeys, authenticator):
    user_id, token = passkeys.user()
    doomed = passkeys.register(token, authenticator)["id"]
    kept = passkeys.register(token, authenticator)["id"]
    response = passkeys.api.delete(f"/passkeys/{doomed}", token=token)
    assert response.status_code == 204 and response.get_data() == b""
    assert_conforms(response, f"/passkeys/{doomed}", "DELETE")
    assert [str(row.id) for row in credentials(app, user_id)] == [kept]
    [entry] = audit_entries(app, "passkey_deleted")
    assert entry["actor_id"] == str(user_id)
    assert entry["traits"] == {"passkey_id": doomed, "user_id": str(user_id)}
    again = passkeys.api.delete(f"/passkeys/{doomed}", token=token)
    assert api_error(again) == NOT_FOUND


def test_the_aal2_rule_comes_before_the_404(app, passkeys, authenticator):
    user_id, token = passkeys.user()
    passkey_id = passkeys.register(token, authenticator)["id"]
    add_factor(app, user_id)
    aal_error = (403, "insufficient_aal",
                 "AAL2 session is required to manage passkeys when MFA is enabled")
    for target in ("not-a-uuid", NIL, passkey_id):
        response = passkeys.api.delete(f"/passkeys/{target}", token=token)
        assert api_error(response) == aal_error
    assert count(app, WebAuthnCredential) == 1
    aal2 = session_token(app, user_id, aal=AAL.aal2)
    assert api_error(passkeys.api.delete("/passkeys/not-a-uuid", token=aal2)) == NOT_FOUND
    assert passkeys.api.delete(f"/passkeys/{passkey_id}", token=aal2).status_code == 204
    assert count(app, WebAuthnCredential) == 0


def test_an_unknown_malformed_or_another_users_passkey_is_404(app, passkeys, authenticator):
    _, token = passkeys.user()
    other_id, other_token = passkeys.user()
    others = passkeys.register(other_token, authenticator)["id"]
    for passkey_id in ("not-a-uuid", NIL, others):
        assert api_error(passkeys.api.delete(f"/passkeys/{passkey_id}", token=token)) == (
            NOT_FOUND)
    assert [str(row.id) for row in credentials(app, other_id)] == [others]
    assert audit_entries(app, "passkey_deleted") == []


def test_a_deleted_user_takes_their_passkeys_along(app, passkeys, authenticator):
    user_id, token = passkeys.user()
    passkeys.register(token, authenticator)
    response = passkeys.api.admin("DELETE", f"/admin/users/{user_id}")
    assert response.status_code == 200, response.get_json()
    assert credentials(app, user_id) == []
