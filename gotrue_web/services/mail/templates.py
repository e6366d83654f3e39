"""Email templates: built-in defaults and sandboxed rendering of GoTrue-style templates.

Templates written for GoTrue use Go's template syntax (``{{ .ConfirmationURL }}``,
``{{ if .Token }} ... {{ else }} ... {{ end }}``, ``eq``/``ne``/``and``/``or``/``not``/``index``/
``len``, ``{{- -}}`` trimming and ``{{/* */}}`` comments). They are translated to Jinja and rendered
in Jinja's immutable sandbox, so an operator-edited template cannot reach Python internals or
change the data; values are HTML-escaped in bodies, not in subjects. Plain Jinja
(``{{ ConfirmationURL }}``) works as well. Any failure surfaces as TemplateSyntaxProblem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from jinja2 import ChainableUndefined, TemplateError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ...settings import DEFAULT_SUBJECTS
from ...settings.mailer import NOTIFICATION_KINDS

# The emails that carry a link or code, then the account-change notifications.
AUTH_KINDS = ("confirmation", "invite", "magic_link", "recovery", "email_change",
              "reauthentication")
KINDS = (*AUTH_KINDS, *NOTIFICATION_KINDS)

_IF_NOT_YOU = ("<p>If you did not make this change, reset your password and contact us "
               "right away: someone else may have access to your account.</p>\n")

DEFAULT_BODIES = {
    "confirmation": (
        "<h2>Confirm your email address</h2>\n"
        "<p>Open this link to confirm the address {{ .Email }}:</p>\n"
        '<p><a href="{{ .ConfirmationURL }}">Confirm my email address</a></p>\n'
        "<p>Or enter this code: {{ .Token }}</p>\n"
    ),
    "invite": (
        "<h2>You have been invited</h2>\n"
        "<p>You were invited to create an account on {{ .SiteURL }}. "
        "Open this link to accept:</p>\n"
        '<p><a href="{{ .ConfirmationURL }}">Accept the invitation</a></p>\n'
        "<p>Or enter this code: {{ .Token }}</p>\n"
    ),
    "magic_link": (
        "<h2>Your sign-in link</h2>\n"
        "<p>Open this link to sign in:</p>\n"
        '<p><a href="{{ .ConfirmationURL }}">Sign in</a></p>\n'
        "<p>Or enter this code: {{ .Token }}</p>\n"
    ),
    "recovery": (
        "<h2>Reset your password</h2>\n"
        "<p>Open this link to choose a new password:</p>\n"
        '<p><a href="{{ .ConfirmationURL }}">Reset my password</a></p>\n'
        "<p>Or enter this code: {{ .Token }}</p>\n"
    ),
    "email_change": (
        "<h2>Confirm your new email address</h2>\n"
        "<p>Open this link to change your email from {{ .Email }} to {{ .NewEmail }}:</p>\n"
        '<p><a href="{{ .ConfirmationURL }}">Change my email address</a></p>\n'
        "<p>Or enter this code: {{ .Token }}</p>\n"
    ),
    "reauthentication": (
        "<h2>Confirm it is you</h2>\n"
        "<p>Enter this code to continue: {{ .Token }}</p>\n"
    ),
    "password_changed": (
        "<h2>Your password was changed</h2>\n"
        "<p>The password of your account {{ .Email }} was just changed.</p>\n" + _IF_NOT_YOU
    ),
    "email_changed": (
        "<h2>Your email address was changed</h2>\n"
        "<p>The email address of your account was changed from {{ .OldEmail }} to "
        "{{ .Email }}.</p>\n" + _IF_NOT_YOU
    ),
    "phone_changed": (
        "<h2>Your phone number was changed</h2>\n"
        "<p>The phone number of your account {{ .Email }} was changed "
        "{{ if .OldPhone }}from {{ .OldPhone }} {{ end }}to {{ .Phone }}.</p>\n" + _IF_NOT_YOU
    ),
    "identity_linked": (
        "<h2>A new sign-in method was linked</h2>\n"
        "<p>You can now sign in to your account {{ .Email }} with {{ .Provider }}.</p>\n"
        + _IF_NOT_YOU
    ),
    "identity_unlinked": (
        "<h2>A sign-in method was removed</h2>\n"
        "<p>{{ .Provider }} can no longer be used to sign in to your account.</p>\n"
        + _IF_NOT_YOU
    ),
    "mfa_factor_enrolled": (
        "<h2>A new verification method was added</h2>\n"
        "<p>A {{ .FactorType }} verification method was added to your account {{ .Email }}. "
        "It is now asked for when you sign in.</p>\n" + _IF_NOT_YOU
    ),
    "mfa_factor_unenrolled": (
        "<h2>A verification method was removed</h2>\n"
        "<p>A {{ .FactorType }} verification method was removed from your account "
        "{{ .Email }}.</p>\n" + _IF_NOT_YOU
    ),
}

# Values used to prove a template renders and to preview it.
SAMPLE_VARIABLES = {
    "SiteURL": "https://app.example.com",
    "ConfirmationURL": "https://auth.example.com/verify?token=pkce_0123abcd&type=signup"
                       "&redirect_to=https://app.example.com",
    "Email": "ada@example.com",
    "NewEmail": "ada.lovelace@example.com",
    "SendingTo": "ada@example.com",
    "Token": "123456",
    "TokenHash": "0123456789abcdef0123456789abcdef0123456789abcdef01234567",
    "Data": {"full_name": "Ada Lovelace", "locale": "en"},
    "RedirectTo": "https://app.example.com/welcome",
    # The notifications' own values.
    "OldEmail": "ada@example.org",
    "Phone": "15550001111",
    "OldPhone": "15550002222",
    "Provider": "github",
    "FactorType": "totp",
}

# A Go action: "{{ body }}", with "{{- " / " -}}" trimming the whitespace around it.
_ACTION = re.compile(r"\{\{(?:(-)\s+|\s*)(.*?)(?:\s+(-)|\s*)\}\}", re.S)
_FIELD = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)")
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|`[^`]*`|\(|\)|[^\s()]+')
_COMPARISONS = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_FUNCTIONS = {*_COMPARISONS, "and", "or", "not", "index", "len"}
_KEYWORDS = re.compile(r"(if|else|end|range|with|define|template|block)\b")
# Limits for the few Jinja operators that could build huge values from a short template.
_MAX_REPEAT = 100_000
_MAX_EXPONENT = 100


class TemplateSyntaxProblem(ValueError):
    """The template cannot be translated or rendered; the message says where."""


class _Expression:
    """Translates one Go pipeline of fields, literals and function calls into Jinja."""

    def __init__(self, go: str):
        self.source = go
        self.tokens = _TOKEN.findall(go)
        self.position = 0

    def translate(self) -> str:
        if not self.tokens:
            raise TemplateSyntaxProblem("empty action {{ }}")
        result = self._command(top=True)
        if self.position != len(self.tokens):
            raise self._unsupported()
        return result

    def _unsupported(self) -> TemplateSyntaxProblem:
        return TemplateSyntaxProblem(f"unsupported expression {{{{ {self.source} }}}}")

    def _command(self, top: bool = False) -> str:
        words: list[str] = []
        while self.position < len(self.tokens) and self.tokens[self.position] != ")":
            if self.tokens[self.position] == "|":
                raise TemplateSyntaxProblem(
                    f"pipes are not supported in {{{{ {self.source} }}}}")
            words.append(self._operand_or_function(first=not words))
        if not words:
            raise self._unsupported()
        head, args = words[0], words[1:]
        if head.startswith("fn:"):
            return self._call(head[3:], args)
        if args:
            raise self._unsupported()
        return head

    def _call(self, name: str, args: list[str]) -> str:
        if name in _COMPARISONS and len(args) >= 2:
            if name == "eq" and len(args) > 2:
                # Go: eq a b c is true when a equals b or c.
                return "(" + " or ".join(f"{args[0]} == {other}" for other in args[1:]) + ")"
            if len(args) == 2:
                return f"({args[0]} {_COMPARISONS[name]} {args[1]})"
        if name in ("and", "or") and len(args) >= 2:
            return "(" + f" {name} ".join(args) + ")"
        if name == "not" and len(args) == 1:
            return f"(not {args[0]})"
        if name == "len" and len(args) == 1:
            return f"({args[0]} | length)"
        if name == "index" and len(args) >= 2:
            return args[0] + "".join(f"[{key}]" for key in args[1:])
        raise self._unsupported()

    def _operand_or_function(self, first: bool) -> str:
        token = self.tokens[self.position]
        self.position += 1
        if token == "(":
            inner = self._command()
            if self.position >= len(self.tokens) or self.tokens[self.position] != ")":
                raise TemplateSyntaxProblem(f"unbalanced parentheses in {{{{ {self.source} }}}}")
            self.position += 1
            return inner
        if first and token in _FUNCTIONS:
            return "fn:" + token
        if token == ".":
            return "_root"
        field = _FIELD.fullmatch(token)
        if field:
            return field.group(1)
        if token.startswith("`"):
            return repr(token[1:-1])
        if token.startswith('"') or re.fullmatch(r"-?\d+(\.\d+)?", token):
            return token
        literals = {"true": "True", "false": "False", "nil": "None"}
        if token in literals:
            return literals[token]
        raise TemplateSyntaxProblem(f"unsupported operand {token!r} in {{{{ {self.source} }}}}")


def _is_go_action(body: str, trimmed: bool) -> bool:
    if trimmed or body.startswith((".", "/*")) or _KEYWORDS.match(body):
        return True
    first = body.split(None, 1)[0] if body.split() else ""
    return first in _FUNCTIONS


def translate(source: str) -> str:
    """Rewrite Go-template actions as Jinja; Jinja actions pass through unchanged."""
    output: list[str] = []
    position = 0
    depth = 0
    for match in _ACTION.finditer(source):
        trim_left, body, trim_right = match.group(1), match.group(2), match.group(3)
        output.append(source[position:match.start()])
        position = match.end()
        if not _is_go_action(body, bool(trim_left or trim_right)):
            output.append(match.group(0))
            continue
        left = "-" if trim_left else ""
        right = "-" if trim_right else ""
        keyword = _KEYWORDS.match(body)
        if body.startswith("/*"):
            if not body.endswith("*/"):
                raise TemplateSyntaxProblem("unterminated comment {{/* ... */}}")
            output.append(f"{{#{left} {right}#}}")
        elif keyword and keyword.group(1) == "if":
            depth += 1
            output.append(f"{{%{left} if {_Expression(body[2:]).translate()} {right}%}}")
        elif keyword and keyword.group(1) == "else":
            if depth == 0:
                raise TemplateSyntaxProblem("{{ else }} without a matching {{ if }}")
            rest = body[4:].strip()
            if not rest:
                output.append(f"{{%{left} else {right}%}}")
            elif rest.startswith("if ") or rest.startswith("if\t"):
                output.append(f"{{%{left} elif {_Expression(rest[2:]).translate()} {right}%}}")
            else:
                raise TemplateSyntaxProblem(f"unsupported action {{{{ {body} }}}}")
        elif keyword and keyword.group(1) == "end":
            if body != "end":
                raise TemplateSyntaxProblem(f"unsupported action {{{{ {body} }}}}")
            if depth == 0:
                raise TemplateSyntaxProblem("{{ end }} without a matching {{ if }}")
            depth -= 1
            output.append(f"{{%{left} endif {right}%}}")
        elif keyword:
            raise TemplateSyntaxProblem(
                f"{{{{ {keyword.group(1)} }}}} is not supported; use if/else/end")
        else:
            output.append(f"{{{{{left} {_Expression(body).translate()} {right}}}}}")
    output.append(source[position:])
    if depth:
        raise TemplateSyntaxProblem("{{ if }} without a matching {{ end }}")
    return "".join(output)


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, with unsafe attribute access an error instead of a blank."""

    intercepted_binops = frozenset({"*", "**"})

    def unsafe_undefined(self, obj, attribute):
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe")

    def call_binop(self, context, operator, left, right):
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > _MAX_EXPONENT:
            raise SecurityError("exponent too large")
        if operator == "*":
            for sequence, count in ((left, right), (right, left)):
                if (isinstance(sequence, (str, list, tuple)) and isinstance(count, int)
                        and len(sequence) * count > _MAX_REPEAT):
                    raise SecurityError("repeated value too long")
        return super().call_binop(context, operator, left, right)


_html = _Sandbox(autoescape=True, undefined=ChainableUndefined)
_text = _Sandbox(autoescape=False, undefined=ChainableUndefined)


def _render(environment: _Sandbox, source: str, variables: dict) -> str:
    template_source = translate(source)
    try:
        template = environment.from_string(template_source)
        return template.render(_root=variables, **variables)
    except TemplateError as exc:
        line = f" (line {exc.lineno})" if getattr(exc, "lineno", None) else ""
        raise TemplateSyntaxProblem(f"{exc.message or exc}{line}") from None
    except Exception as exc:  # a template is operator input: any failure is a template problem
        raise TemplateSyntaxProblem(f"template failed to render: {exc}") from None


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str


def render(kind: str, variables: dict, *, subject: str | None = None,
           body: str | None = None) -> RenderedEmail:
    """Render template ``kind`` with ``variables``; subject and body default to the built-ins."""
    subject_source = subject if subject is not None else DEFAULT_SUBJECTS[kind]
    body_source = body if body is not None else DEFAULT_BODIES[kind]
    # A subject is one header line whatever the data holds.
    subject_text = " ".join(_render(_text, subject_source, variables).splitlines())
    return RenderedEmail(
        subject=subject_text.strip(),
        html=_render(_html, body_source, variables),
    )
