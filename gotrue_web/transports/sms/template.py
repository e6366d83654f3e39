"""The SMS text from GOTRUE_SMS_TEMPLATE: GoTrue's Go template reduced to what it offers, the
code as ``{{ .Code }}`` (spaces and ``{{-``/``-}}`` trim markers allowed). Settings refuse any
other template at start-up when a provider is set; the same parser reads it here."""

from __future__ import annotations

from ...settings.sms import template_parts


def render_message(template: str, code: str) -> str:
    """The message ``template`` gives for ``code``; ValueError if it is not a valid template
    (settings validation already refused it when a provider is set)."""
    return "".join(code if part is None else part for part in template_parts(template))
