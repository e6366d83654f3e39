"""GOTRUE_SMS_TEMPLATE: the Go template subset (``{{ .Code }}``, spaces, trim markers), and
its refusal at start-up, only when a provider is set."""

from __future__ import annotations

import pytest

from gotrue_web.settings import SettingsError, from_env
from gotrue_web.transports.sms import render_message

REQUIRED = {
    "GOTRUE_SITE_URL": "https://app.example.com",
    "API_EXTERNAL_URL": "https://auth.example.com",
    "GOTRUE_JWT_SECRET": "a-secret-of-at-least-thirty-two-characters",
}


@pytest.mark.parametrize(("template", "text"), [
    ("Your code is {{ .Code }}", "Your code is 123456"),
    ("{{.Code}}", "123456"),
    ("Code:\t{{   .Code\t}} (valid 5 min)", "Code:\t123456 (valid 5 min)"),
    ("Code:  \n {{- .Code }}", "Code:123456"),
    ("{{ .Code -}} \n\t is your code", "123456is your code"),
    ("Code: {{- .Code -}} !", "Code:123456!"),
    ("{{ .Code }} / {{ .Code }}", "123456 / 123456"),
    ("No code at all", "No code at all"),
    ("Braces } and }} stay", "Braces } and }} stay"),
    ("Acme: {{ .Code }}\n@acme.test #123456", "Acme: 123456\n@acme.test #123456"),
    ("", ""),
])
def test_the_code_takes_the_place_of_each_action(template, text):
    assert render_message(template, "123456") == text


@pytest.mark.parametrize("template", [
    "Hello {{ .Phone }}",
    "{{ .Code | printf \"%s\" }}",
    "{{ .Code.Value }}",
    "{{ .code }}",
    "{{-.Code}}",
    "{{ .Code }} and {{",
    "{{ .Code",
    "{{/* a comment */}}",
    "{{ if .Code }}x{{ end }}",
    "{{ print 1 }}",
    "{{}}",
])
def test_anything_else_is_refused(template):
    with pytest.raises(ValueError):
        render_message(template, "123456")


def test_a_bad_template_stops_start_up_when_a_provider_is_set():
    with pytest.raises(SettingsError, match=r"^GOTRUE_SMS_TEMPLATE: unsupported action "
                                            r"'\{\{ \.Phone \}\}'"):
        from_env({**REQUIRED, "GOTRUE_SMS_PROVIDER": "twilio",
                  "GOTRUE_SMS_TEMPLATE": "Hi {{ .Phone }}"}, env_file=None)
    with pytest.raises(SettingsError, match="^GOTRUE_SMS_TEMPLATE: unclosed action"):
        from_env({**REQUIRED, "GOTRUE_SMS_PROVIDER": "vonage",
                  "GOTRUE_SMS_TEMPLATE": "Hi {{ .Code"}, env_file=None)


def test_without_a_provider_the_template_is_not_parsed():
    settings = from_env({**REQUIRED, "GOTRUE_SMS_TEMPLATE": "Hi {{ .Phone }}"}, env_file=None)
    assert settings.sms.template == "Hi {{ .Phone }}"


def test_a_good_template_loads_with_a_provider():
    settings = from_env({**REQUIRED, "GOTRUE_SMS_PROVIDER": "twilio",
                         "GOTRUE_SMS_TEMPLATE": "Acme code: {{- .Code }}"}, env_file=None)
    assert render_message(settings.sms.template, "987654") == "Acme code:987654"
