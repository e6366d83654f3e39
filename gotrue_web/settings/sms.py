"""SMS: the provider and its credentials, autoconfirm, the codes' lifetime, length, spacing and
text, and the test numbers (GOTRUE_SMS_TEST_OTP) that get a fixed code and no message.

Credentials are read as GoTrue names them and checked when a message is sent, not at start-up
(as GoTrue does): a missing one makes each send fail with "Unable to get SMS provider".
GOTRUE_SMS_<PROVIDER>_URL replaces the scheme and host of that provider's API (regional
endpoints, proxies, tests); the API paths stay the provider's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from .env import EnvReader, SettingsError, check_url, otp_length

DEFAULT_TEMPLATE = "Your code is {{ .Code }}"
PROVIDERS = ("twilio", "twilio_verify", "messagebird", "textlocal", "vonage")


@dataclass(frozen=True)
class TwilioSettings:
    account_sid: str = ""
    auth_token: str = field(default="", repr=False)
    # An MG... messaging service SID or a sender number.
    message_service_sid: str = ""
    # A WhatsApp content template (HX...); with it WhatsApp messages carry no Body.
    content_sid: str = ""
    url: str = "https://api.twilio.com"


@dataclass(frozen=True)
class TwilioVerifySettings:
    account_sid: str = ""
    auth_token: str = field(default="", repr=False)
    # The Verify service (VA...).
    message_service_sid: str = ""
    url: str = "https://verify.twilio.com"


@dataclass(frozen=True)
class MessagebirdSettings:
    access_key: str = field(default="", repr=False)
    originator: str = ""
    url: str = "https://rest.messagebird.com"


@dataclass(frozen=True)
class TextlocalSettings:
    api_key: str = field(default="", repr=False)
    sender: str = ""
    url: str = "https://api.textlocal.in"


@dataclass(frozen=True)
class VonageSettings:
    api_key: str = ""
    api_secret: str = field(default="", repr=False)
    from_: str = ""
    url: str = "https://rest.nexmo.com"


@dataclass(frozen=True)
class SMSSettings:
    provider: str = ""
    autoconfirm: bool = False
    max_frequency: timedelta = timedelta(seconds=60)
    otp_exp: int = 60
    otp_length: int = 6
    template: str = DEFAULT_TEMPLATE
    # Normalised phone digits -> the code that number always gets (nothing is sent).
    test_otp: dict[str, str] = field(default_factory=dict)
    # After this instant the test codes are ignored; None = forever.
    test_otp_valid_until: datetime | None = None
    twilio: TwilioSettings = field(default_factory=TwilioSettings)
    twilio_verify: TwilioVerifySettings = field(default_factory=TwilioVerifySettings)
    messagebird: MessagebirdSettings = field(default_factory=MessagebirdSettings)
    textlocal: TextlocalSettings = field(default_factory=TextlocalSettings)
    vonage: VonageSettings = field(default_factory=VonageSettings)

    def test_code(self, phone: str, now: datetime) -> str | None:
        """The test code for the normalised ``phone``, or None (none set, or expired).
        A naive ``now`` is taken as UTC."""
        if now.tzinfo is None:
            now = now.replace(tzinfo=timezone.utc)
        if self.test_otp_valid_until is not None and now > self.test_otp_valid_until:
            return None
        return self.test_otp.get(phone)


def read(env: EnvReader) -> SMSSettings:
    return SMSSettings(
        provider=env.str("SMS_PROVIDER"),
        autoconfirm=env.bool("SMS_AUTOCONFIRM", False),
        # A Go duration or, as older READMEs say, bare seconds (both accepted).
        max_frequency=env.duration("SMS_MAX_FREQUENCY", timedelta(seconds=60),
                                   zero_is_default=True),
        otp_exp=env.int("SMS_OTP_EXP", 60, minimum=1, zero_is_default=True),
        otp_length=otp_length(env.int("SMS_OTP_LENGTH", 6)),
        template=env.str("SMS_TEMPLATE", DEFAULT_TEMPLATE),
        test_otp=_test_otp(env),
        test_otp_valid_until=_valid_until(env),
        twilio=TwilioSettings(
            account_sid=env.str("SMS_TWILIO_ACCOUNT_SID"),
            auth_token=env.str("SMS_TWILIO_AUTH_TOKEN"),
            message_service_sid=env.str("SMS_TWILIO_MESSAGE_SERVICE_SID"),
            content_sid=env.str("SMS_TWILIO_CONTENT_SID"),
            url=_url(env, "SMS_TWILIO_URL", TwilioSettings.url),
        ),
        twilio_verify=TwilioVerifySettings(
            account_sid=env.str("SMS_TWILIO_VERIFY_ACCOUNT_SID"),
            auth_token=env.str("SMS_TWILIO_VERIFY_AUTH_TOKEN"),
            message_service_sid=env.str("SMS_TWILIO_VERIFY_MESSAGE_SERVICE_SID"),
            url=_url(env, "SMS_TWILIO_VERIFY_URL", TwilioVerifySettings.url),
        ),
        messagebird=MessagebirdSettings(
            access_key=env.str("SMS_MESSAGEBIRD_ACCESS_KEY"),
            originator=env.str("SMS_MESSAGEBIRD_ORIGINATOR"),
            url=_url(env, "SMS_MESSAGEBIRD_URL", MessagebirdSettings.url),
        ),
        textlocal=TextlocalSettings(
            api_key=env.str("SMS_TEXTLOCAL_API_KEY"),
            sender=env.str("SMS_TEXTLOCAL_SENDER"),
            url=_url(env, "SMS_TEXTLOCAL_URL", TextlocalSettings.url),
        ),
        vonage=VonageSettings(
            api_key=env.str("SMS_VONAGE_API_KEY"),
            api_secret=env.str("SMS_VONAGE_API_SECRET"),
            from_=env.str("SMS_VONAGE_FROM"),
            url=_url(env, "SMS_VONAGE_URL", VonageSettings.url),
        ),
    )


def check(sms: SMSSettings) -> None:
    """GoTrue parses the template only when a provider is set; a bad one stops start-up."""
    if sms.provider:
        try:
            template_parts(sms.template)
        except ValueError as exc:
            raise SettingsError(f"GOTRUE_SMS_TEMPLATE: {exc}") from None


def _url(env: EnvReader, name: str, default: str) -> str:
    value = env.str(name)
    if not value:
        return default
    check_url("GOTRUE_" + name, value, http_only=True)
    return value.rstrip("/")


def normalize_test_phone(raw: str) -> str:
    """GoTrue's normalisation of a number: one leading '+' and every ASCII space go."""
    return raw.removeprefix("+").replace(" ", "")


def _test_otp(env: EnvReader) -> dict[str, str]:
    found = env.raw("SMS_TEST_OTP")
    if not found:
        return {}
    key, value = found
    codes: dict[str, str] = {}
    for item in value.strip().split(","):
        phone, colon, code = item.partition(":")
        if not colon:
            raise SettingsError(f"{key}: expected phone:code pairs separated by commas, "
                                f"got the item {item.strip()!r}")
        phone = normalize_test_phone(phone.strip())
        if not phone or not code:
            raise SettingsError(f"{key}: the item {item.strip()!r} needs a phone number and a "
                                "code")
        codes[phone] = code
    return codes


def _valid_until(env: EnvReader) -> datetime | None:
    found = env.raw("SMS_TEST_OTP_VALID_UNTIL")
    if not found:
        return None
    key, value = found
    text = value.strip()
    # RFC 3339: a date, "T", a time and an offset (Z or ±hh:mm).
    if not re.fullmatch(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)", text):
        raise SettingsError(f"{key}: expected an RFC 3339 time such as "
                            f"2030-01-31T23:59:59Z, got {value!r}")
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z").replace("t", "T"))
    except ValueError:
        raise SettingsError(f"{key}: not a valid time: {value!r}") from None
    return moment.astimezone(timezone.utc)


# One action of the SMS template: "{{", an optional "-" trim marker followed by white space,
# ".Code" between optional white space, an optional trim marker after white space, "}}".
_SPACE = " \t\r\n"
_ACTION = re.compile(r"\{\{(-[ \t\r\n])?[ \t\r\n]*\.Code[ \t\r\n]*([ \t\r\n]-)?\}\}")


def template_parts(template: str) -> list[str | None]:
    """The template as text pieces, with None where the code goes; ValueError for anything
    but GoTrue's ``{{ .Code }}`` (optional spaces and ``{{-``/``-}}`` trim markers)."""
    parts: list[str | None] = []
    position, trim_next = 0, False
    while True:
        start = template.find("{{", position)
        text = template[position:] if start < 0 else template[position:start]
        if trim_next:
            text = text.lstrip(_SPACE)
        if start < 0:
            parts.append(text)
            return [part for part in parts if part != ""]
        end = template.find("}}", start + 2)
        if end < 0:
            raise ValueError(f"unclosed action at character {start + 1}")
        action = _ACTION.fullmatch(template, start, end + 2)
        if action is None:
            raise ValueError(f"unsupported action {template[start:end + 2]!r}: only "
                             "{{ .Code }} is available")
        parts.append(text.rstrip(_SPACE) if action.group(1) else text)
        parts.append(None)
        trim_next = bool(action.group(2))
        position = end + 2
