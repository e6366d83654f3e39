"""Catalogue entries: how users sign in (email, phone, anonymous, OAuth providers, SAML, MFA) and
what protects it (passwords, refresh tokens, captcha, sessions, rate limits)."""

from __future__ import annotations

from . import DIFFERENT, Variable
from .server import grouped, unprefixed

SIGN_IN = grouped(
    "Sign-in methods and OAuth providers",
    Variable("GOTRUE_EXTERNAL_EMAIL_ENABLED", "`true`", "Email sign-up and sign-in",
             origin="seed"),
    Variable("GOTRUE_EXTERNAL_EMAIL_MAGIC_LINK_ENABLED", "`true`",
             "`/otp` and `/magiclink` for email"),
    Variable("GOTRUE_EXTERNAL_EMAIL_AUTHORIZED_ADDRESSES", "empty",
             "When set, mail only goes to these addresses (others: 400 "
             "`email_address_not_authorized`)"),
    Variable("GOTRUE_EXTERNAL_PHONE_ENABLED", "`false`",
             "Phone sign-up and sign-in; see [Phone sign-in and SMS](#phone-sign-in-and-sms)",
             origin="seed"),
    Variable("GOTRUE_EXTERNAL_ANONYMOUS_USERS_ENABLED", "`false`", "Anonymous sign-in"),
    Variable("GOTRUE_EXTERNAL_<P>_ENABLED", "`false`", "Turn OAuth provider `<P>` on",
             legacy=("EXTERNAL_<P>_ENABLED",), origin="seed"),
    Variable("GOTRUE_EXTERNAL_<P>_CLIENT_ID", "empty",
             "The OAuth client id the provider gave you. A comma list: the first is used for "
             "sign-in; all are accepted as the audience of the id_token grant",
             legacy=("EXTERNAL_<P>_CLIENT_ID",), origin="seed"),
    Variable("GOTRUE_EXTERNAL_<P>_SECRET", "empty", "The client secret",
             legacy=("EXTERNAL_<P>_SECRET",), origin="seed"),
    Variable("GOTRUE_EXTERNAL_<P>_REDIRECT_URI", "empty",
             "`<API_EXTERNAL_URL>/callback`: register exactly this at the provider",
             legacy=("EXTERNAL_<P>_REDIRECT_URI",), origin="seed"),
    Variable("GOTRUE_EXTERNAL_<P>_URL", "empty",
             "Another server for the provider's endpoints: a self-hosted GitLab, GitHub "
             "Enterprise, the Keycloak realm (required)", status=DIFFERENT,
             note="Every provider takes it (a proxy, staging, tests): for the others it replaces "
                  "the scheme and host of each endpoint, discovery document and JWKS",
             legacy=("EXTERNAL_<P>_URL",), origin="seed"),
    Variable("GOTRUE_EXTERNAL_<P>_EMAIL_OPTIONAL", "`false`",
             "Accept a provider that gives no email (the account is created without one)"),
    Variable("GOTRUE_EXTERNAL_<P>_SKIP_NONCE_CHECK", "`false`",
             "id_token grant only: do not require the nonce for provider `<P>`"),
    Variable("GOTRUE_EXTERNAL_REDIRECT_URL", "empty",
             "Where every OAuth sign-in ends, overriding the client's `redirect_to`",
             aliases=("GOTRUE_EXTERNAL_REDIRECTURL",), legacy=("REDIRECT_URL",), origin="seed"),
    Variable("GOTRUE_EXTERNAL_FLOW_STATE_EXPIRY_DURATION", "`300s`",
             "How long a started sign-in (its `state`) stays valid; shorter values are raised "
             "to 300s"),
    Variable("GOTRUE_EXTERNAL_ALLOWED_ID_TOKEN_ISSUERS",
             "`https://appleid.apple.com,https://accounts.google.com`",
             "Issuers the id_token grant accepts with the request's own `client_id` when no "
             "configured provider matches"),
    Variable("GOTRUE_EXTERNAL_IOS_BUNDLE_ID", "empty",
             "Your iOS app's bundle id: also an accepted audience of Apple ID tokens"),
    Variable("GOTRUE_EXTERNAL_OIDC_PROVIDER_CACHE_TTL", "`1h`",
             "How long an OIDC provider's discovery document and keys are cached",
             origin="gotrue-web"),
    Variable("GOTRUE_INTERNAL_HTTP_TIMEOUT", "`10s`",
             "Deadline of each call to a provider (OAuth and SMS)"),
    Variable("GOTRUE_MAILER_ALLOW_UNVERIFIED_EMAIL_SIGN_INS", "`false`",
             "Let a provider sign-in with an unverified email get a session instead of 422 "
             "`provider_email_needs_verification`"),
    Variable("GOTRUE_EXPERIMENTAL_PROVIDER_LINKING_DOMAINS", "empty",
             "`github=code,google=g`: providers whose accounts link only among themselves"),
    Variable("GOTRUE_EXPERIMENTAL_PROVIDERS_WITH_OWN_LINKING_DOMAIN", "empty",
             "The older form: each provider listed is a linking domain of its own"),
    Variable("GOTRUE_CUSTOM_OAUTH_ENABLED", "`true`",
             "Custom OAuth/OIDC providers (`/admin/custom-providers`, `provider=custom:<name>`)"),
    Variable("GOTRUE_CUSTOM_OAUTH_MAX_PROVIDERS", "`0`",
             "The most custom providers that may exist (`0` = no limit)"),
    Variable("GOTRUE_CUSTOM_OAUTH_EXTERNAL_URL", "empty",
             "Base of the `redirect_uri` sent to custom providers; empty means "
             "`API_EXTERNAL_URL`"),
)

SAML = grouped(
    "SAML single sign-on",
    Variable("GOTRUE_SAML_ENABLED", "`false`",
             "SAML 2.0 SSO (`/sso`, `/sso/saml/*`, `/admin/sso/providers`)"),
    Variable("GOTRUE_SAML_PRIVATE_KEY", "unset",
             "The service provider's key: base64 DER PKCS#1 RSA, 2048 bits or more"),
    Variable("GOTRUE_SAML_PRIVATE_KEY_NEXT", "unset", "The next key, published in the metadata"),
    Variable("GOTRUE_SAML_ALLOW_ENCRYPTED_ASSERTIONS", "`false`",
             "Accept assertions encrypted to the service provider's key"),
    Variable("GOTRUE_SAML_RELAY_STATE_VALIDITY_PERIOD", "`2m`",
             "How long a started SSO sign-in stays valid"),
    Variable("GOTRUE_SAML_EXTERNAL_URL", "`API_EXTERNAL_URL`",
             "Base of the entity id and the assertion consumer URL"),
    Variable("GOTRUE_SAML_RATE_LIMIT_ASSERTION", "`15`",
             "Assertions per 5 minutes per client at `/sso/saml/acs`"),
    Variable("GOTRUE_RATE_LIMIT_SSO", "`30`", "`POST /sso` per 5 minutes per client"),
)

OAUTH_SERVER = grouped(
    "OAuth 2.1 / OpenID Connect server",
    Variable("GOTRUE_OAUTH_SERVER_ENABLED", "`false`",
             "This server as an authorization server for third-party apps (`/oauth/*`, "
             "`/admin/oauth/clients`)"),
    Variable("GOTRUE_OAUTH_SERVER_ALLOW_DYNAMIC_REGISTRATION", "`false`",
             "Clients may register themselves at `POST /oauth/clients/register`"),
    Variable("GOTRUE_OAUTH_SERVER_AUTHORIZATION_PATH", "empty",
             "The consent page's path on `SITE_URL` (`/oauth/authorize` redirects there)"),
    Variable("GOTRUE_OAUTH_SERVER_AUTHORIZATION_TTL", "`10m`",
             "How long an authorization request, and the code it gives, stays valid"),
    Variable("GOTRUE_OAUTH_SERVER_DEFAULT_SCOPE", "`email`",
             "The scope of a request that names none"),
    Variable("GOTRUE_RATE_LIMIT_OAUTH_DYNAMIC_CLIENT_REGISTER", "`10`",
             "Dynamic client registrations per 5 minutes per client",
             aliases=("GOTRUE_RATE_LIMIT_O_AUTH_DYNAMIC_CLIENT_REGISTER",)),
)

WEB3 = grouped(
    "Web3 sign-in",
    Variable("GOTRUE_EXTERNAL_WEB3_SOLANA_ENABLED", "`false`",
             "Sign in with a Solana wallet (`POST /token?grant_type=web3`, SIWS messages)"),
    Variable("GOTRUE_EXTERNAL_WEB3_SOLANA_MAXIMUM_VALIDITY_DURATION", "`10m`",
             "How far from its `Issued At` a signed Solana message is accepted"),
    Variable("GOTRUE_EXTERNAL_WEB3_ETHEREUM_ENABLED", "`false`",
             "Sign in with an Ethereum wallet (`POST /token?grant_type=web3`, EIP-4361 "
             "messages)"),
    Variable("GOTRUE_EXTERNAL_WEB3_ETHEREUM_MAXIMUM_VALIDITY_DURATION", "`10m`",
             "How far from its `Issued At` a signed Ethereum message is accepted"),
    Variable("GOTRUE_RATE_LIMIT_WEB3", "`30`", "Web3 sign-ins per 5 minutes per client"),
)

PASSKEYS = grouped(
    "Passkeys and WebAuthn",
    Variable("GOTRUE_PASSKEY_ENABLED", "`false`", "Passkey sign-in and the `/passkeys` routes"),
    Variable("GOTRUE_PASSKEY_MAX_PASSKEYS_PER_USER", "`10`", "Passkeys one user may register"),
    Variable("GOTRUE_WEBAUTHN_RP_ID", "empty",
             "The relying party's id (a domain: the site's host or a parent of it)"),
    Variable("GOTRUE_WEBAUTHN_RP_DISPLAY_NAME", "empty", "The relying party's name"),
    Variable("GOTRUE_WEBAUTHN_RP_ORIGINS", "empty",
             "Comma-separated origins a WebAuthn ceremony may come from (exact match)"),
    Variable("GOTRUE_WEBAUTHN_CHALLENGE_EXPIRY_DURATION", "`5m`",
             "How long a passkey challenge lives"),
    Variable("GOTRUE_RATE_LIMIT_PASSKEY", "`30`",
             "Passkey sign-in options per 5 minutes per client"),
)

MFA = grouped(
    "Multi-factor authentication",
    Variable("GOTRUE_MFA_TOTP_ENROLL_ENABLED", "`true`", "TOTP factors can be added"),
    Variable("GOTRUE_MFA_TOTP_VERIFY_ENABLED", "`true`", "TOTP factors can be verified"),
    Variable("GOTRUE_MFA_PHONE_ENROLL_ENABLED", "`false`", "Phone factors can be added"),
    Variable("GOTRUE_MFA_PHONE_VERIFY_ENABLED", "`false`", "Phone factors can be verified"),
    Variable("GOTRUE_MFA_WEB_AUTHN_ENROLL_ENABLED", "`false`",
             "WebAuthn factors can be added (the relying party of `GOTRUE_WEBAUTHN_*`)"),
    Variable("GOTRUE_MFA_WEB_AUTHN_VERIFY_ENABLED", "`false`", "WebAuthn factors can be verified"),
    Variable("GOTRUE_MFA_PHONE_OTP_LENGTH", "`6`",
             "Digits of a texted code (outside 6–10 means 6)"),
    Variable("GOTRUE_MFA_PHONE_MAX_FREQUENCY", "`1m`",
             "Least time between two codes texted to one factor"),
    Variable("GOTRUE_MFA_PHONE_TEMPLATE", "`Your code is {{ .Code }}`", "The text of a code"),
    Variable("GOTRUE_MFA_MAX_ENROLLED_FACTORS", "`10`", "Factors one user may have"),
    Variable("GOTRUE_MFA_MAX_VERIFIED_FACTORS", "`10`", "Verified factors one user may have",
             legacy=("GOTRUE_MAX_VERIFIED_FACTORS",)),
    Variable("GOTRUE_MFA_CHALLENGE_EXPIRY_DURATION", "`300`",
             "Seconds a challenge lives (shorter values are raised to 300)"),
    Variable("GOTRUE_MFA_FACTOR_EXPIRY_DURATION", "`300s`",
             "An enrolment not verified within this is deleted the next time anyone enrols "
             "or by the [database cleanup](#database-cleanup)"),
    Variable("GOTRUE_MFA_MAX_CODE_ATTEMPTS", "`5`",
             "Wrong codes after which a challenge is dead (0 = no limit)", origin="gotrue-web"),
    Variable("GOTRUE_MFA_RATE_LIMIT_CHALLENGE_AND_VERIFY", "`15`",
             "Challenges and verifies per minute per client"),
)

PASSWORDS = grouped(
    "Passwords",
    Variable("GOTRUE_PASSWORD_MIN_LENGTH", "`6`", "Minimum password length (lower values mean 6)",
             status=DIFFERENT, note="Counted in characters, not bytes", origin="seed"),
    Variable("GOTRUE_PASSWORD_REQUIRED_CHARACTERS", "empty",
             "Character sets separated by `:` (`\\:` for a colon), one character of each "
             "required"),
    Variable("GOTRUE_PASSWORD_HIBP_ENABLED", "`false`",
             "Refuse passwords the Pwned Passwords range API has seen in a breach"),
    Variable("GOTRUE_PASSWORD_HIBP_FAIL_CLOSED", "`false`",
             "When the range API cannot be asked: `true` refuses the password"),
    Variable("GOTRUE_PASSWORD_HIBP_USER_AGENT", "`gotrue-web`",
             "The `User-Agent` sent to the range API"),
    Variable("GOTRUE_PASSWORD_HIBP_BLOOM_ENABLED", "`false`",
             "Remember, in each process, the passwords the range API reported (their SHA-1 "
             "in a bloom filter): a remembered one is refused without asking again, also "
             "while the API is down"),
    Variable("GOTRUE_PASSWORD_HIBP_BLOOM_ITEMS", "`100000`",
             "How many the filter holds; full, it starts over empty"),
    Variable("GOTRUE_PASSWORD_HIBP_BLOOM_FALSE_POSITIVES", "`0.0000099`",
             "The filter's false-positive rate: the share of passwords never reported that "
             "it takes for reported ones"),
    Variable("GOTRUE_PASSWORD_HIBP_URL", "`https://api.pwnedpasswords.com`",
             "Where the range API is (a proxy or a mirror)", origin="gotrue-web"),
    Variable("GOTRUE_PASSWORD_HIBP_TIMEOUT", "`5s`", "The longest wait for the range API",
             origin="gotrue-web"),
    Variable("GOTRUE_PASSWORD_COMMON_LIST_ENABLED", "`true`",
             "Refuse the 30,000 most common passwords (a list shipped with the code)",
             origin="gotrue-web"),
)

SECURITY = grouped(
    "Refresh tokens, password changes, captcha and sessions",
    Variable("GOTRUE_SECURITY_REFRESH_TOKEN_ROTATION_ENABLED", "`true`",
             "Revoke the session when an old refresh token is reused", origin="seed"),
    Variable("GOTRUE_SECURITY_REFRESH_TOKEN_REUSE_INTERVAL", "`0`",
             "Seconds a just-rotated token may still be used", origin="seed"),
    Variable("GOTRUE_SECURITY_REFRESH_TOKEN_ALLOW_REUSE", "`false`",
             "Never revoke a session for a reused refresh token"),
    Variable("GOTRUE_SECURITY_REFRESH_TOKEN_ALGORITHM_VERSION", "`0`",
             "Refresh tokens of new sessions: `0` GoTrue's classic tokens (stored hashed), `2` "
             "tokens signed with a key of their session (nothing stored per token)",
             status=DIFFERENT,
             note="Another value stops start-up. A session keeps the kind it began with when "
                  "the setting changes. The session key is stored base64url; a token whose "
                  "counter is ahead of its session's is refused as not found"),
    Variable("GOTRUE_SECURITY_UPDATE_PASSWORD_REQUIRE_REAUTHENTICATION", "`false`",
             "Password changes in sessions older than 24 h need a `/reauthenticate` code",
             legacy=unprefixed("GOTRUE_SECURITY_UPDATE_PASSWORD_REQUIRE_REAUTHENTICATION"),
             origin="seed"),
    Variable("GOTRUE_SECURITY_UPDATE_PASSWORD_REQUIRE_CURRENT_PASSWORD", "`false`",
             "Password changes need `current_password` (not in recovery sessions)"),
    Variable("GOTRUE_SECURITY_DB_ENCRYPTION_ENCRYPT", "`false`",
             "Encrypt secrets as they are stored: TOTP factor secrets and signed refresh "
             "tokens' session keys (AES-256-GCM, GoTrue's `aes-gcm-hkdf` JSON)",
             status=DIFFERENT,
             note="One-time codes are stored as keyed hashes and custom providers' client "
                  "secrets under a key derived from GOTRUE_JWT_SECRET whatever this says; a "
                  "value is not encrypted again under a newer key when it is read (flask --app "
                  "wsgi reencrypt-secrets rewrites them all). The spec "
                  "gives the stored JSON only: the derivation (HKDF-SHA256, the row's id as "
                  "info) is this server's reading of GoTrue, not checked against values "
                  "GoTrue wrote"),
    Variable("GOTRUE_SECURITY_DB_ENCRYPTION_ENCRYPTION_KEY_ID", "empty",
             "The id stored with each value encrypted from now on"),
    Variable("GOTRUE_SECURITY_DB_ENCRYPTION_ENCRYPTION_KEY", "empty",
             "The key new values are encrypted under: 32 bytes in base64url"),
    Variable("GOTRUE_SECURITY_DB_ENCRYPTION_DECRYPTION_KEYS", "empty",
             "`id:key,...`: older keys that still open what they encrypted (the current key "
             "always does)"),
    Variable("GOTRUE_SECURITY_MANUAL_LINKING_ENABLED", "`false`",
             "`GET /user/identities/authorize` and `DELETE /user/identities/{id}`"),
    Variable("GOTRUE_EXPERIMENTAL_CREATE_EMAIL_IDENTITY_ON_PASSWORD_SET_ENABLED", "`false`",
             "A user with an email address but no `email` identity (one who signed up with an "
             "OAuth provider, say) gets one when `PUT /user` sets a password"),
    Variable("GOTRUE_SECURITY_CAPTCHA_ENABLED", "`false`",
             "Require a solved captcha on sign-up, password sign-in, `/otp`, `/magiclink`, "
             "`/recover` and `/resend`",
             legacy=unprefixed("GOTRUE_SECURITY_CAPTCHA_ENABLED"), origin="seed"),
    Variable("GOTRUE_SECURITY_CAPTCHA_PROVIDER", "`hcaptcha`", "`hcaptcha` or `turnstile`",
             status=DIFFERENT, note="Another value stops start-up even while the captcha is off",
             legacy=unprefixed("GOTRUE_SECURITY_CAPTCHA_PROVIDER"), origin="seed"),
    Variable("GOTRUE_SECURITY_CAPTCHA_SECRET", "empty",
             "The provider's secret key; required when the captcha is on",
             legacy=unprefixed("GOTRUE_SECURITY_CAPTCHA_SECRET"), origin="seed"),
    Variable("GOTRUE_SECURITY_CAPTCHA_TIMEOUT", "`10s`", "Longest wait for the provider"),
    Variable("GOTRUE_SECURITY_CAPTCHA_URL", "the provider's",
             "`scheme://host[:port]` replacing the provider's verify endpoint's",
             origin="gotrue-web"),
    Variable("GOTRUE_SESSIONS_TIMEBOX", "unset", "Longest life of a session (a Go duration)"),
    Variable("GOTRUE_SESSIONS_INACTIVITY_TIMEOUT", "unset",
             "A session not refreshed for this long ends"),
    Variable("GOTRUE_SESSIONS_SINGLE_PER_USER", "`false`",
             "Only the most recently refreshed session survives"),
    Variable("GOTRUE_SESSIONS_TAGS", "empty",
             "A comma list: `GOTRUE_SESSIONS_SINGLE_PER_USER` keeps one session per tag "
             "(`sessions.tag`, which the API never sets: a trigger or an operator does; a "
             "session without a listed tag counts under the first)"),
    Variable("GOTRUE_SESSIONS_ALLOW_LOW_AAL", "unset",
             "How long a session of a user with a verified factor may stay at aal1"),
)

RATE_LIMITS = grouped(
    "Rate limits",
    Variable("GOTRUE_RATE_LIMIT_HEADER", "unset",
             "The request header your proxy sets to identify the client", status=DIFFERENT,
             note="Without it clients are counted by address (GoTrue applies no per-client "
                  "limit then)", origin="seed"),
    Variable("GOTRUE_RATE_LIMIT_EMAIL_SENT", "`30`",
             "Emails per hour for the whole server (`N` or `N/duration`)", origin="seed"),
    Variable("GOTRUE_RATE_LIMIT_SMS_SENT", "`30`",
             "Text messages per hour for the whole server", status=DIFFERENT,
             note="Counted in the shared rate-limit storage, and refused while it cannot be read"),
    Variable("GOTRUE_RATE_LIMIT_VERIFY", "`30`", "Requests to `/verify` per 5 minutes per client"),
    Variable("GOTRUE_RATE_LIMIT_TOKEN_REFRESH", "`150`",
             "Requests to `/token` per 5 minutes per client"),
    Variable("GOTRUE_RATE_LIMIT_OTP", "`30`",
             "`/otp`, `/magiclink`, `/recover`, `/resend`, `/signup`, `PUT /user` per 5 minutes "
             "per client"),
    Variable("GOTRUE_RATE_LIMIT_ANONYMOUS_USERS", "`30`",
             "Anonymous sign-ins per hour per client"),
    Variable("GOTRUE_RATE_LIMIT_STORAGE_URL", "a SQLite file every worker shares",
             "Where the counters live: `redis://…` shares them between servers; `memory://` "
             "per process (tests)", origin="gotrue-web"),
    Variable("GOTRUE_RATE_LIMIT_EMAIL_SENT_PER_CLIENT", "`10`",
             "Emails per hour one client can cause (0 = off)", origin="gotrue-web"),
    Variable("GOTRUE_RATE_LIMIT_EMAIL_SENT_PER_ADDRESS", "`5`",
             "Emails per hour one address can receive (0 = off)", origin="gotrue-web"),
    Variable("GOTRUE_RATE_LIMIT_PASSWORD_FAILURES", "`100`",
             "Wrong passwords per account per hour (0 = off)", origin="gotrue-web"),
    Variable("GOTRUE_RATE_LIMIT_PASSWORD_FAILURES_PER_CLIENT", "`10`",
             "Wrong passwords per account from one client per 15 minutes (0 = off)",
             origin="gotrue-web"),
)

ENTRIES = (*SIGN_IN, *SAML, *OAUTH_SERVER, *WEB3, *PASSKEYS, *MFA, *PASSWORDS, *SECURITY,
           *RATE_LIMITS)
