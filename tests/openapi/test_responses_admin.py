"""Real answers of the admin routes match the OpenAPI document: users, factors, invitations,
links, the audit log and custom providers, with their paging headers and errors."""

from __future__ import annotations

import uuid

import pyotp

from ..conftest import api_for
from .support import checked


def _email() -> str:
    return f"admin-{uuid.uuid4().hex[:10]}@example.com"


def test_admin_users_create_list_get_update_and_delete(api):
    admin = api.service_role_token
    created = checked(api, "POST", "/admin/users", 200, token=admin, json={
        "email": _email(), "password": "password-123", "email_confirm": True,
        "user_metadata": {"team": "blue"}, "app_metadata": {"plan": "pro"}}).get_json()
    listed = checked(api, "GET", "/admin/users?page=1&per_page=1", 200, token=admin)
    assert listed.headers["X-Total-Count"] == "1"
    assert 'rel="last"' in listed.headers["Link"]
    # The list form: identities null, no factors.
    assert listed.get_json()["users"][0]["identities"] is None
    path = f"/admin/users/{created['id']}"
    checked(api, "GET", path, 200, token=admin)
    banned = checked(api, "PUT", path, 200, token=admin,
                     json={"ban_duration": "24h", "role": "editor"}).get_json()
    assert banned["role"] == "editor" and "banned_until" in banned
    checked(api, "GET", path + "/factors", 200, token=admin)
    checked(api, "DELETE", path, 200, token=admin, json={"should_soft_delete": False})
    checked(api, "GET", path, 404, "user_not_found", token=admin)


def test_admin_errors(api):
    admin = api.service_role_token
    user_token = api.session()["access_token"]
    checked(api, "GET", "/admin/users", 401, "no_authorization")
    checked(api, "GET", "/admin/users", 403, "not_admin", token=user_token)
    checked(api, "GET", "/admin/users/not-a-uuid", 404, "validation_failed", token=admin)
    checked(api, "GET", "/admin/users?page=0", 400, "validation_failed", token=admin)
    checked(api, "POST", "/admin/users", 400, "validation_failed", token=admin, json={})
    email = _email()
    checked(api, "POST", "/admin/users", 200, token=admin, json={"email": email})
    checked(api, "POST", "/admin/users", 422, "email_exists", token=admin, json={"email": email})
    checked(api, "DELETE", f"/admin/users/{uuid.uuid4()}", 404, "user_not_found", token=admin)
    checked(api, "GET", f"/admin/users/{uuid.uuid4()}/factors", 404, "user_not_found",
            token=admin)


def test_admin_factor_update_and_delete(api):
    admin = api.service_role_token
    session = api.session()
    token = session["access_token"]
    factor = checked(api, "POST", "/factors", 200, token=token,
                     json={"factor_type": "totp", "friendly_name": "first"}).get_json()
    challenge = checked(api, "POST", f"/factors/{factor['id']}/challenge", 200,
                        token=token).get_json()
    checked(api, "POST", f"/factors/{factor['id']}/verify", 200, token=token, json={
        "challenge_id": challenge["id"], "code": pyotp.TOTP(factor["totp"]["secret"]).now()})
    path = f"/admin/users/{session['user']['id']}/factors"
    assert len(checked(api, "GET", path, 200, token=admin).get_json()) == 1
    renamed = checked(api, "PUT", f"{path}/{factor['id']}", 200, token=admin,
                      json={"friendly_name": "renamed"}).get_json()
    assert renamed["friendly_name"] == "renamed"
    checked(api, "DELETE", f"{path}/{factor['id']}", 200, token=admin)
    checked(api, "DELETE", f"{path}/{factor['id']}", 404, "mfa_factor_not_found", token=admin)


def test_invite_generate_link_and_audit(mail_api):
    admin = mail_api.service_role_token
    invited = checked(mail_api, "POST", "/invite", 200, token=admin,
                      json={"email": _email(), "data": {"team": "red"}}).get_json()
    assert "invited_at" in invited
    link = checked(mail_api, "POST", "/admin/generate_link", 200, token=admin,
                   json={"type": "magiclink", "email": _email()}).get_json()
    assert link["verification_type"] in ("magiclink", "signup")
    checked(mail_api, "POST", "/admin/generate_link", 404, "user_not_found", token=admin,
            json={"type": "recovery", "email": _email()})
    entries = checked(mail_api, "GET", "/admin/audit?per_page=5", 200, token=admin)
    assert int(entries.headers["X-Total-Count"]) >= 1
    checked(mail_api, "GET", "/admin/audit?per_page=x", 400, "validation_failed", token=admin)


def test_custom_providers(api):
    admin = api.service_role_token
    listed = checked(api, "GET", "/admin/custom-providers", 200, token=admin)
    assert listed.get_json() == {"providers": []}
    checked(api, "GET", "/admin/custom-providers?type=saml", 400, "validation_failed",
            token=admin)
    checked(api, "GET", "/admin/custom-providers/no-prefix", 400, "validation_failed",
            token=admin)
    checked(api, "GET", "/admin/custom-providers/custom:missing", 404,
            "custom_provider_not_found", token=admin)
    checked(api, "DELETE", "/admin/custom-providers/custom:missing", 404,
            "custom_provider_not_found", token=admin)
    checked(api, "POST", "/admin/custom-providers", 400, "validation_failed", token=admin,
            json={"provider_type": "oauth2", "identifier": "custom:acme"})
    created = checked(api, "POST", "/admin/custom-providers", 201, token=admin, json={
        "provider_type": "oauth2", "identifier": "custom:acme", "name": "Acme",
        "client_id": "client", "client_secret": "secret",
        "authorization_url": "https://auth.example.com/authorize",
        "token_url": "https://auth.example.com/token",
        "userinfo_url": "https://auth.example.com/userinfo"}).get_json()
    assert "client_secret" not in created
    path = "/admin/custom-providers/custom:acme"
    checked(api, "GET", path, 200, token=admin)
    checked(api, "PUT", path, 200, token=admin, json={"name": "Acme Corp", "scopes": ["email"]})
    checked(api, "GET", "/admin/custom-providers?type=oauth2", 200, token=admin)
    checked(api, "DELETE", path, 204, token=admin)


def test_custom_providers_turned_off(make_app, service_role_token):
    api = api_for(make_app(**{"external.custom_oauth_enabled": False}), service_role_token)
    checked(api, "GET", "/admin/custom-providers", 404, "feature_disabled",
            token=service_role_token)
