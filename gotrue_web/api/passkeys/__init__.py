"""Passkeys (spec idp-passkeys-web3.md sections 0 and 2.2): registering one (registration),
signing in with one (authentication), a user's list, rename and delete (manage) and the
admin's list and delete (admin). The rules live in services/passkeys; the routes are
registered in api/__init__.py, where every route but the admin's carries ``requires_passkeys``.
"""

from __future__ import annotations

import functools

from ...errors import ErrorCode, not_found
from ...runtime import current_runtime


def requires_passkeys(view):
    """Route decorator: 404 passkey_disabled unless GOTRUE_PASSKEY_ENABLED (after the user
    check, before the rate limit and the captcha)."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if not current_runtime().settings.passkeys.enabled:
            raise not_found(ErrorCode.PASSKEY_DISABLED, "Passkeys are disabled")
        return view(*args, **kwargs)

    return wrapper
