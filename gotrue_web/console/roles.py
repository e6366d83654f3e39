"""Who may do what in the console, checked on every request after the operator is known.

The policy, by endpoint and method (so a route added later is covered without a change here):

- every page (GET, HEAD) is readable by every role, viewer included;
- a POST needs an admin, except:
  - the operator's own account (sign out, password, two-step sign-in): every role;
  - POSTs that change nothing (the email template preview): every role;
  - the emails support answers users with (recovery, magic link, confirmation, invitation
    again, the mail log's SMTP test): support and above;
  - the operators page's actions (``console.operators_*``) and live configuration
    (``console.configuration_*``): owners only.
- The users export is a POST that hands out every user's data: admins and owners, the default
  for POSTs, spelled out in EXPORTS so that nobody lowers it in passing.

A refusal is a 403 (an error page, or a toast for htmx) and an operator_action_refused audit
entry; the action itself never runs. Templates ask ``can(...)`` to leave out the buttons a
role may not use, but this check is what counts.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import abort, current_app, g, request
from werkzeug.exceptions import HTTPException

from ..extensions import db
from ..runtime import current_runtime
from .context import client_ip
from .htmx import is_htmx, refused
from .operations.operator_admin import (
    ADMIN,
    OWNER,
    ROLE_LABELS,
    SUPPORT,
    VIEWER,
    at_least,
    refusals,
)

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Pages some roles may not read: none today (a page that shows secrets would go here).
RESTRICTED_PAGES: dict[str, str] = {}
OWN_ACCOUNT = frozenset({"console.logout", "console.password_change", "console.totp_start",
                         "console.totp_confirm", "console.totp_disable"})
CHANGE_NOTHING = frozenset({"console.preview"})
EMAIL_SENDING = frozenset({"console.send_recovery", "console.send_magic_link",
                           "console.resend_confirmation", "console.resend_invite",
                           "console.smtp_test"})
EXPORTS = frozenset({"console.export"})
# Endpoint names (after "console.") of owners' actions, as the name or its prefix + "_".
OWNER_AREAS = ("operators", "configuration")


def _owners_only(endpoint: str) -> bool:
    name = endpoint.removeprefix("console.")
    return any(name == area or name.startswith(area + "_") for area in OWNER_AREAS)


def required_role(endpoint: str, method: str) -> str:
    """The least role that may send ``method`` to ``endpoint``."""
    if method.upper() in READ_METHODS:
        return RESTRICTED_PAGES.get(endpoint, VIEWER)
    if endpoint in OWN_ACCOUNT or endpoint in CHANGE_NOTHING:
        return VIEWER
    if _owners_only(endpoint):
        return OWNER
    if endpoint in EXPORTS:
        return ADMIN
    if endpoint in EMAIL_SENDING:
        return SUPPORT
    return ADMIN


def refusal_message(role: str, needed: str) -> str:
    label = ROLE_LABELS.get(role, role or "unknown")
    wanted = "an owner" if needed == OWNER else f"the {ROLE_LABELS[needed].lower()} role or above"
    return f"Not allowed: this needs {wanted}, and your role is {label.lower()}."


def enforce():
    """Before every console request, after auth.load_operator: let the request through, or
    refuse it with a 403 and an audit entry (committed: the refusal is the only effect)."""
    operator = g.get("operator")
    if operator is None or request.endpoint is None:
        return None  # a public page (sign-in, invitation link); the sign-in hook did the rest
    needed = required_role(request.endpoint, request.method)
    if at_least(operator.role, needed):
        return None
    refusals.record(current_runtime(), operator, endpoint=request.endpoint,
                    method=request.method, path=request.path, needed=needed, ip=client_ip())
    db.session.commit()
    message = refusal_message(operator.role, needed)
    if is_htmx():
        return refused(message, status=403)
    abort(403, description=message)


def can(target: str, method: str = "POST") -> bool:
    """For templates: may the signed-in operator use ``target``, an endpoint name
    (``"console.ban"``) or a URL of this server (what ``url_for`` gave the form)?"""
    operator = g.get("operator")
    if operator is None:
        return False
    endpoint = _endpoint_of(target, method) if target.startswith("/") else target
    return endpoint is not None and at_least(operator.role, required_role(endpoint, method))


def _endpoint_of(url: str, method: str) -> str | None:
    path = urlsplit(url).path
    root = request.script_root
    if root and path.startswith(root):
        path = path[len(root):] or "/"
    adapter = current_app.url_map.bind(request.host, script_name=root or None)
    try:
        endpoint, _ = adapter.match(path, method=method)
    except HTTPException:  # no such page, or a redirect (RequestRedirect is one)
        return None
    return endpoint
