"""Operators as owners manage them from the console: roles, invitations, disabling, a reset of
two-step sign-in, deletion; and the record of actions a role was refused.

The roles, from most to least trusted. Each may do what the ones after it may
(console/roles.py says which role each console action needs).
"""

from __future__ import annotations

from ..operators import ROLES

OWNER, ADMIN, SUPPORT, VIEWER = ROLES
ROLE_LABELS = {
    OWNER: "Owner",
    ADMIN: "Admin",
    SUPPORT: "Support",
    VIEWER: "Viewer",
}
ROLE_DUTIES = {
    OWNER: "everything, including operators and live configuration",
    ADMIN: "every action on users, sessions, invitations, email templates and rate limits",
    SUPPORT: "read everything; send recovery, magic-link, confirmation and invitation emails",
    VIEWER: "read everything, change nothing",
}


def at_least(role: str, needed: str) -> bool:
    """``role`` may do what ``needed`` may. An unknown role may do nothing (not even read)."""
    if role not in ROLES or needed not in ROLES:
        return False
    return ROLES.index(role) <= ROLES.index(needed)
