"""Invitations: invite one address or a pasted list; pending invites with resend and revoke.

Invitations go through services.admin.invites.invite, as POST /invite does, with the operator
as the audit actor and links that lead to the site URL.
"""

from __future__ import annotations

from flask import flash, make_response, redirect, render_template, request, url_for

from ..errors import GoTrueError
from ..extensions import db
from ..runtime import current_runtime
from .context import actor, request_info
from .htmx import done, is_htmx, refused, render_page_or_fragment, toast
from .operations import invitations

PAGE = "console/invites/index.html"
BLOCK = "console/invites/_invites.html"
PENDING = "console/invites/_pending.html"
# A plain (no-JS) post reports problems as flashes; past this many, it sums up the rest.
_FLASHED_PROBLEMS = 10

_STATUS_TEXT = {
    "invited": "invited",
    "reinvited": "invited again (pending invitation or unconfirmed signup)",
    "exists": "already a user",
    "invalid": "not a valid address",
    "failed": "not sent",
}


def _context(**extra) -> dict:
    return {"section": "invites", "pending": invitations.pending(after=request.args.get("after")),
            "status_text": _STATUS_TEXT, "mail_enabled": current_runtime().mailer.enabled,
            **extra}


def invites():
    fragment = PENDING if request.args.get("part") == "pending" else BLOCK
    return render_page_or_fragment(PAGE, fragment, **_context())


def _summary(report: list[invitations.InviteOutcome]) -> str:
    sent = sum(outcome.ok for outcome in report)
    if sent == len(report):
        return f"Invitation sent to {report[0].address}." if sent == 1 else \
            f"{sent} invitations sent."
    return f"{sent} of {len(report)} invitations sent."


def send_invites():
    """Invite every address of the list, each in its own transaction: an invitation whose
    email went out stays, whatever happens with the next address."""
    rt = current_runtime()
    text = request.form.get("addresses", "")
    try:
        invitations.require_mail(rt)
        addresses = invitations.parse_address_list(text)
    except GoTrueError as error:
        context = _context(addresses=text, form_error=error.message)
        if is_htmx():
            return toast(make_response(render_template(BLOCK, **context), 422), error.message,
                         "error")
        return make_response(render_template(PAGE, **context), 422)
    operator, info = actor(), request_info()
    report = []
    for address in addresses:
        outcome = invitations.invite_address(rt, address, operator, info)
        if outcome.ok:
            db.session.commit()
        else:
            db.session.rollback()
        report.append(outcome)
    summary = _summary(report)
    kind = "ok" if all(outcome.ok for outcome in report) else "error"
    if is_htmx():
        return toast(make_response(render_template(BLOCK, **_context(report=report))),
                     summary, kind)
    flash(summary, kind if kind == "ok" else "warn")
    problems = [outcome for outcome in report if not outcome.ok]
    for outcome in problems[:_FLASHED_PROBLEMS]:
        flash(f"{outcome.address}: {_STATUS_TEXT[outcome.status]}"
              + (f" ({outcome.message})" if outcome.status == "failed" else ""), "error")
    if len(problems) > _FLASHED_PROBLEMS:
        flash(f"… and {len(problems) - _FLASHED_PROBLEMS} more not invited.", "error")
    return redirect(url_for("console.invites"), 303)


def _pending_action(user_id: str, action, message: str):
    rt = current_runtime()
    location = url_for("console.invites")
    try:
        user = invitations.load_pending(user_id)
        email = user.email
        action(rt, user, actor(), request_info())
    except GoTrueError as error:
        db.session.rollback()
        return refused(error.message, fragment=PENDING, location=location, **_context())
    db.session.commit()
    return done(message.format(email=email), fragment=PENDING, location=location,
                **_context())


def resend_invite(user_id: str):
    return _pending_action(user_id, invitations.resend, "Invitation sent again to {email}.")


def revoke_invite(user_id: str):
    return _pending_action(user_id, invitations.revoke,
                           "Invitation to {email} revoked; its link no longer works.")
