"""GET /health and GET /settings (contract section 10)."""

from __future__ import annotations

import dataclasses

import pytest

from gotrue_web import __version__

EXTERNAL_KEYS = [
    "anonymous_users", "apple", "azure", "bitbucket", "discord", "facebook", "snapchat", "figma",
    "fly", "github", "gitlab", "google", "keycloak", "kakao", "linkedin", "linkedin_oidc",
    "notion", "spotify", "slack", "slack_oidc", "workos", "twitch", "twitter", "email", "phone",
    "zoom",
]
SETTINGS_KEYS = ["external", "disable_signup", "mailer_autoconfirm", "phone_autoconfirm",
                 "sms_provider", "saml_enabled", "saml_private_key_next_configured",
                 "passkeys_enabled"]


@pytest.mark.parametrize("prefix", ["", "/auth/v1"])
def test_health(client, prefix):
    response = client.get(f"{prefix}/health")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert list(body) == ["version", "name", "description"]
    assert body == {"version": __version__, "name": "GoTrue",
                    "description": "GoTrue is a user registration and authentication API"}


@pytest.mark.parametrize("prefix", ["", "/auth/v1"])
def test_settings_defaults(make_app, prefix):
    response = make_app().test_client().get(f"{prefix}/settings")
    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == SETTINGS_KEYS
    assert list(body["external"]) == EXTERNAL_KEYS
    assert body["external"] == {name: name == "email" for name in EXTERNAL_KEYS}
    assert body["disable_signup"] is False
    assert body["mailer_autoconfirm"] is False
    assert body["phone_autoconfirm"] is False
    assert body["sms_provider"] == ""
    assert body["saml_enabled"] is False
    assert body["saml_private_key_next_configured"] is False
    assert body["passkeys_enabled"] is False
    assert not {"x", "vercel_marketplace", "web3"} & set(body["external"])


def test_settings_follow_the_configuration(make_app, settings):
    app = make_app(**{
        "disable_signup": True,
        "mailer.autoconfirm": True,
        "sms.autoconfirm": True,
        "sms.provider": "twilio",
        "external.anonymous_users_enabled": True,
        "external.phone_enabled": True,
        "external.email": dataclasses.replace(settings.external.email, enabled=False),
        "external.providers": {"github": True, "google": False, "gitlab": True, "twitter": True},
    })
    body = app.test_client().get("/settings").get_json()
    enabled = {name for name, on in body["external"].items() if on}
    assert enabled == {"anonymous_users", "phone", "github", "gitlab", "twitter"}
    assert body["disable_signup"] is True
    assert body["mailer_autoconfirm"] is True
    assert body["phone_autoconfirm"] is True
    assert body["sms_provider"] == "twilio"


def test_settings_need_no_authorization_and_ignore_a_bad_bearer(client):
    response = client.get("/settings", headers={"Authorization": "Bearer not-a-jwt"})
    assert response.status_code == 200
