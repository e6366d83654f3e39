"""What the mail log may keep of an email: its text with the live secrets taken out.

Every operator reads the mail log, and it outlives the links it lists. An entry that held a
working link or code would hand the account to whoever reads it while the link lives (found: the
default reauthentication subject, "{{ .Token }} is your verification code", put every live
reauthentication code on the console's mail log page). So the text stored for an email (its
subject, and any body kept later) has each secret replaced by a placeholder, while the email
itself goes out unchanged.

The secrets are the template variables of the email: the code (Token), the link's token
(TokenHash, and the token in ConfirmationURL's query) and the link (ConfirmationURL). A URL
that carries a token becomes LINK_HIDDEN whatever its form (a template can build its own link
from TokenHash), a bare token TOKEN_HIDDEN and a code CODE_HIDDEN. Secrets are matched as the
template printed them: plain, HTML-escaped or percent-encoded.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from urllib.parse import parse_qs, quote, quote_plus, urlsplit

CODE_HIDDEN = "[code hidden]"
TOKEN_HIDDEN = "[token hidden]"
LINK_HIDDEN = "[link hidden]"

# Anything with a scheme up to the first space, quote or angle bracket (text or an HTML href).
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s\"'<>]+")


def _forms(value: str) -> set[str]:
    """``value`` as a template or a link may print it."""
    forms = {value, html.escape(value), quote(value, safe=""), quote_plus(value, safe="")}
    return {form for form in forms if form}


def _link_tokens(link: str) -> set[str]:
    try:
        query = urlsplit(link).query
    except ValueError:
        return set()
    return set(parse_qs(query).get("token", []))


def _replace(text: str, values: set[str], placeholder: str) -> str:
    # Longest first, so that a value inside another is not replaced piecemeal.
    for value in sorted(values, key=len, reverse=True):
        text = re.sub(re.escape(value), placeholder, text, flags=re.IGNORECASE)
    return text


def redact(text: str, variables: Mapping) -> str:
    """``text`` (a rendered subject or body) without the secrets of ``variables`` (the
    template variables the email was rendered with)."""
    if not text:
        return text
    link = str(variables.get("ConfirmationURL") or "")
    code = str(variables.get("Token") or "")
    tokens = {str(variables.get("TokenHash") or "")} | _link_tokens(link)
    token_forms = set().union(*(_forms(token) for token in tokens if token))
    link_forms = _forms(link) if link else set()

    def hide_link(match: re.Match) -> str:
        url = match.group(0).lower()
        secret = any(form.lower() in url for form in token_forms | link_forms)
        return LINK_HIDDEN if secret else match.group(0)

    text = _URL.sub(hide_link, text)
    text = _replace(text, link_forms, LINK_HIDDEN)
    text = _replace(text, token_forms, TOKEN_HIDDEN)
    if code:
        text = text.replace(code, CODE_HIDDEN)
    return text
