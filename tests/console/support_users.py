"""Checks for the user detail, create-user and invitation tests: the audit entries the console
writes as the signed-in operator, and the page text as a reader sees it."""

from __future__ import annotations

from ..factories import audit_entries
from .conftest import OPERATOR_EMAIL


def operator_entries(app, action: str) -> list[dict]:
    """Entries of ``action`` whose actor is the console operator."""
    return [e for e in audit_entries(app, action) if e.get("actor_username") == OPERATOR_EMAIL]


def assert_operator_entry(app, action: str, user_id, **traits) -> dict:
    """The one entry of ``action`` by the operator about ``user_id``, with ``traits``."""
    entries = [e for e in operator_entries(app, action)
               if (e.get("traits") or {}).get("user_id") == str(user_id)]
    assert len(entries) == 1, entries
    entry = entries[0]
    assert entry["actor_name"] == "operator"
    assert entry["actor_id"] != "00000000-0000-0000-0000-000000000000"
    assert entry["ip_address"] == "127.0.0.1"
    for key, value in traits.items():
        assert entry["traits"].get(key) == value, (key, entry["traits"])
    return entry


def unescape(text: str) -> str:
    """Undo the HTML escaping Jinja applies, to compare page text with plain strings."""
    return (text.replace("&#34;", '"').replace("&quot;", '"').replace("&#39;", "'")
            .replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))
