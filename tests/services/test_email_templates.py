"""Email templates: GoTrue's Go-template syntax renders unchanged, values are escaped, and the
sandbox keeps operator-written templates away from Python internals."""

from __future__ import annotations

import pytest

from gotrue_web.services.mail.templates import (
    AUTH_KINDS,
    DEFAULT_BODIES,
    TemplateSyntaxProblem,
    render,
    translate,
)
from gotrue_web.settings import DEFAULT_SUBJECTS

VARIABLES = {
    "SiteURL": "https://app.example.com",
    "ConfirmationURL": "https://auth.example.com/verify?token=abc&type=signup"
                       "&redirect_to=https://app.example.com",
    "Email": "ada@example.com",
    "NewEmail": "ada.new@example.com",
    "Token": "123456",
    "TokenHash": "0f1e2d3c",
    "Data": {"name": "Ada", "locale": "fr", "plan": "pro"},
    "RedirectTo": "https://app.example.com/welcome",
}


def body(source: str, **overrides) -> str:
    return render("confirmation", {**VARIABLES, **overrides}, body=source).html


def test_gotrue_variables_render():
    source = ("{{ .SiteURL }}|{{ .Email }}|{{ .NewEmail }}|{{ .Token }}|{{ .TokenHash }}|"
              "{{ .Data.name }}|{{ .RedirectTo }}")
    assert body(source) == ("https://app.example.com|ada@example.com|ada.new@example.com|"
                            "123456|0f1e2d3c|Ada|https://app.example.com/welcome")


def test_confirmation_url_in_an_href_is_html_escaped_once():
    html = body('<a href="{{ .ConfirmationURL }}">Confirm</a>')
    assert html == ('<a href="https://auth.example.com/verify?token=abc&amp;type=signup'
                    '&amp;redirect_to=https://app.example.com">Confirm</a>')


def test_spacing_inside_actions_does_not_matter():
    assert body("{{.Token}}-{{ .Token }}-{{   .Token   }}") == "123456-123456-123456"


def test_gotrue_supabase_default_confirmation_template():
    # The shape of Supabase's stock "Confirm signup" template.
    source = ("<h2>Confirm your signup</h2>\n\n<p>Follow this link to confirm your user:</p>\n"
              '<p><a href="{{ .ConfirmationURL }}">Confirm your mail</a></p>')
    html = body(source)
    assert html.startswith("<h2>Confirm your signup</h2>\n\n<p>Follow this link")
    assert 'href="https://auth.example.com/verify?token=abc&amp;type=signup' in html


@pytest.mark.parametrize(("token", "expected"), [("123456", "code 123456"), ("", "link only")])
def test_if_else_end(token, expected):
    source = "{{ if .Token }}code {{ .Token }}{{ else }}link only{{ end }}"
    assert body(source, Token=token) == expected


@pytest.mark.parametrize(("locale", "expected"), [
    ("fr", "Bonjour Ada"), ("de", "Hallo Ada"), ("en", "Hello Ada"), (None, "Hello Ada"),
])
def test_if_eq_with_else_if(locale, expected):
    source = ('{{ if eq .Data.locale "fr" }}Bonjour{{ else if eq .Data.locale "de" }}Hallo'
              "{{ else }}Hello{{ end }} {{ .Data.name }}")
    data = {"name": "Ada"} if locale is None else {"name": "Ada", "locale": locale}
    assert body(source, Data=data) == expected


def test_other_comparisons_and_logic():
    source = ('{{ if ne .Data.plan "free" }}paid{{ end }}|'
              '{{ if and (eq .Data.locale "fr") .Token }}fr+code{{ end }}|'
              '{{ if or .Data.missing .Token }}either{{ end }}|'
              '{{ if not .Data.missing }}absent{{ end }}|'
              '{{ if eq .Data.plan "team" "pro" }}team-or-pro{{ end }}|'
              '{{ index .Data "name" }}|{{ len .Token }}')
    assert body(source) == "paid|fr+code|either|absent|team-or-pro|Ada|6"


def test_trim_markers_remove_surrounding_whitespace():
    source = "<p>\n    {{- .Token -}}\n</p> [ {{- .Email }} ] [{{ .Email -}} ]"
    assert body(source) == "<p>123456</p> [ada@example.com ] [ada@example.com]"


def test_go_comments_render_nothing():
    assert body("a{{/* a note for editors */}}b{{- /* trimmed */ -}} c") == "abc"


def test_missing_values_render_empty():
    assert body("[{{ .Data.nickname }}][{{ .Data.address.city }}]") == "[][]"


def test_plain_jinja_still_works():
    assert body("{{ Email }} {% if Token %}{{ Token }}{% endif %}") == "ada@example.com 123456"


# --- escaping ---------------------------------------------------------------------------------


def test_values_are_html_escaped_in_bodies():
    html = body("<p>Hi {{ .Data.name }}</p><p>{{ .Email }}</p>",
                Data={"name": '<script>alert("x")</script>'}, Email="a&b@example.com")
    assert html == ("<p>Hi &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;</p>"
                    "<p>a&amp;b@example.com</p>")


def test_subjects_render_without_escaping():
    rendered = render("confirmation", {**VARIABLES, "Data": {"name": "Tom & <Jerry>"}},
                      subject="Welcome {{ .Data.name }} - {{ .Token }}")
    assert rendered.subject == "Welcome Tom & <Jerry> - 123456"


def test_subjects_stay_on_one_line():
    rendered = render("confirmation", {**VARIABLES, "Data": {"name": "Ada\r\nBcc: x@evil.test"}},
                      subject="Hello {{ .Data.name }}")
    assert rendered.subject == "Hello Ada Bcc: x@evil.test"
    assert "\n" not in rendered.subject and "\r" not in rendered.subject


def test_default_reauthentication_subject_carries_the_code():
    assert render("reauthentication", VARIABLES).subject == "123456 is your verification code"


@pytest.mark.parametrize("kind", AUTH_KINDS)
def test_built_in_templates_render(kind):
    rendered = render(kind, VARIABLES)
    assert rendered.subject == render(kind, VARIABLES, subject=DEFAULT_SUBJECTS[kind]).subject
    assert "123456" in rendered.html
    assert kind in DEFAULT_BODIES
    if kind != "reauthentication":
        assert "https://auth.example.com/verify?token=abc&amp;type=signup" in rendered.html


# --- the sandbox ------------------------------------------------------------------------------


@pytest.mark.parametrize("source", [
    "{{ .Data.__class__ }}",
    "{{ .Data.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__ }}",
    "{{ Data.__class__.__init__.__globals__ }}",
    "{{ Email.__class__.__base__.__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ self._TemplateReference__context }}",
    "{{ Data.update(name='x') }}",
    "{{ Data.pop('name') }}",
])
def test_sandbox_refuses_internals(source):
    with pytest.raises(TemplateSyntaxProblem, match="unsafe|not safely"):
        body(source)


def test_str_format_cannot_reach_internals():
    with pytest.raises(TemplateSyntaxProblem):
        body("{{ '{0.__class__.__mro__}'.format(Email) }}")


@pytest.mark.parametrize("source", ["{{ 'x' * 10000000 }}", "{{ 2 ** 1000000000 }}",
                                    "{{ Email * 100000 }}"])
def test_huge_values_are_refused(source):
    with pytest.raises(TemplateSyntaxProblem):
        body(source)


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("source", "message"), [
    ("{{ if .Token }}code", "{{ if }} without a matching {{ end }}"),
    ("code{{ end }}", "{{ end }} without a matching {{ if }}"),
    ("{{ if .Token }}a{{ end }}{{ end }}", "{{ end }} without a matching {{ if }}"),
    ("{{ else }}x", "{{ else }} without a matching {{ if }}"),
    ("{{ range .Data }}{{ end }}", "{{ range }} is not supported"),
    ("{{ .Token | printf \"%s\" }}", "pipes are not supported"),
    ("{{ if eq .Data.locale }}x{{ end }}", "unsupported expression"),
    ("{{ if (eq .A .B }}x{{ end }}", "unbalanced parentheses"),
    ("{{/* never closed }}", "unterminated comment"),
    ("{{ .Token $x }}", "unsupported operand"),
])
def test_clear_errors(source, message):
    with pytest.raises(TemplateSyntaxProblem) as raised:
        body(source)
    assert message in str(raised.value)


def test_jinja_syntax_errors_are_template_problems_with_a_line():
    with pytest.raises(TemplateSyntaxProblem, match=r"line 2"):
        body("ok\n{% if Token %}never closed")


def test_runtime_failures_are_template_problems():
    with pytest.raises(TemplateSyntaxProblem):
        body("{{ if lt .Data.name 5 }}x{{ end }}")


def test_subject_errors_are_reported_too():
    with pytest.raises(TemplateSyntaxProblem):
        render("confirmation", VARIABLES, subject="{{ if .Token }}no end")


def test_translate_leaves_text_alone():
    text = "<style>p { color: red }</style> {single} braces"
    assert translate(text) == text
    assert body(text) == text
