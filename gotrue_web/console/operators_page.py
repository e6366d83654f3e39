"""The operators page (owners manage, everyone else reads) and the invitation link's page.

Owners invite (email and role: a link, valid 72 h and usable once, mailed when SMTP is
configured and shown once to copy either way), change roles, disable and enable, reset
two-step sign-in and delete; the rules and guards are console.operations.operator_admin.team.
Who may post here is console/roles.py's business: owners only.

The invitation link leads to a page without a console session where the invitee chooses a
password; then they sign in as usual.
"""

from __future__ import annotations

from flask import flash, g, make_response, redirect, render_template, request, url_for

from ..errors import GoTrueError
from ..extensions import db
from ..runtime import current_runtime
from . import auth
from .context import client_ip
from .htmx import done, is_htmx, refused, render_page_or_fragment, toast, wants_fragment
from .operations.operator_admin import ROLE_DUTIES, ROLE_LABELS, ROLES, invite_mail, joining, team

PAGE = "console/operators/index.html"
BLOCK = "console/operators/_operators.html"
JOIN_PAGE = "console/operators/join.html"


def _context(**extra) -> dict:
    return {"section": "operators", "rows": team.rows(g.operator), "roles": ROLES,
            "role_labels": ROLE_LABELS, "role_duties": ROLE_DUTIES,
            "mail_enabled": current_runtime().mailer.enabled, **extra}


def operators():
    return render_page_or_fragment(PAGE, BLOCK, **_context())


def _location() -> str:
    return url_for("console.operators")


def _shown_once(invitation: team.Invitation, message: str):
    """The page (or block) with the invitation link to copy: it is never stored, nor put in
    a flash (the session cookie is signed, not encrypted), so it is shown on this answer."""
    rt = current_runtime()
    link = url_for("console.operator_join", token=invitation.secret, _external=True)
    mailed = invite_mail.send(rt, invitation.operator.email, invitation.operator.role, link,
                              g.operator.email)
    context = _context(invitation=invitation, link=link, mailed=mailed)
    if wants_fragment():
        return toast(make_response(render_template(BLOCK, **context)), message)
    return make_response(render_template(PAGE, **context))


def invite():
    rt = current_runtime()
    form = request.form
    try:
        invitation = team.invite(rt, form.get("email", ""), form.get("role", ""), g.operator,
                                 client_ip())
    except GoTrueError as error:
        db.session.rollback()
        context = _context(form_error=error.message, email=form.get("email", ""),
                           role=form.get("role", ""))
        if is_htmx():
            return toast(make_response(render_template(BLOCK, **context), 422), error.message,
                         "error")
        return make_response(render_template(PAGE, **context), 422)
    db.session.commit()
    return _shown_once(invitation, f"{invitation.operator.email} invited.")


def _status(error: GoTrueError) -> int:
    # A form the rules refused is a 422 in the console; an operator that is gone a 404.
    return 404 if error.status == 404 else 422


def _act(operator_id: str, action, message: str):
    """Run ``action(rt, operator)`` on the operator of the URL and commit, or say why not."""
    rt = current_runtime()
    try:
        operator = team.load(operator_id)
        email = operator.email
        action(rt, operator)
    except GoTrueError as error:
        db.session.rollback()
        return refused(error.message, status=_status(error), fragment=BLOCK,
                       location=_location(), **_context())
    db.session.commit()
    return done(message.format(email=email), fragment=BLOCK, location=_location(),
                **_context())


def renew_invite(operator_id: str):
    rt = current_runtime()
    try:
        invitation = team.renew_invite(rt, team.load(operator_id), g.operator, client_ip())
    except GoTrueError as error:
        db.session.rollback()
        return refused(error.message, status=_status(error), fragment=BLOCK,
                       location=_location(), **_context())
    db.session.commit()
    return _shown_once(invitation, f"New invitation link for {invitation.operator.email}; "
                                   "the previous one no longer works.")


def change_role(operator_id: str):
    role = request.form.get("role", "")
    return _act(operator_id,
                lambda rt, operator: team.change_role(rt, operator, role, g.operator,
                                                      client_ip()),
                "{email} is now " + ROLE_LABELS.get(role, role).lower() + ".")


def disable(operator_id: str):
    return _act(operator_id,
                lambda rt, operator: team.disable(rt, operator, g.operator, client_ip()),
                "{email} is disabled; their sessions have ended.")


def enable(operator_id: str):
    return _act(operator_id,
                lambda rt, operator: team.enable(rt, operator, g.operator, client_ip()),
                "{email} may sign in again.")


def reset_totp(operator_id: str):
    return _act(operator_id,
                lambda rt, operator: team.reset_totp(rt, operator, g.operator, client_ip()),
                "Two-step sign-in is off for {email}; they can set it up again.")


def delete(operator_id: str):
    return _act(operator_id,
                lambda rt, operator: team.delete(rt, operator, g.operator, client_ip()),
                "{email} was deleted.")


# --- the invitation link (no console session) ---------------------------------------------------


def _join_page(token: str, *, error: str | None = None, status: int = 200):
    rt = current_runtime()
    try:
        invitee = joining.invitee(rt, token)
    except joining.InvitationNotValid as invalid:
        return render_template(JOIN_PAGE, invitee=None, token="", error=invalid.message,
                               role_labels=ROLE_LABELS), invalid.status
    return render_template(JOIN_PAGE, invitee=invitee, token=token, error=error,
                           role_labels=ROLE_LABELS), status


def join():
    return _join_page(request.args.get("token", ""))


def join_submit():
    rt = current_runtime()
    form = request.form
    token = form.get("token", "")
    try:
        operator = joining.accept(rt, token, form.get("password", ""),
                                  form.get("password_confirm", ""), client_ip())
    except joining.InvitationNotValid:
        db.session.rollback()
        return _join_page(token)
    except GoTrueError as error:
        db.session.rollback()
        return _join_page(token, error=error.message, status=422)
    db.session.commit()
    # Whoever was signed in in this browser is not the invitee.
    auth.end_session()
    flash(f"Your password is set. Sign in as {operator.email}.", "ok")
    return redirect(url_for("console.login"), 303)
