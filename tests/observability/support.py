"""Reading JSON log lines back."""

from __future__ import annotations

import json
import re
from datetime import datetime

UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
REQUEST_FIELDS = {"component", "duration", "level", "method", "msg", "path", "remote_addr",
                  "request_id", "status", "time"}


def json_lines(text: str) -> list[dict]:
    """Every line of ``text`` as a JSON object; fails on a line that is not one."""
    entries = []
    for line in text.splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)
        assert isinstance(entry, dict), line
        entries.append(entry)
    return entries


def request_lines(text: str) -> list[dict]:
    return [entry for entry in json_lines(text) if entry.get("msg") == "request completed"]


def parse_time(value: str) -> datetime:
    """RFC 3339 in UTC with microseconds, as every line writes it."""
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", value), value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
