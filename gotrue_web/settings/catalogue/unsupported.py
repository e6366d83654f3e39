"""Catalogue entries: GoTrue variables this server does not honour, each with why and what to
use instead; and the words of the seed README that look like variables but are not."""

from __future__ import annotations

from . import NOT_SUPPORTED, Variable
from .server import grouped

NOT_YET = "not yet implemented in gotrue-web"


def _missing(name: str, meaning: str, note: str = NOT_YET, **details) -> Variable:
    return Variable(name, "–", meaning, status=NOT_SUPPORTED, note=note, **details)


def _feature(note: str, *names_and_meanings: tuple[str, str]) -> tuple[Variable, ...]:
    return tuple(_missing(name, meaning, note) for name, meaning in names_and_meanings)


OLD_SAML = _feature(
    "GoTrue's old SAML-as-a-provider settings, read by current GoTrue neither: set "
    "GOTRUE_SAML_ENABLED and GOTRUE_SAML_PRIVATE_KEY, and register each identity provider with "
    "POST /admin/sso/providers",
    ("GOTRUE_EXTERNAL_SAML_ENABLED", "SAML sign-in (old form)"),
    ("GOTRUE_EXTERNAL_SAML_API_BASE", "The SAML service's base URL (old form)"),
    ("GOTRUE_EXTERNAL_SAML_METADATA_URL", "The identity provider's metadata (old form)"),
    ("GOTRUE_EXTERNAL_SAML_NAME", "The provider's name (old form)"),
    ("GOTRUE_EXTERNAL_SAML_SIGNING_CERT", "The service provider's certificate (old form)"),
    ("GOTRUE_EXTERNAL_SAML_SIGNING_KEY", "The service provider's key (old form)"),
)
OLD_SMS_HOOK = _feature(
    "The send_sms hook's old name: set GOTRUE_HOOK_SEND_SMS_ENABLED, _URI and _SECRETS",
    ("GOTRUE_HOOK_CUSTOM_SMS_PROVIDER_ENABLED", "Call the SMS hook (old name)"),
    ("GOTRUE_HOOK_CUSTOM_SMS_PROVIDER_URI", "The SMS hook's URI (old name)"),
    ("GOTRUE_HOOK_CUSTOM_SMS_PROVIDER_SECRET", "The SMS hook's secret (old name)"),
)

OTHERS = (
    _missing("GOTRUE_API_ENDPOINT", "The seed's API endpoint of an instance",
             "The seed's multi-instance setting: this server's public URL is API_EXTERNAL_URL",
             aliases=("API_ENDPOINT",), origin="seed"),
    _missing("GOTRUE_OPERATOR_TOKEN", "The seed's token for the multi-instance API",
             "The multi-instance API (/instances) is not implemented: run one server per "
             "instance; operators sign in to the console with their own accounts "
             "(flask --app wsgi operators create)", aliases=("OPERATOR_TOKEN",), origin="seed"),
    _missing("GOTRUE_SESSION_KEY", "An old cookie-session key",
             "Read by current GoTrue neither; the console's cookie key derives from "
             "GOTRUE_JWT_SECRET"),
)

# Words of the seed README that the list of its variables picked up: they name nothing, and
# other programs use them, so they are never a start-up warning.
WORDS = tuple(
    Variable(word, "–", meaning, status=NOT_SUPPORTED, origin="seed", checked=False,
             note="Not a setting: a word of the seed README's text; nothing reads it")
    for word, meaning in (("HEAD", "The HTTP method"), ("JSON", "The format"),
                          ("TOKEN", "A token in the text")))

ENTRIES = grouped(
    "Not supported",
    *OLD_SAML, *OLD_SMS_HOOK,
    *OTHERS, *WORDS,
)
