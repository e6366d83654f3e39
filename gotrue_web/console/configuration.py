"""The Configuration page (/console/configuration): the settings that change while the server
runs (redirect allow-list, sign-up switches, MFA, rate limits), each with its value in force,
where that comes from, an edit form and "Revert to environment"; a box that tests a redirect
URL against the allow-list; and what needs a restart instead, with why.

Changes go through services.live_settings.store (checked as the environment's values are,
audited) and take effect in this process at once, in every other within
GOTRUE_CONSOLE_LIVE_SETTINGS_INTERVAL. htmx posts get the setting's block back with a toast;
plain posts a flash and a 303 to the setting.
"""

from __future__ import annotations

from flask import abort, request, url_for

from ..errors import GoTrueError
from ..extensions import db
from ..runtime import current_runtime
from ..services.live_settings import catalog, redirect_check, report, store
from ..settings import SettingsError
from .context import actor, client_ip
from .htmx import done, refused, render_page_or_fragment

PAGE = "console/configuration/index.html"
SETTING = "console/configuration/_setting.html"
REDIRECT_TEST = "console/configuration/_redirect_test.html"


def _refreshed():
    rt = current_runtime()
    if rt.live_settings is not None:
        # Another server's change shows here at once (a cheap check when nothing changed).
        rt.live_settings.refresh(rt)
    return rt


def _page_context(rt) -> dict:
    seconds = rt.settings.console.live_settings_interval.total_seconds()
    return {"section": "configuration", "groups": report.groups(rt),
            "restart_only": catalog.RESTART_ONLY, "site_url": rt.settings.site_url,
            "interval": f"{seconds:g} second" + ("" if seconds == 1 else "s")}


def configuration():
    return render_page_or_fragment(PAGE, PAGE, **_page_context(_refreshed()))


def redirect_test():
    """GET: a read, so every role may use it. With htmx the allow-list being edited comes
    along (``value``), so a draft can be tried before it is saved."""
    rt = _refreshed()
    url = request.args.get("url", "").strip()
    draft = request.args.get("value")
    context = {**_page_context(rt), "tested_url": url}
    if url:
        entries = rt.settings.uri_allow_list
        try:
            if draft is not None:
                entries = catalog.parse(catalog.BY_PATH["uri_allow_list"], draft, rt.settings)
            context["verdict"] = redirect_check.check(url, rt.settings.site_url, entries)
            context["draft"] = draft is not None and tuple(entries) != rt.settings.uri_allow_list
        except SettingsError as error:
            context["test_error"] = str(error)
    return render_page_or_fragment(PAGE, REDIRECT_TEST, **context)


def _setting_context(path: str, **extra) -> dict:
    rt = current_runtime()
    return {"state": report.state_of(rt, catalog.BY_PATH[path]), **extra}


def _act(path: str, action):
    """Run ``action()`` (which returns the store's Change), commit, and swap this process's
    settings at once; or roll back and say why."""
    if path not in catalog.BY_PATH:
        abort(404)
    slug = catalog.BY_PATH[path].slug
    location = url_for("console.configuration") + f"#setting-{slug}"
    rt = current_runtime()
    try:
        result = action()
    except GoTrueError as error:
        db.session.rollback()
        return refused(error.message, fragment=SETTING, location=location,
                       **_setting_context(path, typed=request.form.get("value")))
    db.session.commit()
    if rt.live_settings is not None:
        rt.live_settings.refresh(rt, force=True)
    variable = result.setting.variable
    if not result.changed:
        message = f"{variable} is {result.new} already; nothing changed."
    elif request.endpoint == "console.configuration_revert":
        message = f"{variable} is back to the environment's value: {result.new}."
    else:
        message = f"{variable} changed from {result.old} to {result.new}."
    return done(message, fragment=SETTING, location=location, **_setting_context(path))


def change(path: str):
    return _act(path, lambda: store.change(current_runtime(), path,
                                           request.form.get("value", ""), actor(), client_ip()))


def revert(path: str):
    return _act(path, lambda: store.revert(current_runtime(), path, actor(), client_ip()))
