"""The invitation email to a new operator, sent through the server's mailer when SMTP is
configured, and recorded in the mail log (template ``operator_invite``) like every email.

The mail log keeps the recipient and subject, never the body with its link."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from ....runtime import Runtime
from ....services.mail import log as mail_log
from ....transports.mail import MailDeliveryError, OutgoingMail
from . import ROLE_LABELS

TEMPLATE = "operator_invite"
SUBJECT = "You are invited to the gotrue-web console"


@dataclass(frozen=True)
class Mailed:
    sent: bool
    # Why it was not sent (no SMTP server, or the server's answer).
    problem: str = ""


def send(rt: Runtime, to: str, role: str, link: str, invited_by: str) -> Mailed:
    if not rt.mailer.enabled:
        return Mailed(False, "no SMTP server is configured (GOTRUE_SMTP_HOST)")
    html = (f"<p>{escape(invited_by)} invited you to the gotrue-web operator console as "
            f"{escape(ROLE_LABELS.get(role, role).lower())}.</p>"
            f'<p><a href="{escape(link)}">Choose your password</a></p>'
            "<p>The link works once, for 72 hours. If you did not expect this email, "
            "ignore it.</p>")
    entry = {"now": rt.now(), "template": TEMPLATE, "recipient": to, "subject": SUBJECT}
    try:
        rt.mailer.send(OutgoingMail(to=to, subject=SUBJECT, html=html, template=TEMPLATE))
    except MailDeliveryError as exc:
        rt.mail_log.record(**entry, status=mail_log.FAILED, error=str(exc))
        return Mailed(False, str(exc))
    rt.mail_log.record(**entry, status=mail_log.SENT)
    return Mailed(True)
