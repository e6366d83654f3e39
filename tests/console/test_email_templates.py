"""Console email templates: the list, the editor with its sandboxed live preview, save (validated
in the sandbox, audited), reset, and test sends through a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import uuid
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa

from gotrue_web.console.operations import template_editor
from gotrue_web.models import User
from gotrue_web.services.mail.templates import DEFAULT_BODIES, KINDS
from gotrue_web.settings import DEFAULT_SUBJECTS

from ..conftest import api_for, table_rows
from ..factories import audit_entries, email_templates, mail_log
from ..support import smtp as smtp_support
from ..support.mail_servers import TemplateServer
from .conftest import OPERATOR_EMAIL, signed_in

BREAKOUT = '<p>Hello</p></iframe><script>alert("pwned")</script><img src=x onerror="alert(2)">'


# --- helpers -----------------------------------------------------------------------------------


class _Elements(HTMLParser):
    """Every start tag with its attributes, in document order."""

    def __init__(self, text: str):
        super().__init__()
        self.elements: list[tuple[str, dict]] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def all(self, tag: str) -> list[dict]:
        return [attrs for name, attrs in self.elements if name == tag]


def _iframe(html: str) -> dict:
    [frame] = _Elements(html).all("iframe")
    return frame


def _operator_id(app) -> str:
    [(operator_id,)] = table_rows(app, sa.select(sa.text("id")).select_from(
        sa.table("operators")))
    return str(uuid.UUID(str(operator_id)))


# --- the list ------------------------------------------------------------------------------------


def test_list_shows_every_template_as_built_in_with_an_empty_state(console):
    response = console.get("/console/templates")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    for kind in KINDS:
        assert f'id="template-{kind}"' in page
        assert f'href="/console/templates/{kind}"' in page
    assert page.count('<span class="badge">Built-in</span>') == len(KINDS)
    assert "No template has been customised yet" in page
    assert "Never (default)" in page


def test_list_shows_the_stored_template_with_who_and_when(app, console):
    console.post("/console/templates/invite", {"subject": "Come in", "body": "<p>{{ .Token }}</p>"})
    console.post("/console/templates/invite", {"subject": "Entrez", "body": "<p>{{ .Token }}</p>",
                                               "locale": "fr"})
    page = console.get("/console/templates").get_data(as_text=True)
    row = page[page.index('id="template-invite"'):page.index('id="template-magic_link"')]
    assert '<span class="badge info">Database</span>' in row
    assert "<code>Come in</code>" in row
    assert f"by {OPERATOR_EMAIL}" in row
    assert 'href="/console/templates/invite?locale=fr"' in row
    assert "No template has been customised yet" not in page
    assert page.count('<span class="badge">Built-in</span>') == len(KINDS) - 1


def test_list_names_a_configured_template_url_without_fetching_it(make_app):
    server = TemplateServer({"/invite.html": "<p>{{ .Token }}</p>"})
    server.start()
    try:
        url = f"{server.url}/invite.html"
        app = make_app(**{"mailer.templates": {"invite": url}})
        page = signed_in(app).get("/console/templates").get_data(as_text=True)
    finally:
        server.stop()
    row = page[page.index('id="template-invite"'):page.index('id="template-magic_link"')]
    assert "URL</span>" in row and url in row
    assert server.requests == []


# --- the editor --------------------------------------------------------------------------------


def test_editor_shows_the_default_with_variables_and_a_sandboxed_preview(console):
    response = console.get("/console/templates/confirmation")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'value="{DEFAULT_SUBJECTS["confirmation"]}"' in page
    assert "Built-in</span> Not customised" in page
    for name in ("ConfirmationURL", "Token", "TokenHash", "SiteURL", "Email", "NewEmail",
                 "Data", "RedirectTo"):
        assert f"<code>{{{{ .{name} }}}}</code>" in page
    frame = _iframe(page)
    assert frame["sandbox"] == ""
    assert 'sandbox=""' in page and "allow-scripts" not in page and "allow-same-origin" not in page
    # The preview is the default body rendered with this server's sample link and code.
    assert "http://localhost:9999/verify?token=" in frame["srcdoc"]
    assert "type=signup" in frame["srcdoc"]
    assert "123456" in frame["srcdoc"]
    # The editor's policy lets email styles show in the preview; scripts stay our own.
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" in policy.split("style-src")[1]


def test_unknown_template_is_404(console):
    assert console.get("/console/templates/newsletter").status_code == 404
    for action in ("", "/preview", "/test", "/reset"):
        response = console.post(f"/console/templates/newsletter{action}",
                                {"subject": "x", "body": "y"})
        assert response.status_code == 404


def test_a_malformed_locale_is_400(console):
    assert console.get("/console/templates/invite?locale=not a locale").status_code == 400


def test_editor_of_a_stored_locale_variant(app, console):
    console.post("/console/templates/recovery", {"subject": "Reset", "body": "<p>general</p>"})
    console.post("/console/templates/recovery", {"subject": "Réinitialiser",
                                                 "body": "<p>français</p>", "locale": "fr"})
    page = console.get("/console/templates/recovery?locale=fr").get_data(as_text=True)
    assert "This fr variant is" in page and "Réinitialiser" in page
    assert "français" in _iframe(page)["srcdoc"]
    # A locale without its own row starts from the general stored template.
    page = console.get("/console/templates/recovery?locale=de").get_data(as_text=True)
    assert "There is no de variant yet" in page and "general" in _iframe(page)["srcdoc"]


# --- live preview ------------------------------------------------------------------------------


def test_preview_renders_a_gotrue_template_with_sample_values(console):
    body = ('{{ if .Token }}<p>Code {{ .Token }} for {{ .Email }}</p>{{ else }}none{{ end }}'
            '<a href="{{ .ConfirmationURL }}">go</a><p>{{ .Data.full_name }}</p>')
    response = console.post("/console/templates/magic_link/preview",
                            {"subject": "Sign in to {{ .SiteURL }}", "body": body}, htmx=True)
    fragment = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in fragment and 'id="preview"' in fragment
    assert '<dd id="preview-subject">Sign in to http://localhost:3000</dd>' in fragment
    srcdoc = _iframe(fragment)["srcdoc"]
    assert "<p>Code 123456 for ada@example.com</p>" in srcdoc
    assert "type=magiclink" in srcdoc and "<p>Ada Lovelace</p>" in srcdoc
    assert response.headers["Vary"] == "HX-Request" or "HX-Request" in response.headers["Vary"]


def test_preview_cannot_break_out_of_the_sandboxed_iframe(console):
    response = console.post("/console/templates/recovery/preview",
                            {"subject": "x", "body": BREAKOUT}, htmx=True)
    fragment = response.get_data(as_text=True)
    assert response.status_code == 200
    elements = _Elements(fragment)
    # One iframe, nothing after it: the body's </iframe>, <script> and <img> are text in srcdoc.
    assert [name for name, _ in elements.elements] == ["div", "dl", "dt", "dd", "iframe"]
    assert fragment.count("</iframe>") == 1
    assert "<script" not in fragment and "<img" not in fragment
    assert "&lt;/iframe&gt;&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in fragment
    frame = _iframe(fragment)
    assert frame["sandbox"] == "" and "allow-scripts" not in fragment
    # The browser gets the operator's HTML back intact, inside the sandbox only.
    assert frame["srcdoc"] == BREAKOUT


def test_preview_escapes_values_inside_the_email(make_app):
    # A user's metadata is data, never markup, in the body (the sandbox escapes it).
    app = make_app()
    with app.app_context():
        rendered = template_editor.preview(app.extensions["gotrue"], "invite", "s",
                                           "<p>{{ .Data.full_name }}</p>")
    assert rendered.html == "<p>Ada Lovelace</p>"


def test_preview_of_a_broken_template_shows_the_error_and_its_line(console):
    response = console.post("/console/templates/invite/preview",
                            {"subject": "ok", "body": "<p>one</p>\n<p>{{ if .Token }}</p>"},
                            htmx=True)
    fragment = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "This template does not render" in fragment and "<iframe" not in fragment
    assert "{{ if }} without a matching {{ end }}" in fragment.replace("&#34;", '"')
    response = console.post("/console/templates/invite/preview",
                            {"subject": "ok", "body": "<p>a</p>\n<p>b</p>\n{{ .Token | x }}"},
                            htmx=True)
    assert response.status_code == 422
    response = console.post("/console/templates/invite/preview",
                            {"subject": "ok", "body": "<p>{{ .Token }}</p>\n\n{{ 1 + }}"},
                            htmx=True)
    assert response.status_code == 422
    assert "(line 3)" in response.get_data(as_text=True)


def test_preview_without_javascript_returns_the_whole_editor(console):
    response = console.post("/console/templates/invite/preview",
                            {"subject": "Hi", "body": "<b>{{ .Token }}</b>"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" in page and 'id="template-form"' in page
    assert _iframe(page)["srcdoc"] == "<b>123456</b>"
    assert "&lt;b&gt;{{ .Token }}&lt;/b&gt;</textarea>" in page


def test_preview_stores_nothing(app, console):
    console.post("/console/templates/invite/preview", {"subject": "Hi", "body": "<b>x</b>"})
    assert email_templates(app) == []


# --- save ------------------------------------------------------------------------------------


def test_save_stores_the_template_audits_it_and_mail_uses_it(mail_app, mail_console, smtp_server,
                                                             service_role_token):
    body = ("<h1>Reset</h1>\r\n<p>{{ if .Token }}Code: {{ .Token }}{{ end }}</p>\r\n"
            '<a href="{{ .ConfirmationURL }}">Reset</a>')
    response = mail_console.post("/console/templates/recovery",
                                 {"subject": "Reset for {{ .Email }}", "body": body})
    assert response.status_code == 303
    assert response.headers["Location"] == "/console/templates/recovery"
    stored_body = body.replace("\r\n", "\n")
    assert email_templates(mail_app) == [("recovery", "", "Reset for {{ .Email }}", stored_body,
                                          OPERATOR_EMAIL)]
    [entry] = audit_entries(mail_app, "email_template_updated")
    assert entry["actor_username"] == OPERATOR_EMAIL
    assert entry["actor_id"] == _operator_id(mail_app)
    assert entry["traits"] == {"template": "recovery", "locale": ""}
    assert entry["ip_address"] == "127.0.0.1"
    page = mail_console.get("/console/templates/recovery").get_data(as_text=True)
    assert "Template “Reset password” saved." in page
    assert "This template is stored in the database" in page and OPERATOR_EMAIL in page

    # The next recovery email is made from it.
    api = api_for(mail_app, service_role_token)
    assert api.admin("POST", "/admin/users", json={
        "email": "reader@example.com", "password": "password-123",
        "email_confirm": True}).status_code == 200
    assert api.post("/recover", json={"email": "reader@example.com"}).status_code == 200
    [message] = smtp_server.wait_for("reader@example.com")
    assert message["Subject"] == "Reset for reader@example.com"
    assert "<h1>Reset</h1>" in smtp_support.html_body(message)
    assert "Code: " + smtp_support.code(message) in smtp_support.html_body(message)


def test_save_with_htmx_redirects_to_the_editor(app, console):
    response = console.post("/console/templates/invite",
                            {"subject": "Hi", "body": "<p>{{ .Token }}</p>"},
                            htmx=True, headers={"HX-Boosted": "true"})
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == "/console/templates/invite"
    assert [row[:3] for row in email_templates(app)] == [("invite", "", "Hi")]


def test_save_accepts_a_gotrue_template_unchanged(app, console):
    body = ('<h2>Confirm your signup</h2>\n\n<p>Follow this link to confirm your user:</p>\n'
            '<p><a href="{{ .ConfirmationURL }}">Confirm your mail</a></p>\n'
            '{{- /* a comment */ -}}\n'
            '{{ if and .Token (ne .Email "") }}<p>{{ .Token }}</p>{{ end }}\n'
            '<a href="{{ .SiteURL }}/auth/confirm?token_hash={{ .TokenHash }}&type=email">x</a>')
    response = console.post("/console/templates/confirmation",
                            {"subject": "Confirm Your Signup", "body": body})
    assert response.status_code == 303
    assert email_templates(app) == [("confirmation", "", "Confirm Your Signup", body,
                                     OPERATOR_EMAIL)]


@pytest.mark.parametrize(("subject", "body", "reason"), [
    ("Hi", "<p>{{ if .Token }}</p>", "{{ if }} without a matching {{ end }}"),
    ("Hi", "{{ .Token | html }}", "pipes are not supported"),
    ("Hi {{ range .Data }}", "<p>x</p>", "is not supported"),
    ("Hi", "{{ ''.__class__ }}", "unsafe"),
    ("", "<p>x</p>", "the subject is empty"),
    ("Hi", "   ", "the body is empty"),
    ("Hi", "x" * (256 * 1024 + 1), "larger than 256 KiB"),
])
def test_save_refuses_what_does_not_render_and_keeps_the_form(app, console, subject, body, reason):
    response = console.post("/console/templates/invite", {"subject": subject, "body": body})
    page = response.get_data(as_text=True).replace("&#34;", '"').replace("&#39;", "'")
    assert response.status_code == 422
    assert "Not saved:" in page and reason in page
    assert 'id="template-form"' in page
    assert email_templates(app) == []
    assert audit_entries(app, "email_template_updated") == []


def test_save_refused_with_htmx_swaps_the_page_with_the_error(app, console):
    response = console.post("/console/templates/invite",
                            {"subject": "Hi", "body": "{{ end }}"}, htmx=True,
                            headers={"HX-Boosted": "true"})
    assert response.status_code == 422
    assert "{{ end }} without a matching {{ if }}" in response.get_data(as_text=True)
    assert email_templates(app) == []


def test_save_a_locale_variant(app, console):
    response = console.post("/console/templates/invite",
                            {"subject": "Olá", "body": "<p>{{ .Token }}</p>", "locale": "pt_BR"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/console/templates/invite?locale=pt-br"
    assert [row[:3] for row in email_templates(app)] == [("invite", "pt-br", "Olá")]
    [entry] = audit_entries(app, "email_template_updated")
    assert entry["traits"] == {"template": "invite", "locale": "pt-br"}


def test_save_refuses_a_malformed_locale(app, console):
    response = console.post("/console/templates/invite",
                            {"subject": "Hi", "body": "<p>x</p>", "locale": "../etc"})
    assert response.status_code == 422
    assert "not a locale" in response.get_data(as_text=True)
    assert email_templates(app) == []


def test_saving_again_updates_the_row(app, console):
    console.post("/console/templates/invite", {"subject": "One", "body": "<p>1</p>"})
    console.post("/console/templates/invite", {"subject": "Two", "body": "<p>2</p>"})
    assert [row[:4] for row in email_templates(app)] == [("invite", "", "Two", "<p>2</p>")]
    assert len(audit_entries(app, "email_template_updated")) == 2


# --- reset -----------------------------------------------------------------------------------


def test_reset_deletes_the_stored_template_and_audits_it(app, console):
    console.post("/console/templates/recovery", {"subject": "Mine", "body": "<p>mine</p>"})
    page = console.get("/console/templates/recovery").get_data(as_text=True)
    assert "Reset to default" in page
    response = console.post("/console/templates/recovery/reset", {})
    assert response.status_code == 303
    assert response.headers["Location"] == "/console/templates/recovery"
    assert email_templates(app) == []
    [entry] = audit_entries(app, "email_template_reset")
    assert entry["actor_username"] == OPERATOR_EMAIL
    assert entry["traits"] == {"template": "recovery", "locale": ""}
    page = console.get("/console/templates/recovery").get_data(as_text=True)
    assert "reset to the default" in page
    assert f'value="{DEFAULT_SUBJECTS["recovery"]}"' in page
    assert "Reset to default</button>" not in page


def test_reset_of_a_locale_variant_keeps_the_general_template(app, console):
    console.post("/console/templates/invite", {"subject": "General", "body": "<p>g</p>"})
    console.post("/console/templates/invite", {"subject": "Fr", "body": "<p>f</p>",
                                               "locale": "fr"})
    response = console.post("/console/templates/invite/reset", {"locale": "fr"})
    assert response.status_code == 303
    assert [row[:3] for row in email_templates(app)] == [("invite", "", "General")]


def test_reset_of_a_default_template_changes_nothing(app, console):
    response = console.post("/console/templates/invite/reset", {})
    assert response.status_code == 303
    assert "nothing to reset" in console.get(response.headers["Location"]).get_data(as_text=True)
    assert audit_entries(app, "email_template_reset") == []


def test_reset_refuses_a_malformed_locale_rather_than_resetting_the_general_one(app, console):
    console.post("/console/templates/invite", {"subject": "General", "body": "<p>g</p>"})
    response = console.post("/console/templates/invite/reset", {"locale": "!!"})
    assert response.status_code == 303
    assert [row[:3] for row in email_templates(app)] == [("invite", "", "General")]
    assert audit_entries(app, "email_template_reset") == []


# --- test sends ------------------------------------------------------------------------------


def test_send_test_mails_the_edited_template_with_sample_values(mail_app, mail_console,
                                                                smtp_server):
    response = mail_console.post("/console/templates/email_change/test", {
        "to": "qa@example.com", "subject": "Change to {{ .NewEmail }}",
        "body": "<p>{{ .Email }} -> {{ .NewEmail }}: {{ .Token }}</p>"}, htmx=True)
    assert response.status_code == 200
    assert "Test email sent to qa@example.com" in response.headers["HX-Trigger"]
    assert 'id="test-result"' in response.get_data(as_text=True)
    [message] = smtp_server.wait_for("qa@example.com")
    assert message["Subject"] == "[Test] Change to ada.lovelace@example.com"
    # Sample values, as in the preview, whoever receives the test.
    assert ("<p>ada@example.com -> ada.lovelace@example.com: 123456</p>"
            in smtp_support.html_body(message))
    [entry] = mail_log(mail_app)
    assert (entry.template, entry.recipient, entry.status, entry.error) == (
        "email_change", "qa@example.com", "sent", None)
    assert entry.subject == "[Test] Change to ada.lovelace@example.com"
    [audit_entry] = audit_entries(mail_app, "email_template_test_sent")
    assert audit_entry["actor_username"] == OPERATOR_EMAIL
    assert audit_entry["traits"] == {"template": "email_change", "to": "qa@example.com",
                                     "status": "sent"}
    # Nothing was stored: a test send is not a save.
    assert email_templates(mail_app) == []


def test_send_test_without_javascript_uses_the_template_in_use_and_the_operator(
        mail_app, mail_console, smtp_server):
    mail_console.post("/console/templates/invite", {"subject": "Saved {{ .Token }}",
                                                    "body": "<p>saved</p>"})
    response = mail_console.post("/console/templates/invite/test", {"to": ""})
    assert response.status_code == 303
    assert response.headers["Location"] == "/console/templates/invite"
    [message] = smtp_server.wait_for(OPERATOR_EMAIL)
    assert message["Subject"] == "[Test] Saved 123456"
    assert "<p>saved</p>" in smtp_support.html_body(message)
    page = mail_console.get("/console/templates/invite").get_data(as_text=True)
    assert f"Test email sent to {OPERATOR_EMAIL}" in page


def test_send_test_of_the_built_in_template(mail_app, mail_console, smtp_server):
    mail_console.post("/console/templates/reauthentication/test", {"to": "me@example.com"})
    [message] = smtp_server.wait_for("me@example.com")
    assert message["Subject"] == "[Test] 123456 is your verification code"
    assert DEFAULT_BODIES["reauthentication"].split("\n")[0] in smtp_support.html_body(message)


def test_send_test_shows_the_smtp_error_and_logs_it(mail_app, mail_console, smtp_server):
    smtp_server.reject_with = "554 5.7.1 Relay access denied"
    response = mail_console.post("/console/templates/invite/test", {"to": "qa@example.com"},
                                 htmx=True)
    fragment = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Sending to qa@example.com failed" in fragment
    assert "554 5.7.1 Relay access denied" in fragment
    [entry] = mail_log(mail_app)
    assert entry.status == "failed" and "554 5.7.1 Relay access denied" in entry.error
    [audit_entry] = audit_entries(mail_app, "email_template_test_sent")
    assert audit_entry["traits"]["status"] == "failed"
    assert "554" in audit_entry["traits"]["error"]


def test_send_test_of_a_broken_edit_sends_nothing(mail_app, mail_console, smtp_server):
    response = mail_console.post("/console/templates/invite/test", {
        "to": "qa@example.com", "subject": "x", "body": "{{ if .Token }}"}, htmx=True)
    assert response.status_code == 422
    assert "the template does not render" in response.get_data(as_text=True)
    assert smtp_server.messages == [] and mail_log(mail_app) == []


def test_send_test_to_a_malformed_address_sends_nothing(mail_app, mail_console, smtp_server):
    response = mail_console.post("/console/templates/invite/test", {"to": "not an address"},
                                 htmx=True)
    assert response.status_code == 422
    assert "invalid format" in response.get_data(as_text=True)
    assert smtp_server.messages == [] and mail_log(mail_app) == []
    assert audit_entries(mail_app, "email_template_test_sent") == []


def test_send_test_honours_the_authorized_addresses(make_mail_app, smtp_server):
    app = make_mail_app(**{"external.email": _authorized(("team@example.com",))})
    console = signed_in(app)
    response = console.post("/console/templates/invite/test", {"to": "else@example.com"},
                            htmx=True)
    assert response.status_code == 422
    assert "not authorized" in response.get_data(as_text=True)
    console.post("/console/templates/invite/test", {"to": "team@example.com"})
    assert len(smtp_server.wait_for("team@example.com")) == 1
    assert [entry.recipient for entry in mail_log(app)] == ["team@example.com"]


def _authorized(addresses):
    from gotrue_web.settings import EmailProviderSettings

    return EmailProviderSettings(authorized_addresses=addresses)


def test_send_test_without_smtp_host_is_logged_as_not_sent(app, console):
    page = console.get("/console/templates/invite").get_data(as_text=True)
    assert "No SMTP server is configured" in page
    response = console.post("/console/templates/invite/test", {"to": "qa@example.com"},
                            htmx=True)
    assert response.status_code == 200
    assert "no SMTP server is configured" in response.headers["HX-Trigger"]
    assert [(entry.status, entry.recipient) for entry in mail_log(app)] == [
        ("not_sent", "qa@example.com")]


# --- CSRF and access -------------------------------------------------------------------------


@pytest.mark.parametrize("path", [
    "/console/templates/invite", "/console/templates/invite/preview",
    "/console/templates/invite/test", "/console/templates/invite/reset",
])
@pytest.mark.parametrize("htmx", [False, True])
def test_posts_without_a_csrf_token_are_refused(mail_app, mail_console, smtp_server, path,
                                                htmx):
    mail_console.post("/console/templates/invite", {"subject": "Kept", "body": "<p>k</p>"})
    response = mail_console.post(path, {"subject": "New", "body": "<p>new</p>",
                                        "to": "qa@example.com"}, csrf=False, htmx=htmx)
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)
    assert [row[:3] for row in email_templates(mail_app)] == [("invite", "", "Kept")]
    assert smtp_server.messages == [] and mail_log(mail_app) == []
    assert len(audit_entries(mail_app, "email_template_updated")) == 1


def test_a_wrong_csrf_token_is_refused(app, console):
    console.csrf_token = "forged"
    response = console.post("/console/templates/invite", {"subject": "x", "body": "<p>y</p>"})
    assert response.status_code == 400
    assert email_templates(app) == []


def test_pages_need_a_signed_in_operator(app, anonymous_console):
    assert anonymous_console.get("/console/templates").status_code == 303
    assert anonymous_console.get("/console/templates/invite").status_code == 303
    response = anonymous_console.post("/console/templates/invite",
                                      {"subject": "x", "body": "<p>y</p>"})
    assert response.status_code in (303, 400)
    assert email_templates(app) == []


def test_users_table_untouched_by_template_work(app, console):
    # Previews and tests use sample values: no user rows or tokens appear.
    console.post("/console/templates/invite/preview", {"subject": "x", "body": "<p>y</p>"})
    console.post("/console/templates/invite/test", {"to": "qa@example.com"})
    assert table_rows(app, sa.select(sa.func.count()).select_from(User))[0][0] == 0
