"""The state of a bulk run, carried by the browser from batch to batch and signed by the server.

No run is kept on the server: every POST of a run carries the whole state (which users, what
to do, the keyset cursor, the counts so far) in one form field, and the next batch starts from
it. The state is signed with HMAC-SHA256 under a key derived from GOTRUE_JWT_SECRET, so a
browser cannot move the cursor, widen the selection, change the action or rewrite the counts;
it names the operator who started it and expires after RUN_LIFETIME.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# A run left alone longer than this cannot be continued: start again from the list.
RUN_LIFETIME = timedelta(hours=24)
_VERSION = 1


class InvalidRun(ValueError):
    """The run's form field was altered, is from another operator or server, or is too old."""


@dataclass(frozen=True)
class Run:
    """One bulk run: the snapshot it walks and how far it got."""

    id: str
    operator_id: str
    action: str
    # The action's own values (a ban's duration text and reason).
    params: dict
    # "all": every user ``filters`` (the list's query string) matches; "selected": ``user_ids``.
    scope: str
    filters: dict
    user_ids: tuple[str, ...]
    # The snapshot: users created up to this moment; the filters are judged at it too.
    started: datetime
    total: int
    # The keyset cursor: the id of the last user handled (None before the first batch).
    after: str | None = None
    done: int = 0
    failed: int = 0
    # Why users were skipped: reason -> how many.
    skipped: dict = field(default_factory=dict)
    batches: int = 0
    finished: bool = False

    @property
    def skipped_count(self) -> int:
        return sum(self.skipped.values())

    @property
    def handled(self) -> int:
        return self.done + self.failed + self.skipped_count

    def advanced(self, **changes) -> "Run":
        return dataclasses.replace(self, **changes)


def _key(jwt_secret: str) -> bytes:
    # Its own key: a run's signature says nothing about the JWT secret, and no other signed
    # value of the server can pass for a run.
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"gotrue-web console bulk run").derive(jwt_secret.encode())


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def seal(run: Run, jwt_secret: str) -> str:
    """The run as a form value: its JSON, then the signature."""
    data = dataclasses.asdict(run)
    data["started"] = run.started.isoformat()
    data["user_ids"] = list(run.user_ids)
    data["v"] = _VERSION
    payload = _b64(json.dumps(data, separators=(",", ":"), sort_keys=True).encode())
    signature = hmac.new(_key(jwt_secret), payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{_b64(signature)}"


def open_run(token: str, jwt_secret: str, *, operator_id: str, now: datetime) -> Run:
    """The run a form value holds; InvalidRun unless the signature is ours, the run is the
    operator's own and it started less than RUN_LIFETIME ago."""
    payload, _, signature = (token or "").strip().partition(".")
    expected = hmac.new(_key(jwt_secret), payload.encode(), hashlib.sha256).digest()
    try:
        given = _unb64(signature)
    except (binascii.Error, ValueError):
        given = b""
    if not payload or not hmac.compare_digest(given, expected):
        raise InvalidRun("This run's form was changed or does not come from this server: "
                         "nothing was done. Start again from the users list.")
    try:
        data = json.loads(_unb64(payload))
        if data.pop("v") != _VERSION:
            raise ValueError("another version")
        data["started"] = datetime.fromisoformat(data["started"])
        data["user_ids"] = tuple(data["user_ids"])
        run = Run(**data)
    except (binascii.Error, ValueError, TypeError, KeyError):
        raise InvalidRun("This run's form cannot be read: start again from the users "
                         "list.") from None
    if run.operator_id != operator_id:
        raise InvalidRun("This run was started by another operator: only they can continue "
                         "it.")
    if now - run.started > RUN_LIFETIME:
        raise InvalidRun("This run started more than 24 hours ago and can no longer be "
                         "continued: start again from the users list, which shows who is "
                         "left.")
    return run
