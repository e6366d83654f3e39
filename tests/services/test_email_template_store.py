"""Where an email's template comes from: the database (per locale), a GOTRUE_MAILER_TEMPLATES_*
URL served by a real HTTP server (fetched with a timeout, cached, stale copy kept on failure),
or the built-in default."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from gotrue_web.extensions import db
from gotrue_web.models import EmailTemplate
from gotrue_web.services.mail import template_store as store
from gotrue_web.services.mail import template_urls
from gotrue_web.services.mail.templates import DEFAULT_BODIES, KINDS, TemplateSyntaxProblem
from gotrue_web.settings import DEFAULT_SUBJECTS

from ..factories import email_templates

NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
GOOD = "<p>{{ .Email }} / {{ .Token }}</p>"


def resolve_at(app, kind: str, locale: str = "", *, now):
    """The template ``kind`` resolves to on ``app`` when its clock reads ``now``."""
    rt = app.extensions["gotrue"]
    rt.clock = lambda: now
    return store.resolve(rt, kind, locale)


# --- the database store ------------------------------------------------------------------------


def test_save_stores_and_resolve_prefers_it(make_app):
    app = make_app()
    with app.app_context():
        store.save("recovery", "Reset for {{ .Email }}", GOOD, now=NOW, updated_by="op@x.io")
        db.session.commit()
        source = resolve_at(app, "recovery", now=NOW)
    assert source == store.TemplateSource("Reset for {{ .Email }}", GOOD, "database")
    assert email_templates(app) == [("recovery", "", "Reset for {{ .Email }}", GOOD, "op@x.io")]


def test_save_again_updates_the_same_row(make_app):
    app = make_app()
    with app.app_context():
        store.save("invite", "One", GOOD, now=NOW, updated_by="a")
        store.save("invite", "Two", GOOD + "!", now=NOW + timedelta(minutes=1), updated_by="b")
        db.session.commit()
        [row] = db.session.execute(sa.select(EmailTemplate)).scalars().all()
    assert (row.subject, row.body, row.updated_by, row.updated_at) == (
        "Two", GOOD + "!", "b", NOW + timedelta(minutes=1))


@pytest.mark.parametrize(("subject", "body", "message"), [
    ("Hello", "{{ if .Token }}unterminated", "without a matching {{ end }}"),
    ("Hello", "{{ .Token | upper }}", "pipes are not supported"),
    ("{{ range .Data }}x{{ end }}", GOOD, "is not supported"),
    ("Hello", "{{ .Data.__class__ }}", "is unsafe"),
    ("  ", GOOD, "the subject is empty"),
    ("Hello", "\n", "the body is empty"),
])
def test_save_refuses_a_template_that_does_not_render(make_app, subject, body, message):
    app = make_app()
    with app.app_context():
        with pytest.raises(TemplateSyntaxProblem, match=message):
            store.save("confirmation", subject, body, now=NOW, updated_by="op")
        db.session.commit()
    assert email_templates(app) == []


def test_save_refuses_unknown_kinds_and_locales(make_app):
    app = make_app()
    with app.app_context():
        with pytest.raises(ValueError, match="unknown email template 'welcome'"):
            store.save("welcome", "Hi", GOOD, now=NOW, updated_by="op")
        with pytest.raises(ValueError, match="not a locale"):
            store.save("invite", "Hi", GOOD, now=NOW, updated_by="op", locale="fr'; drop")
        db.session.commit()
    assert email_templates(app) == []


def test_reset_removes_only_that_variant(make_app):
    app = make_app()
    with app.app_context():
        store.save("recovery", "General", GOOD, now=NOW, updated_by="op")
        store.save("recovery", "French", GOOD, now=NOW, updated_by="op", locale="fr")
        assert store.reset("recovery", "FR") is True
        assert store.reset("recovery", "de") is False
        db.session.commit()
    assert [row[:3] for row in email_templates(app)] == [("recovery", "", "General")]
    with app.app_context():
        assert store.reset("recovery") is True
        db.session.commit()
        source = resolve_at(app, "recovery", now=NOW)
    assert source.origin == "default" and source.body == DEFAULT_BODIES["recovery"]


@pytest.mark.parametrize(("user_locale", "expected"), [
    ("pt-BR", "pt-br"), ("pt_br", "pt-br"), ("pt-PT", "pt"), ("pt", "pt"), ("fr", ""),
    ("", ""), ("not a locale!", ""),
])
def test_the_most_specific_locale_variant_wins(make_app, user_locale, expected):
    app = make_app()
    with app.app_context():
        for locale in ("", "pt", "pt-BR"):
            store.save("magic_link", f"subject[{locale.lower()}]", GOOD, now=NOW,
                       updated_by="op", locale=locale)
        db.session.commit()
        source = resolve_at(app, "magic_link",
                               store.normalize_locale(user_locale), now=NOW)
    assert source.subject == f"subject[{expected}]"


def test_locale_is_normalised():
    assert store.normalize_locale("PT_br") == "pt-br"
    assert store.normalize_locale(" fr ") == "fr"
    assert store.normalize_locale(42) == ""
    assert store.normalize_locale("x" * 40) == ""


# --- defaults and subjects ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_without_configuration_the_builtin_applies(make_app, kind):
    app = make_app()
    with app.app_context():
        source = resolve_at(app, kind, now=NOW)
    assert source == store.TemplateSource(DEFAULT_SUBJECTS[kind], DEFAULT_BODIES[kind],
                                          "default")


def test_configured_subject_applies_to_url_and_default_bodies(make_app):
    app = make_app(**{"mailer.subjects": {"invite": "Join {{ .SiteURL }}"}})
    with app.app_context():
        source = resolve_at(app, "invite", now=NOW)
    assert source.subject == "Join {{ .SiteURL }}"


# --- template URLs -----------------------------------------------------------------------------


def test_template_url_resolution(settings):
    def url(value, site="http://app.example.com"):
        return template_urls.template_url(settings.replace(
            site_url=site, **{"mailer.templates": {"invite": value}}), "invite")

    assert url("https://cdn.example.com/t/invite.html") == "https://cdn.example.com/t/invite.html"
    # Relative URLs are prefixed with SITE_URL, as GoTrue does.
    assert url("/templates/invite.html") == "http://app.example.com/templates/invite.html"
    assert url("templates/invite.html") == "http://app.example.com/templates/invite.html"
    assert url("/t/invite.html", site="http://app.example.com/base/") == \
        "http://app.example.com/base/t/invite.html"
    assert url("file:///etc/passwd") is None
    assert url("") is None
    assert template_urls.template_url(settings, "invite") is None


def _url_app(make_app, server, path="/invite.html", **overrides):
    return make_app(**{"mailer.templates": {"invite": server.url + path}, **overrides})


def test_url_template_is_fetched_once_and_cached(make_app, template_server):
    template_server.pages["/invite.html"] = "<p>From the web: {{ .Token }}</p>"
    app = _url_app(make_app, template_server)
    with app.app_context():
        first = resolve_at(app, "invite", now=NOW)
        second = resolve_at(app, "invite", now=NOW + timedelta(minutes=9))
    assert first == second == store.TemplateSource(
        DEFAULT_SUBJECTS["invite"], "<p>From the web: {{ .Token }}</p>", "url")
    assert template_server.count("/invite.html") == 1


def test_url_template_is_fetched_again_after_ten_minutes(make_app, template_server):
    template_server.pages["/invite.html"] = "<p>version 1</p>"
    app = _url_app(make_app, template_server)
    with app.app_context():
        assert resolve_at(app, "invite", now=NOW).body == "<p>version 1</p>"
        template_server.pages["/invite.html"] = "<p>version 2</p>"
        later = resolve_at(app, "invite", now=NOW + timedelta(minutes=10))
    assert later.body == "<p>version 2</p>"
    assert template_server.count("/invite.html") == 2


def test_each_app_has_its_own_cache(make_app, template_server):
    template_server.pages["/invite.html"] = "<p>shared URL</p>"
    for _ in range(2):
        app = _url_app(make_app, template_server)
        with app.app_context():
            resolve_at(app, "invite", now=NOW)
    assert template_server.count("/invite.html") == 2


def test_relative_template_url_is_fetched_from_the_site(make_app, template_server):
    template_server.pages["/app/emails/invite.html"] = "<p>relative {{ .Email }}</p>"
    app = make_app(site_url=template_server.url + "/app",
                   **{"mailer.templates": {"invite": "emails/invite.html"}})
    with app.app_context():
        source = resolve_at(app, "invite", now=NOW)
    assert source.body == "<p>relative {{ .Email }}</p>" and source.origin == "url"


@pytest.mark.parametrize("page", [(404, "missing"), (500, "<p>oops</p>")])
def test_http_error_falls_back_to_the_builtin(make_app, template_server, page, caplog):
    template_server.pages["/invite.html"] = page
    app = _url_app(make_app, template_server)
    with app.app_context(), caplog.at_level(logging.WARNING):
        source = resolve_at(app, "invite", now=NOW)
    assert source.origin == "default" and source.body == DEFAULT_BODIES["invite"]
    assert f"HTTP Error {page[0]}" in caplog.text and "using the built-in" in caplog.text


def test_broken_template_falls_back_to_the_builtin_and_logs(make_app, template_server, caplog):
    template_server.pages["/invite.html"] = "<p>{{ if .Token }}never closed</p>"
    app = _url_app(make_app, template_server)
    with app.app_context(), caplog.at_level(logging.WARNING):
        source = resolve_at(app, "invite", now=NOW)
    assert source.origin == "default"
    assert "without a matching {{ end }}" in caplog.text


def test_slow_server_times_out_and_falls_back_to_the_builtin(make_app, template_server):
    template_server.stall.add("/invite.html")
    template_server.pages["/invite.html"] = "<p>too late</p>"
    app = _url_app(make_app, template_server, **{"smtp.timeout": timedelta(seconds=0.3)})
    with app.app_context():
        source = resolve_at(app, "invite", now=NOW)
    assert source.origin == "default"
    assert template_server.count("/invite.html") == 1


def test_failed_refresh_keeps_the_stale_copy_and_waits_a_minute(make_app, template_server):
    template_server.pages["/invite.html"] = "<p>good {{ .Token }}</p>"
    app = _url_app(make_app, template_server, **{"smtp.timeout": timedelta(seconds=1)})
    with app.app_context():
        assert resolve_at(app, "invite", now=NOW).body == "<p>good {{ .Token }}</p>"
        template_server.stall.add("/invite.html")
        stale = resolve_at(app, "invite", now=NOW + timedelta(minutes=11))
        # Within a minute of the failure the server is not asked again.
        again = resolve_at(app, "invite", now=NOW + timedelta(minutes=11, seconds=30))
        assert template_server.count("/invite.html") == 2
        template_server.stall.clear()
        template_server.pages["/invite.html"] = "<p>fixed</p>"
        fresh = resolve_at(app, "invite", now=NOW + timedelta(minutes=12, seconds=1))
    assert stale.body == again.body == "<p>good {{ .Token }}</p>" and stale.origin == "url"
    assert fresh.body == "<p>fixed</p>"
    assert template_server.count("/invite.html") == 3


def test_broken_refresh_keeps_the_last_good_copy(make_app, template_server):
    template_server.pages["/invite.html"] = "<p>good</p>"
    app = _url_app(make_app, template_server)
    with app.app_context():
        resolve_at(app, "invite", now=NOW)
        template_server.pages["/invite.html"] = "{{ end }}"
        later = resolve_at(app, "invite", now=NOW + timedelta(minutes=11))
    assert later.body == "<p>good</p>"


def test_oversized_template_is_refused(make_app, template_server):
    template_server.pages["/invite.html"] = "x" * (store.MAX_TEMPLATE_BYTES + 1)
    app = _url_app(make_app, template_server)
    with app.app_context():
        source = resolve_at(app, "invite", now=NOW)
    assert source.origin == "default"


def test_database_template_wins_over_the_url(make_app, template_server):
    template_server.pages["/invite.html"] = "<p>from the URL</p>"
    app = _url_app(make_app, template_server)
    with app.app_context():
        store.save("invite", "Stored", "<p>stored</p>", now=NOW, updated_by="op")
        db.session.commit()
        source = resolve_at(app, "invite", now=NOW)
    assert source == store.TemplateSource("Stored", "<p>stored</p>", "database")
    # The URL is not even fetched while a stored template applies.
    assert template_server.count("/invite.html") == 0
