"""The rate limits page: the counter storage and whether it answers, each limit with its
busiest keys and a reset per key, the global email budget, and the locked accounts with unlock.

Actions go through console.operations.rate_limits with the operator as the audit actor. htmx
posts get the whole block (#rate-limits) back with a toast; plain posts a flash and a 303.
"""

from __future__ import annotations

from flask import request, url_for

from ..errors import GoTrueError
from ..extensions import db
from ..runtime import current_runtime
from .context import actor, client_ip
from .htmx import done, refused, render_page_or_fragment
from .operations import limit_keys
from .operations import rate_limits as operation

PAGE = "console/rate_limits/index.html"
BLOCK = "console/rate_limits/_limits.html"


def _context() -> dict:
    return {"section": "rate_limits", "report": operation.report(current_runtime())}


def rate_limits():
    return render_page_or_fragment(PAGE, BLOCK, **_context())


def _act(action):
    """Run ``action()``, which returns the success message, and commit; or roll back and say
    why (the block again with the message, or a flash)."""
    location = url_for("console.rate_limits")
    try:
        message = action()
    except GoTrueError as error:
        db.session.rollback()
        return refused(error.message, fragment=BLOCK, location=location, **_context())
    db.session.commit()
    return done(message, fragment=BLOCK, location=location, **_context())


def reset_key():
    bucket = request.form.get("bucket", "")

    def act():
        key = limit_keys.key_of(request.form.get("key", ""))
        used = operation.reset_key(current_runtime(), bucket, key, actor(), client_ip())
        shown = limit_keys.printable(key, limit_keys.MAX_IN_MESSAGE)
        return f"The {bucket} count of {shown} was reset (it was {used})."
    return _act(act)


def unlock_account():
    def act():
        account = limit_keys.key_of(request.form.get("account", ""))
        operation.unlock_account(current_runtime(), account, actor(), client_ip())
        return (f"Password sign-in unlocked for "
                f"{limit_keys.account_shown(account, limit_keys.MAX_IN_MESSAGE)}.")
    return _act(act)
