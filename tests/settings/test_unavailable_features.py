"""GET /settings says enabled only for what this server can serve; what is configured but cannot
work is a start-up warning "configured but not available"."""

from __future__ import annotations

import dataclasses

from gotrue_web.api.settings import unavailable_features
from gotrue_web.settings.external import OAuthProviderSettings
from gotrue_web.transports import sms

READY = OAuthProviderSettings(enabled=True, client_ids=("id",), secret="s",
                              redirect_uri="https://auth.example.com/callback")


def _findings(settings) -> dict[str, str]:
    found = unavailable_features(settings, sms.build(settings.sms))
    assert all(finding.kind == "unavailable" for finding in found)
    return {finding.variable: finding.message for finding in found}


def _with_oauth(settings, **providers):
    return settings.replace(**{"external.oauth": {**settings.external.oauth, **providers}})


def test_an_sms_provider_this_server_lacks_is_not_reported_and_is_warned_of(make_app, settings):
    app = make_app(**{"sms.provider": "infobip"})
    assert app.test_client().get("/settings").get_json()["sms_provider"] == ""
    message = _findings(settings.replace(**{"sms.provider": "infobip"}))["GOTRUE_SMS_PROVIDER"]
    assert message.startswith("GOTRUE_SMS_PROVIDER: the SMS provider 'infobip' is configured "
                              "but not available: this server sends through twilio,")


def test_a_known_sms_provider_without_credentials_is_reported_and_warned_of(make_app, settings):
    app = make_app(**{"sms.provider": "vonage"})
    assert app.test_client().get("/settings").get_json()["sms_provider"] == "vonage"
    message = _findings(settings.replace(**{"sms.provider": "vonage"}))["GOTRUE_SMS_PROVIDER"]
    assert "vonage is configured but not available" in message


def test_phone_sign_in_with_nothing_to_send_codes_is_warned_of(settings):
    phone_on = settings.replace(**{"external.phone_enabled": True})
    assert "GOTRUE_EXTERNAL_PHONE_ENABLED" in _findings(phone_on)
    with_hook = phone_on.replace(**{"hooks.send_sms": dataclasses.replace(
        settings.hooks.send_sms, enabled=True, uri="https://hooks.example.com/sms")})
    assert _findings(with_hook) == {}
    with_test_numbers = phone_on.replace(**{"sms.test_otp": {"15550001111": "123456"}})
    assert _findings(with_test_numbers) == {}


def test_an_enabled_provider_missing_its_registration_is_warned_of(settings):
    half = dataclasses.replace(READY, secret="", redirect_uri="")
    found = _findings(_with_oauth(settings, github=half, gitlab=READY))
    assert found == {"GOTRUE_EXTERNAL_GITHUB_ENABLED": (
        "GOTRUE_EXTERNAL_GITHUB_ENABLED: github sign-in is configured but not available: "
        "missing OAuth secret; missing redirect URI")}


def test_a_provider_this_server_has_no_code_for_is_warned_of(settings):
    found = _findings(_with_oauth(settings, myspace=READY))
    assert found["GOTRUE_EXTERNAL_MYSPACE_ENABLED"].endswith(
        "myspace sign-in is configured but not available: this server has no such provider, "
        "so GET /settings reports it as disabled")


def test_nothing_configured_nothing_warned(settings):
    assert _findings(settings) == {}


def test_passkeys_without_a_relying_party_are_warned_of_and_answer_500(make_app, settings):
    passkeys_on = settings.replace(**{"passkeys.enabled": True})
    message = _findings(passkeys_on)["GOTRUE_PASSKEY_ENABLED"]
    assert "GOTRUE_WEBAUTHN_RP_ID, GOTRUE_WEBAUTHN_RP_DISPLAY_NAME and" in message
    factors_on = settings.replace(**{"mfa.webauthn_enroll_enabled": True})
    assert "GOTRUE_MFA_WEB_AUTHN_ENROLL_ENABLED" in _findings(factors_on)
    configured = passkeys_on.replace(**{
        "webauthn.rp_id": "example.com", "webauthn.rp_display_name": "Example",
        "webauthn.rp_origins": ("https://example.com",)})
    assert _findings(configured) == {}
    # GoTrue starts anyway; the ceremony says why it cannot run.
    response = make_app(**{"passkeys.enabled": True}).test_client().post(
        "/passkeys/authentication/options", json={"gotrue_meta_security": {}})
    assert response.status_code == 500
    assert response.get_json()["msg"] == "Failed to initialize WebAuthn"
