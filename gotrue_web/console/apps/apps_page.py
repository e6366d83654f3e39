"""The apps page (/console/apps): the OAuth clients registered with this server, a form to
register one, and per app: regenerate the secret (confidential apps), disable or enable, and
delete (type its name to confirm).

Every change goes through console/operations/oauth_apps/apps.py, which calls
services/oauth_server/clients.py and audits it; each POST commits once, and the service's
refusals are shown in the form (422), never answered as errors. A new secret is shown on the
answer to the POST that made it, once: it is not stored in plain text, nor put in a flash (the
session cookie is signed, not encrypted). While GOTRUE_OAUTH_SERVER_ENABLED is off the page
lists the apps and offers no forms, and the POSTs are refused as the admin API refuses them.
"""

from __future__ import annotations

from flask import flash, make_response, render_template, request, url_for

from ...errors import ErrorCode, GoTrueError
from ...extensions import db
from ...runtime import current_runtime
from ..context import actor, client_ip
from ..htmx import done, refused, render_page_or_fragment, toast, wants_fragment
from ..operations.oauth_apps import apps as oauth_apps

PAGE = "console/apps/index.html"
BLOCK = "console/apps/_apps.html"
_TYPED = ("client_name", "redirect_uris", "client_type")


def _context(**extra) -> dict:
    return {"section": "apps", "enabled": current_runtime().settings.oauth_server.enabled,
            "rows": oauth_apps.rows(), "typed": {}, "register_error": None, "revealed": None,
            "failed_id": None, **extra}


def _location() -> str:
    return url_for("console.apps")


def apps():
    return render_page_or_fragment(PAGE, BLOCK, **_context())


def _page_or_block(status: int, message: str, kind: str, **context):
    """The page (plain post) or the block (htmx) with ``context``; the message as a toast, or
    a flash the page shows."""
    if wants_fragment():
        response = make_response(render_template(BLOCK, **_context(**context)), status)
        return toast(response, message, kind)
    flash(message, kind)
    return make_response(render_template(PAGE, **_context(**context)), status)


def _refused(error: GoTrueError, client_id: str):
    """A row action the rules refused: the message beside the app's actions (422), or above
    the list when the app is gone (404)."""
    status = 404 if error.error_code == ErrorCode.OAUTH_CLIENT_NOT_FOUND else 422
    return refused(oauth_apps.readable(error.message), status=status, fragment=BLOCK,
                   location=_location(), **_context(failed_id=client_id))


def apps_register():
    rt = current_runtime()
    try:
        revealed = oauth_apps.register(rt, oauth_apps.register_body(request.form), actor(),
                                       client_ip())
    except GoTrueError as error:
        db.session.rollback()
        message = oauth_apps.readable(error.message)
        if not rt.settings.oauth_server.enabled:  # no form to show it in
            return refused(message, fragment=BLOCK, location=_location(), **_context())
        typed = {name: request.form.get(name, "") for name in _TYPED}
        return _page_or_block(422, message, "error", typed=typed, register_error=message)
    db.session.commit()
    return _page_or_block(200, f"{revealed.row.label} registered.", "ok", revealed=revealed)


def apps_regenerate_secret(client_id: str):
    try:
        revealed = oauth_apps.regenerate_secret(current_runtime(), client_id, actor(),
                                                client_ip())
    except GoTrueError as error:
        db.session.rollback()
        return _refused(error, client_id)
    db.session.commit()
    return _page_or_block(200, f"New secret for {revealed.row.label}; the previous one no "
                               "longer works.", "ok", revealed=revealed)


def _switch(client_id: str, disabled: bool):
    try:
        row, changed = oauth_apps.set_disabled(current_runtime(), client_id, disabled, actor(),
                                               client_ip())
    except GoTrueError as error:
        db.session.rollback()
        return _refused(error, client_id)
    db.session.commit()
    state = "disabled" if disabled else "enabled"
    if not changed:
        message = f"{row.label} was {state} already."
    elif disabled:
        message = f"{row.label} is disabled: it cannot sign users in until it is enabled again."
    else:
        message = f"{row.label} is enabled again."
    return done(message, fragment=BLOCK, location=_location(), **_context())


def apps_disable(client_id: str):
    return _switch(client_id, True)


def apps_enable(client_id: str):
    return _switch(client_id, False)


def apps_delete(client_id: str):
    try:
        row = oauth_apps.delete(current_runtime(), client_id, request.form.get("confirm", ""),
                                actor(), client_ip())
    except GoTrueError as error:
        db.session.rollback()
        return _refused(error, client_id)
    db.session.commit()
    return done(f"{row.label} was deleted.", fragment=BLOCK, location=_location(),
                **_context())

