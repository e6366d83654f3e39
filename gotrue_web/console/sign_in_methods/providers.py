"""The providers page: the OAuth providers this server implements, their registration (secrets
only as set or not set), what each still needs, a test that shows the authorize URL, and the
custom providers in the database.

The test is a POST (it may fetch an OIDC discovery document) that writes nothing: htmx gets
the result fragment for the provider's row; a plain form post gets the page with the result.
"""

from __future__ import annotations

from flask import make_response, render_template

from ...errors import GoTrueError
from ...runtime import current_runtime
from ..htmx import is_htmx, render_page_or_fragment, toast
from ..operations import provider_report

PAGE = "console/providers/index.html"
BLOCK = "console/providers/_providers.html"
RESULT = "console/providers/_test_result.html"


def _context(**extra) -> dict:
    rt = current_runtime()
    return {"section": "providers", "rows": provider_report.providers(rt),
            "callback_url": provider_report.callback_url(rt),
            "unimplemented": provider_report.enabled_but_unimplemented(rt),
            "custom": provider_report.custom_providers(),
            "custom_enabled": rt.settings.external.custom_oauth_enabled,
            "flow_state_expiry": int(rt.settings.external.flow_state_expiry.total_seconds()),
            "result": None, "error": None, "tested": None, **extra}


def providers():
    return render_page_or_fragment(PAGE, BLOCK, **_context())


def try_provider(name: str):
    rt = current_runtime()
    try:
        result, error = provider_report.trial_url(rt, name), None
    except GoTrueError as refusal:
        result, error = None, refusal.message
    context = {"result": result, "error": error, "tested": name, "row_name": name,
               # The custom providers' table is wider than the built-in one.
               "colspan": 8 if name.startswith("custom:") else 4}
    if is_htmx():
        return toast(_render(RESULT, context), error or f"Authorize URL built for {name}.",
                     "error" if error else "ok")
    return _render(PAGE, _context(**context))


def _render(template: str, context: dict):
    response = make_response(render_template(template, **context))
    response.vary.add("HX-Request")
    return response
