"""The send_email auth hook (spec phone-sms.md section 4.4): when it is enabled, every email
the server sends goes to the hook as an event instead of to the SMTP server.

The event is ``{user, email_data}``; email_data has every key (``""`` when unused). The
templates are not rendered: the hook writes its own message from the tokens. Its attempts
still land in the mail log, one entry per address (``SUBJECT`` in place of a subject, status
``sent`` or ``failed`` with the hook's error), and count against RATE_LIMIT_EMAIL_SENT as
SMTP sends do.

A hook error is the client's answer (outbox.send returns it and flows raise it as is), so the
flow's writes roll back. Emails that go through the mail outbox (outbox.py, dispatcher.py) call
the hook from the dispatcher, as they would talk to SMTP: the event is stored encrypted with the
row, a failure is a ``failed`` mail log entry and is retried like an SMTP failure.
"""

from __future__ import annotations

from ...errors import GoTrueError
from ...models import User
from ...runtime import Runtime
from ...serializers import user_json
from .. import hooks
from .links import IssuedLink

NAME = "send_email"
# What the mail log shows as the subject of an email the hook was asked to send.
SUBJECT = "(sent by the send_email hook)"


def enabled(rt: Runtime) -> bool:
    return hooks.enabled(rt, NAME)


def email_data(rt: Runtime, issued: IssuedLink, *, current: IssuedLink | None = None) -> dict:
    """email_data of ``issued``'s email.

    ``current``: the current address's link of a secure email change (``issued`` is then the
    new address's). GoTrue crosses the hashes there and so does the port: token is the current
    address's code with the new address's token_hash, token_new the new address's code with
    the current address's token_hash. token_hash is the flow's TokenHash (``pkce_`` kept),
    which GET and POST /verify take.
    """
    token, token_hash, token_new, token_hash_new = issued.code, issued.token, "", ""
    if current is not None:
        token, token_new = current.code, issued.code
        token_hash_new = current.token
    return {
        "token": token,
        "token_hash": token_hash,
        # GoTrue's referrer: the allowed redirect_to, else SITE_URL.
        "redirect_to": issued.redirect_to or rt.settings.site_url,
        "email_action_type": issued.verify_type,
        # As GoTrue: the API's external URL (a hook builds <site_url>/verify?token=... links).
        "site_url": rt.settings.api.external_url,
        "token_new": token_new,
        "token_hash_new": token_hash_new,
        "old_email": "",
        "old_phone": "",
        "provider": "",
        "factor_type": "",
    }


def event(user: User, data: dict) -> dict:
    """The hook's input after metadata, taken in the request (the user as it is then)."""
    return {"user": user_json(user), "email_data": data}


def call(rt: Runtime, payload: dict) -> GoTrueError | None:
    """Invoke the hook; returns its error (GoTrue's mapping, spec 4.2) instead of raising."""
    try:
        hooks.invoke(rt, NAME, payload)
    except GoTrueError as error:
        return error
    return None
