"""Starting a bulk run and running its next batch.

A run starts once the operator typed the number of users it will act on, counted again at
that moment (the snapshot: users created up to then, the filters judged then); the start is
audited (users_bulk_action, naming the action, the selection and the count). Each batch then
reads the next BATCH_SIZE users of the snapshot after the run's cursor, locks them, and acts on
each one inside a savepoint: a user the rules refuse is skipped and counted, one whose action
fails (an error of the server) is counted as failed, and either way the others go on. Anything
else (the database) fails the batch, which the caller rolls back whole; the run it was given
is where to continue from. Functions flush, never commit.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

import sqlalchemy as sa

from ....errors import ErrorCode, GoTrueError, conflict, unprocessable
from ....extensions import db
from ....models import AuditLogEntry
from ....runtime import RequestInfo, Runtime
from ....services import audit
from . import actions, selection
from .actions import ACTIONS, Context, MailAllowance, Skip
from .run_token import RUN_LIFETIME, Run
from .selection import Selection

# Users acted on per request (one transaction each).
BATCH_SIZE = 200
AUDIT_ACTION = "users_bulk_action"
# Separators an operator may type in the number ("1,234", "1 234").
_SEPARATORS = re.compile(r"[\s,._'\u00a0\u202f]")
_RUN_ID = re.compile(r"[0-9a-f]{32}")


def new_run_id() -> str:
    """The id the confirmation form gives the run it starts (so that it starts once)."""
    return uuid.uuid4().hex


def _refused(message: str):
    return unprocessable(ErrorCode.VALIDATION_FAILED, message)


def action_of(key: str) -> actions.BulkAction:
    """The action ``key`` names; 422 for none or an unknown one."""
    if key not in ACTIONS:
        raise _refused("Choose what to do with the users.")
    return ACTIONS[key]


def check_typed(total: int, typed: str, action: actions.BulkAction) -> None:
    """422 unless ``typed`` is the number of users (digit separators aside)."""
    if _SEPARATORS.sub("", typed.strip()) != str(total):
        raise _refused(f"Type {total} to confirm: it is the number of users this will "
                       f"{action.verb.lower()}. Nothing was done.")


def start(rt: Runtime, run_id: str, chosen: Selection, action_key: str, params: dict,
          typed: str, actor: audit.Actor, info: RequestInfo) -> Run:
    """A new run once ``typed`` matches the count; writes users_bulk_action. 422 for an
    unknown action, no email server for an email action, no users, or a wrong number; 409
    when the run ``run_id`` (the confirmation form's) has started already (a reloaded page);
    SearchTooSlow when the count takes too long."""
    action = action_of(action_key)
    if not _RUN_ID.fullmatch(run_id):
        raise _refused("The confirmation form is incomplete: open it again from the users list.")
    if _started_already(run_id, rt.now() - RUN_LIFETIME):
        raise conflict(ErrorCode.CONFLICT,
                       "This run has started already (was the page reloaded?): nothing more "
                       "was done. The audit log shows what it did.")
    if action.sends_mail:
        actions.check_mail(rt)
    started = rt.now()
    total = selection.count(chosen, started)
    if total == 0:
        raise _refused("No user matches any more: nothing was done.")
    check_typed(total, typed, action)
    run = Run(id=run_id, operator_id=actor.id, action=action.key, params=params,
              scope=chosen.scope, filters=chosen.filters.to_args(),
              user_ids=tuple(str(user_id) for user_id in chosen.user_ids), started=started,
              total=total)
    traits = {"bulk_action": action.key, "users": total, "scope": chosen.scope,
              "run_id": run.id}
    if chosen.scope == "all":
        traits["filters"] = run.filters
    if "reason" in params:
        traits.update(duration=params["duration"], reason=params["reason"])
    audit.record(AUDIT_ACTION, actor, now=started, ip=info.ip, traits=traits)
    return run


def _started_already(run_id: str, since) -> bool:
    return db.session.execute(
        sa.select(AuditLogEntry.id).where(
            AuditLogEntry.created_at >= since,
            audit.payload_field("action") == AUDIT_ACTION,
            audit.payload_field("traits", "run_id") == run_id).limit(1)).first() is not None


@dataclass
class BatchResult:
    run: Run
    # What the rules or the server said for users of this batch that were refused or failed.
    notes: list[str] = field(default_factory=list)


def run_batch(rt: Runtime, run: Run, actor: audit.Actor, info: RequestInfo) -> BatchResult:
    """Act on the next batch of ``run``; the run advanced past it, with the counts."""
    action = ACTIONS[run.action]
    chosen = Selection.of_run(run.scope, run.filters, run.user_ids)
    size = BATCH_SIZE
    after = uuid.UUID(run.after) if run.after else None
    ids = selection.next_ids(chosen, run.started, after, size)
    locked = selection.lock(ids)
    ctx = Context(rt, actor, info, run.started, run.params,
                  with_sessions=actions.sessions_among(ids) if action.key == "sign_out"
                  else set(),
                  allowance=MailAllowance(rt) if action.sends_mail else None)
    done, failed, skipped = run.done, run.failed, dict(run.skipped)
    notes: list[str] = []
    for user_id in ids:
        user = locked.get(user_id)
        reason = None
        try:
            if user is None:
                raise Skip("gone")
            with db.session.begin_nested():
                action.act(user, ctx)
        except Skip as skip:
            reason = skip.reason
        except GoTrueError as error:
            if error.status >= 500:
                failed += 1
                _note(notes, f"{_label(user)}: {error.message}")
                continue
            reason = ("rate_limited" if error.error_code == ErrorCode.OVER_EMAIL_SEND_RATE_LIMIT
                      else "refused")
            if reason == "refused":
                _note(notes, f"{_label(user)}: {error.message}")
        if reason is None:
            done += 1
        else:
            skipped[reason] = skipped.get(reason, 0) + 1
    return BatchResult(run.advanced(after=str(ids[-1]) if ids else run.after, done=done,
                                    failed=failed, skipped=skipped, batches=run.batches + 1,
                                    finished=len(ids) < size), notes)


_MAX_NOTES = 5


def _note(notes: list[str], text: str) -> None:
    if len(notes) < _MAX_NOTES:
        notes.append(text)


def _label(user) -> str:
    return user.email or (f"+{user.phone}" if user.phone else str(user.id))


def skip_summary(run: Run) -> list[tuple[str, int]]:
    """The reasons users were skipped, most frequent first, in words."""
    return [(actions.REASONS.get(reason, reason), number)
            for reason, number in sorted(run.skipped.items(), key=lambda item: -item[1])]
