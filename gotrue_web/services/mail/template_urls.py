"""GOTRUE_MAILER_TEMPLATES_<KIND>: template bodies fetched from a URL and cached per app.

A relative URL follows SITE_URL, as GoTrue does. A fetched body is used for ten minutes; one
that cannot be fetched in time, or that does not render, leaves the last good copy in use (or
the built-in when there is none) and is retried a minute later, so a broken template server
slows at most one email a minute. The cache lives on the Runtime (``rt.template_urls``).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from ...settings import Settings
from ...transports import http
from . import templates as email_templates

log = logging.getLogger(__name__)

URL_TEMPLATE_TTL = timedelta(minutes=10)
URL_RETRY_AFTER_FAILURE = timedelta(minutes=1)
MAX_TEMPLATE_BYTES = 256 * 1024


@dataclass
class _CachedTemplate:
    body: str | None
    fetched_at: datetime | None
    failed_at: datetime | None = None


class TemplateURLCache:
    """Fetched template bodies by URL, for one app. Times come from the app's clock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.entries: dict[str, _CachedTemplate] = {}

    def get(self, url: str, *, now: datetime, timeout: float) -> str | None:
        with self.lock:
            cached = self.entries.get(url)
        if cached is not None and (_within(cached.fetched_at, now, URL_TEMPLATE_TTL)
                                   or _within(cached.failed_at, now, URL_RETRY_AFTER_FAILURE)):
            return cached.body
        try:
            body = _fetch(url, timeout)
        except (http.FetchError, email_templates.TemplateSyntaxProblem) as exc:
            log.warning("email template %s unusable, %s: %s", url,
                        "keeping the last good copy" if cached and cached.body
                        else "using the built-in", exc)
            with self.lock:
                self.entries[url] = _CachedTemplate(
                    body=cached.body if cached else None,
                    fetched_at=cached.fetched_at if cached else None, failed_at=now)
            return cached.body if cached else None
        with self.lock:
            self.entries[url] = _CachedTemplate(body=body, fetched_at=now)
        return body


def _within(moment: datetime | None, now: datetime, period: timedelta) -> bool:
    return moment is not None and timedelta(0) <= now - moment < period


def _fetch(url: str, timeout: float) -> str:
    """GET ``url``; raises FetchError, or TemplateSyntaxProblem for a body that does not render."""
    text = http.get_text(url, timeout=timeout, max_bytes=MAX_TEMPLATE_BYTES,
                         accept="text/html, text/plain, */*")
    # Refuse a body that cannot render here rather than on a user's email.
    email_templates.render("confirmation", email_templates.SAMPLE_VARIABLES, subject="",
                           body=text)
    return text


def template_url(settings: Settings, kind: str) -> str | None:
    """The absolute URL of GOTRUE_MAILER_TEMPLATES_<KIND>; a relative one follows SITE_URL."""
    url = (settings.mailer.templates.get(kind) or "").strip()
    if not url:
        return None
    if urlsplit(url).scheme.lower() in ("http", "https"):
        return url
    if urlsplit(url).scheme:
        log.warning("email template URL %s ignored: only http and https are fetched", url)
        return None
    return settings.site_url.rstrip("/") + "/" + url.lstrip("/")


def fetch_timeout(settings: Settings) -> float:
    """Fetching a template is part of sending the email: the SMTP timeout bounds it too."""
    seconds = settings.smtp.timeout.total_seconds() if settings.smtp.timeout else 0
    return seconds if seconds > 0 else 10.0
