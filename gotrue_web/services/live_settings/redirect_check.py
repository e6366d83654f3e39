"""The Configuration page's "test a URL": would the API let this redirect_to through, and
because of which allow-list entry. It asks the API's own matcher (security.redirects.is_valid)
one entry at a time, so the answer cannot drift from what the flows do."""

from __future__ import annotations

from dataclasses import dataclass

from ...security import redirects


@dataclass(frozen=True)
class RedirectVerdict:
    url: str
    allowed: bool
    # The first entry that lets it through ("" when the site URL does, or nothing).
    entry: str = ""
    # It is GOTRUE_SITE_URL's own origin (allowed whatever the list says).
    site: bool = False
    # Refused before any entry is tried: a browser could read it another way than the matcher.
    ambiguous: bool = False


def check(url: str, site_url: str, entries: tuple[str, ...]) -> RedirectVerdict:
    url = url.strip()
    if redirects.is_valid(url, site_url, ()):
        return RedirectVerdict(url, True, site=True)
    for entry in entries:
        if redirects.is_valid(url, site_url, (entry,)):
            return RedirectVerdict(url, True, entry=entry)
    return RedirectVerdict(url, False, ambiguous=redirects.browser_form(url) is None)
