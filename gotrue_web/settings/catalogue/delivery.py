"""Catalogue entries: what the server sends and calls (emails, SMTP, text messages, auth hooks
and the legacy webhook)."""

from __future__ import annotations

from . import DIFFERENT, Variable
from .server import grouped, unprefixed

EMAIL = grouped(
    "Emails",
    Variable("GOTRUE_MAILER_AUTOCONFIRM", "`false`", "Sign-ups are confirmed without an email",
             legacy=(*unprefixed("GOTRUE_MAILER_AUTOCONFIRM"), "AUTOCONFIRM"), origin="seed"),
    Variable("GOTRUE_MAILER_SECURE_EMAIL_CHANGE_ENABLED", "`true`",
             "An email change needs confirmation from both addresses"),
    Variable("GOTRUE_MAILER_OTP_EXP", "`86400`", "Lifetime (seconds) of emailed codes and links",
             legacy=unprefixed("GOTRUE_MAILER_OTP_EXP"), origin="seed"),
    Variable("GOTRUE_MAILER_OTP_LENGTH", "`6`", "Digits of emailed codes"),
    Variable("GOTRUE_MAILER_URLPATHS_<LINK>", "`/verify`",
             "Link path, resolved against `API_EXTERNAL_URL`",
             legacy=("MAILER_URLPATHS_<LINK>",), origin="seed"),
    Variable("GOTRUE_MAILER_SUBJECTS_<TEMPLATE>", "GoTrue's", "Subject of that email "
             "(see [Email](#email))", legacy=("MAILER_SUBJECTS_<TEMPLATE>",), origin="seed"),
    Variable("GOTRUE_MAILER_TEMPLATES_<TEMPLATE>", "built in",
             "URL of that email's HTML template (see [Templates](#templates))",
             legacy=("MAILER_TEMPLATES_<TEMPLATE>",), origin="seed"),
    Variable("GOTRUE_MAILER_NOTIFICATIONS_<NOTIFICATION>_ENABLED", "`false`",
             "Account-change notification emails (see [Notifications](#notifications))"),
    Variable("GOTRUE_MAILER_OUTBOX_DISPATCHER", "`server`",
             "`server`: a dispatcher thread in every server process; `external`: only "
             "`flask outbox run` sends (see [Outbox](#outbox))", origin="gotrue-web"),
    Variable("GOTRUE_MAILER_OUTBOX_POLL_INTERVAL", "`5s`",
             "How often a dispatcher looks for due mail", origin="gotrue-web"),
    Variable("GOTRUE_MAILER_OUTBOX_MAX_ATTEMPTS", "`6`", "Attempts before an email is `failed`",
             origin="gotrue-web"),
    Variable("GOTRUE_MAILER_OUTBOX_RETRY_BACKOFF", "`30s`",
             "Wait after the first failed attempt, doubled after each further one",
             origin="gotrue-web"),
    Variable("GOTRUE_MAILER_OUTBOX_LEASE", "`60s`",
             "How long a claimed email is held before another dispatcher may retry it",
             origin="gotrue-web"),
    Variable("GOTRUE_MAILER_OUTBOX_KEY", "empty",
             "A key of its own for the stored payloads; empty: derived from "
             "`GOTRUE_JWT_SECRET`", origin="gotrue-web"),
)

SMTP = grouped(
    "SMTP",
    Variable("GOTRUE_SMTP_HOST", "empty", "SMTP server; **empty means mail is not sent**",
             legacy=unprefixed("GOTRUE_SMTP_HOST"), origin="seed"),
    Variable("GOTRUE_SMTP_PORT", "`587`", "SMTP port", legacy=unprefixed("GOTRUE_SMTP_PORT"),
             origin="seed"),
    Variable("GOTRUE_SMTP_USER", "empty", "SMTP user name",
             legacy=unprefixed("GOTRUE_SMTP_USER"), origin="seed"),
    Variable("GOTRUE_SMTP_PASS", "empty", "SMTP password",
             legacy=unprefixed("GOTRUE_SMTP_PASS"), origin="seed"),
    Variable("GOTRUE_SMTP_ADMIN_EMAIL", "empty", "From address; required with a host",
             legacy=unprefixed("GOTRUE_SMTP_ADMIN_EMAIL"), origin="seed"),
    Variable("GOTRUE_SMTP_SENDER_NAME", "empty", "From display name",
             legacy=unprefixed("GOTRUE_SMTP_SENDER_NAME"), origin="seed"),
    Variable("GOTRUE_SMTP_MAX_FREQUENCY", "`60s`",
             "Least time between two emails of one flow to one address",
             legacy=unprefixed("GOTRUE_SMTP_MAX_FREQUENCY"), origin="seed"),
    Variable("GOTRUE_SMTP_HEADERS", "empty",
             "Extra headers on every email, a JSON object of names to lists of values "
             '(`{"X-PM-Message-Stream": ["outbound"]}`); `$messageType` in a value becomes the '
             "email's template name (`confirmation`, `recovery`, ...); several values are "
             "joined by commas", status=DIFFERENT,
             note="a header the server sets on every email (From, To, Subject, Date, "
                  "Message-ID, MIME and content headers), a name that is not a header name or "
                  "a value with a line break stops start-up instead of being sent"),
)


def _sms(name: str, default: str, meaning: str, *, seed: bool = False, **details) -> Variable:
    if seed:
        details.update(legacy=unprefixed(name), origin="seed")
    return Variable(name, default, meaning, **details)


SMS = grouped(
    "Text messages",
    _sms("GOTRUE_SMS_PROVIDER", "empty",
         "`twilio`, `twilio_verify`, `messagebird`, `textlocal` or `vonage`", seed=True),
    _sms("GOTRUE_SMS_AUTOCONFIRM", "`false`", "Phone sign-ups are confirmed without a code",
         seed=True),
    _sms("GOTRUE_SMS_MAX_FREQUENCY", "`60s`",
         "Least time between two codes to one number (a Go duration or seconds)", seed=True),
    _sms("GOTRUE_SMS_OTP_EXP", "`60`", "Seconds a texted code lives", seed=True),
    _sms("GOTRUE_SMS_OTP_LENGTH", "`6`", "Digits of a texted code (outside 6–10 means 6)",
         seed=True),
    _sms("GOTRUE_SMS_TEMPLATE", "`Your code is {{ .Code }}`", "The text of a code",
         status=DIFFERENT,
         note="Only the `{{ .Code }}` action; any other stops start-up (GoTrue fails at send)"),
    _sms("GOTRUE_SMS_TEST_OTP", "empty", "`phone:code,…`: numbers that get a fixed code and no "
         "message", status=DIFFERENT,
         note="An empty number or code stops start-up (GoTrue fails at send)"),
    _sms("GOTRUE_SMS_TEST_OTP_VALID_UNTIL", "forever",
         "After this RFC 3339 time the test codes are ignored"),
    _sms("GOTRUE_SMS_TWILIO_ACCOUNT_SID", "empty", "Twilio account", seed=True),
    _sms("GOTRUE_SMS_TWILIO_AUTH_TOKEN", "empty", "Twilio auth token", seed=True),
    _sms("GOTRUE_SMS_TWILIO_MESSAGE_SERVICE_SID", "empty",
         "A messaging service (MG…) or a sender number", seed=True),
    _sms("GOTRUE_SMS_TWILIO_CONTENT_SID", "empty", "A WhatsApp content template (HX…)"),
    _sms("GOTRUE_SMS_TWILIO_URL", "`https://api.twilio.com`", "Another host for Twilio's API",
         origin="gotrue-web"),
    _sms("GOTRUE_SMS_TWILIO_VERIFY_ACCOUNT_SID", "empty", "Twilio Verify account"),
    _sms("GOTRUE_SMS_TWILIO_VERIFY_AUTH_TOKEN", "empty", "Twilio Verify auth token"),
    _sms("GOTRUE_SMS_TWILIO_VERIFY_MESSAGE_SERVICE_SID", "empty", "The Verify service (VA…)"),
    _sms("GOTRUE_SMS_TWILIO_VERIFY_URL", "`https://verify.twilio.com`",
         "Another host for Twilio Verify's API", origin="gotrue-web"),
    _sms("GOTRUE_SMS_MESSAGEBIRD_ACCESS_KEY", "empty", "Messagebird access key", seed=True),
    _sms("GOTRUE_SMS_MESSAGEBIRD_ORIGINATOR", "empty", "Messagebird sender", seed=True),
    _sms("GOTRUE_SMS_MESSAGEBIRD_URL", "`https://rest.messagebird.com`",
         "Another host for Messagebird's API", origin="gotrue-web"),
    _sms("GOTRUE_SMS_TEXTLOCAL_API_KEY", "empty", "Textlocal API key"),
    _sms("GOTRUE_SMS_TEXTLOCAL_SENDER", "empty", "Textlocal sender"),
    _sms("GOTRUE_SMS_TEXTLOCAL_URL", "`https://api.textlocal.in`",
         "Another host for Textlocal's API", origin="gotrue-web"),
    _sms("GOTRUE_SMS_VONAGE_API_KEY", "empty", "Vonage API key"),
    _sms("GOTRUE_SMS_VONAGE_API_SECRET", "empty", "Vonage API secret"),
    _sms("GOTRUE_SMS_VONAGE_FROM", "empty", "Vonage sender"),
    _sms("GOTRUE_SMS_VONAGE_URL", "`https://rest.nexmo.com`", "Another host for Vonage's API",
         origin="gotrue-web"),
)

HOOKS = grouped(
    "Auth hooks and the legacy webhook",
    Variable("GOTRUE_HOOK_<HOOK>_ENABLED", "`false`",
             "Call auth hook `<HOOK>` (see [Auth hooks](#auth-hooks-and-webhooks))"),
    Variable("GOTRUE_HOOK_<HOOK>_URI", "empty",
             "`https://…` (http only on this machine) or `pg-functions://<db>/<schema>/<fn>`"),
    Variable("GOTRUE_HOOK_<HOOK>_SECRETS", "empty",
             "Standard Webhooks secrets `v1,whsec_…`, separated by `|`",
             # GoTrue's example.env spells it so; GoTrue reads only _SECRETS too.
             legacy=("GOTRUE_HOOK_<HOOK>_SECRET",)),
    Variable("GOTRUE_HOOK_DELIVERY_LOG_DAYS", "`7`",
             "Days the console keeps the hook delivery log", origin="gotrue-web"),
    Variable("GOTRUE_WEBHOOK_URL", "empty",
             "The legacy webhook: events POSTed to this URL", aliases=("WEBHOOK_URL",),
             status=DIFFERENT,
             note="GoTrue removed the legacy webhook in 2024; it is still served here",
             origin="seed"),
    Variable("GOTRUE_WEBHOOK_SECRET", "empty", "HS256 key of the `x-webhook-signature` JWT",
             aliases=("WEBHOOK_SECRET",), origin="seed"),
    Variable("GOTRUE_WEBHOOK_RETRIES", "`3`", "Attempts per event",
             aliases=("WEBHOOK_RETRIES",), origin="seed"),
    Variable("GOTRUE_WEBHOOK_TIMEOUT_SEC", "`5`", "Seconds per attempt",
             aliases=("GOTRUE_WEBHOOK_TIMEOUTSEC", "WEBHOOK_TIMEOUT_SEC", "WEBHOOK_TIMEOUTSEC"),
             origin="seed"),
    Variable("GOTRUE_WEBHOOK_EVENTS", "empty",
             "Events sent: `validate`, `signup`, `email_change`, `login`",
             aliases=("WEBHOOK_EVENTS",), origin="seed"),
)

ENTRIES = (*EMAIL, *SMTP, *SMS, *HOOKS)
