"""GoTrue's error codes and the exceptions services raise.

Wire format: the code strings are what the official clients match on; do not rename them.
Services raise these; each blueprint decides how to render them.
"""

from __future__ import annotations


class ErrorCode:
    UNEXPECTED_FAILURE = "unexpected_failure"
    VALIDATION_FAILED = "validation_failed"
    BAD_JSON = "bad_json"
    EMAIL_EXISTS = "email_exists"
    PHONE_EXISTS = "phone_exists"
    BAD_JWT = "bad_jwt"
    NOT_ADMIN = "not_admin"
    NO_AUTHORIZATION = "no_authorization"
    USER_NOT_FOUND = "user_not_found"
    SESSION_NOT_FOUND = "session_not_found"
    SESSION_EXPIRED = "session_expired"
    FLOW_STATE_NOT_FOUND = "flow_state_not_found"
    FLOW_STATE_EXPIRED = "flow_state_expired"
    FLOW_STATE_ALREADY_USED = "flow_state_already_used"
    SIGNUP_DISABLED = "signup_disabled"
    USER_BANNED = "user_banned"
    PROVIDER_EMAIL_NEEDS_VERIFICATION = "provider_email_needs_verification"
    INVITE_NOT_FOUND = "invite_not_found"
    BAD_OAUTH_STATE = "bad_oauth_state"
    BAD_OAUTH_CALLBACK = "bad_oauth_callback"
    OAUTH_PROVIDER_NOT_SUPPORTED = "oauth_provider_not_supported"
    PROVIDER_DISABLED = "provider_disabled"
    UNEXPECTED_AUDIENCE = "unexpected_audience"
    SINGLE_IDENTITY_NOT_DELETABLE = "single_identity_not_deletable"
    EMAIL_CONFLICT_IDENTITY_NOT_DELETABLE = "email_conflict_identity_not_deletable"
    IDENTITY_ALREADY_EXISTS = "identity_already_exists"
    EMAIL_PROVIDER_DISABLED = "email_provider_disabled"
    PHONE_PROVIDER_DISABLED = "phone_provider_disabled"
    TOO_MANY_ENROLLED_MFA_FACTORS = "too_many_enrolled_mfa_factors"
    MFA_FACTOR_NAME_CONFLICT = "mfa_factor_name_conflict"
    MFA_FACTOR_NOT_FOUND = "mfa_factor_not_found"
    MFA_IP_ADDRESS_MISMATCH = "mfa_ip_address_mismatch"
    MFA_CHALLENGE_EXPIRED = "mfa_challenge_expired"
    MFA_VERIFICATION_FAILED = "mfa_verification_failed"
    MFA_VERIFICATION_REJECTED = "mfa_verification_rejected"
    MFA_VERIFIED_FACTOR_EXISTS = "mfa_verified_factor_exists"
    MFA_TOTP_ENROLL_NOT_ENABLED = "mfa_totp_enroll_not_enabled"
    MFA_TOTP_VERIFY_NOT_ENABLED = "mfa_totp_verify_not_enabled"
    MFA_PHONE_ENROLL_NOT_ENABLED = "mfa_phone_enroll_not_enabled"
    MFA_PHONE_VERIFY_NOT_ENABLED = "mfa_phone_verify_not_enabled"
    MFA_WEBAUTHN_ENROLL_NOT_ENABLED = "mfa_webauthn_enroll_not_enabled"
    MFA_WEBAUTHN_VERIFY_NOT_ENABLED = "mfa_webauthn_verify_not_enabled"
    INSUFFICIENT_AAL = "insufficient_aal"
    CAPTCHA_FAILED = "captcha_failed"
    SAML_PROVIDER_DISABLED = "saml_provider_disabled"
    MANUAL_LINKING_DISABLED = "manual_linking_disabled"
    SMS_SEND_FAILED = "sms_send_failed"
    EMAIL_NOT_CONFIRMED = "email_not_confirmed"
    PHONE_NOT_CONFIRMED = "phone_not_confirmed"
    REAUTH_NONCE_MISSING = "reauthentication_needed"
    REAUTHENTICATION_NOT_VALID = "reauthentication_not_valid"
    SAME_PASSWORD = "same_password"
    CURRENT_PASSWORD_REQUIRED = "current_password_required"
    CURRENT_PASSWORD_INVALID = "current_password_invalid"
    USER_SSO_MANAGED = "user_sso_managed"
    USER_ALREADY_EXISTS = "user_already_exists"
    EMAIL_ADDRESS_INVALID = "email_address_invalid"
    EMAIL_ADDRESS_NOT_AUTHORIZED = "email_address_not_authorized"
    WEAK_PASSWORD = "weak_password"
    OTP_EXPIRED = "otp_expired"
    OTP_DISABLED = "otp_disabled"
    IDENTITY_NOT_FOUND = "identity_not_found"
    BAD_CODE_VERIFIER = "bad_code_verifier"
    ANONYMOUS_PROVIDER_DISABLED = "anonymous_provider_disabled"
    HOOK_TIMEOUT = "hook_timeout"
    HOOK_TIMEOUT_AFTER_RETRY = "hook_timeout_after_retry"
    HOOK_PAYLOAD_OVER_SIZE_LIMIT = "hook_payload_over_size_limit"
    HOOK_PAYLOAD_INVALID_CONTENT_TYPE = "hook_payload_invalid_content_type"
    REFRESH_TOKEN_NOT_FOUND = "refresh_token_not_found"
    REFRESH_TOKEN_ALREADY_USED = "refresh_token_already_used"
    CONFLICT = "conflict"
    OVER_REQUEST_RATE_LIMIT = "over_request_rate_limit"
    OVER_EMAIL_SEND_RATE_LIMIT = "over_email_send_rate_limit"
    OVER_SMS_SEND_RATE_LIMIT = "over_sms_send_rate_limit"
    REQUEST_TIMEOUT = "request_timeout"
    REQUEST_ENTITY_TOO_LARGE = "request_entity_too_large"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    INVALID_CREDENTIALS = "invalid_credentials"
    FEATURE_DISABLED = "feature_disabled"
    OAUTH_CLIENT_STATE_NOT_FOUND = "oauth_client_state_not_found"
    OAUTH_CLIENT_STATE_EXPIRED = "oauth_client_state_expired"
    OAUTH_INVALID_STATE = "oauth_invalid_state"
    # This server as an OAuth 2.1 authorization server (spec idp-passkeys-web3.md section 1).
    OAUTH_CLIENT_NOT_FOUND = "oauth_client_not_found"
    OAUTH_DYNAMIC_CLIENT_REGISTRATION_DISABLED = "oauth_dynamic_client_registration_disabled"
    OAUTH_AUTHORIZATION_NOT_FOUND = "oauth_authorization_not_found"
    OAUTH_CONSENT_NOT_FOUND = "oauth_consent_not_found"
    CUSTOM_PROVIDER_NOT_FOUND = "custom_provider_not_found"
    OVER_CUSTOM_PROVIDER_QUOTA = "over_custom_provider_quota"
    SSO_PROVIDER_NOT_FOUND = "sso_provider_not_found"
    SSO_PROVIDER_DISABLED = "sso_provider_disabled"
    SSO_DOMAIN_ALREADY_EXISTS = "sso_domain_already_exists"
    SAML_IDP_NOT_FOUND = "saml_idp_not_found"
    SAML_IDP_ALREADY_EXISTS = "saml_idp_already_exists"
    SAML_METADATA_FETCH_FAILED = "saml_metadata_fetch_failed"
    SAML_ENTITY_ID_MISMATCH = "saml_entity_id_mismatch"
    SAML_RELAY_STATE_NOT_FOUND = "saml_relay_state_not_found"
    SAML_RELAY_STATE_EXPIRED = "saml_relay_state_expired"
    SAML_ASSERTION_NO_USER_ID = "saml_assertion_no_user_id"
    SAML_ASSERTION_NO_EMAIL = "saml_assertion_no_email"
    # Web3 sign-in (spec idp-passkeys-web3.md section 3).
    WEB3_PROVIDER_DISABLED = "web3_provider_disabled"
    WEB3_UNSUPPORTED_CHAIN = "web3_unsupported_chain"
    # Passkeys (spec idp-passkeys-web3.md section 2).
    PASSKEY_DISABLED = "passkey_disabled"
    TOO_MANY_PASSKEYS = "too_many_passkeys"
    WEBAUTHN_CHALLENGE_NOT_FOUND = "webauthn_challenge_not_found"
    WEBAUTHN_CHALLENGE_EXPIRED = "webauthn_challenge_expired"
    WEBAUTHN_VERIFICATION_FAILED = "webauthn_verification_failed"
    WEBAUTHN_CREDENTIAL_EXISTS = "webauthn_credential_exists"


class GoTrueError(Exception):
    """An error with an HTTP status, a GoTrue error code and a message safe to show clients.

    ``cause`` is kept for the log only and never serialised. ``commit_first`` asks the web layer
    to commit the transaction before answering (a reuse detection must stay revoked).
    """

    commit_first = False

    def __init__(self, status: int, error_code: str, message: str, *, cause: object = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.cause = cause
        self.headers = headers or {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.status}, {self.error_code!r}, {self.message!r})"


class WeakPasswordError(GoTrueError):
    """422 weak_password with the reasons the clients show (length, characters, pwned)."""

    def __init__(self, message: str, reasons: list[str]):
        super().__init__(422, ErrorCode.WEAK_PASSWORD, message)
        self.reasons = reasons


class OAuthError(Exception):
    """The OAuth-style body ``{"error", "error_description"}`` (always 400)."""

    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


def bad_request(code: str, message: str, **kw) -> GoTrueError:
    return GoTrueError(400, code, message, **kw)


def unauthorized(code: str, message: str, **kw) -> GoTrueError:
    return GoTrueError(401, code, message, **kw)


def forbidden(code: str, message: str, **kw) -> GoTrueError:
    return GoTrueError(403, code, message, **kw)


def not_found(code: str, message: str, **kw) -> GoTrueError:
    return GoTrueError(404, code, message, **kw)


def conflict(code: str, message: str, **kw) -> GoTrueError:
    return GoTrueError(409, code, message, **kw)


def unprocessable(code: str, message: str, **kw) -> GoTrueError:
    return GoTrueError(422, code, message, **kw)


def too_many_requests(code: str, message: str, retry_after: int | None = None) -> GoTrueError:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return GoTrueError(429, code, message, headers=headers)


def internal(message: str = "Unexpected failure, please check server logs for more information",
             cause: object = None) -> GoTrueError:
    return GoTrueError(500, ErrorCode.UNEXPECTED_FAILURE, message, cause=cause)
