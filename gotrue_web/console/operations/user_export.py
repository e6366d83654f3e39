"""Exporting the filtered users as CSV or JSON (GoTrue's user objects), streamed in keyset
batches so a million users never sit in memory. Starting an export is audited."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator

import sqlalchemy as sa

from ...extensions import db
from ...models import Factor
from ...runtime import Runtime
from ...serializers import factor_json, user_json
from ...services import audit
from . import user_search
from .user_filters import UserFilters

CSV_COLUMNS = (
    "id", "email", "phone", "name", "providers", "states", "created_at", "last_sign_in_at",
    "email_confirmed_at", "phone_confirmed_at", "invited_at", "banned_until", "deleted_at",
    "is_anonymous", "has_mfa", "aud", "role", "user_metadata", "app_metadata",
)
# A spreadsheet runs a cell that starts with one of these as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _safe_cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _time(value) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if value is not None else ""


def _name(user) -> str:
    metadata = user.raw_user_meta_data or {}
    name = metadata.get("full_name") or metadata.get("name") or ""
    return name if isinstance(name, str) else ""


def _csv_stream(filters: UserFilters, now) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def take() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(CSV_COLUMNS)
    yield take()
    for batch in user_search.iter_batches(filters, now):
        for row in batch:
            user = row.user
            writer.writerow([_safe_cell(value) for value in (
                str(user.id), user.email or "", user.phone or "", _name(user),
                " ".join(row.providers), " ".join(label for label, _ in row.states(now)),
                _time(user.created_at), _time(user.last_sign_in_at),
                _time(user.email_confirmed_at), _time(user.phone_confirmed_at),
                _time(user.invited_at), _time(user.banned_until), _time(user.deleted_at),
                "true" if user.is_anonymous else "false", "true" if row.has_mfa else "false",
                user.aud or "", user.role or "",
                json.dumps(user.raw_user_meta_data or {}, sort_keys=True),
                json.dumps(user.raw_app_meta_data or {}, sort_keys=True),
            )])
        yield take()


def _export_object(user, factors: list[Factor]) -> dict:
    """GoTrue's user object without identities (factors where GoTrue puts them)."""
    data = {}
    for key, value in user_json(user, in_list=True).items():
        if key == "identities":
            if factors:
                data["factors"] = [factor_json(factor) for factor in factors]
            continue
        data[key] = value
    return data


def _json_stream(filters: UserFilters, now) -> Iterator[str]:
    yield "["
    first = True
    for batch in user_search.iter_batches(filters, now):
        ids = [row.user.id for row in batch]
        factors: dict = {}
        for factor in db.session.execute(
                sa.select(Factor).where(Factor.user_id.in_(ids))
                .order_by(Factor.created_at)).scalars():
            factors.setdefault(factor.user_id, []).append(factor)
            db.session.expunge(factor)
        chunk = []
        for row in batch:
            chunk.append(("\n" if first else ",\n")
                         + json.dumps(_export_object(row.user, factors.get(row.user.id, []))))
            first = False
        yield "".join(chunk)
    yield "\n]\n" if not first else "]\n"


EXPORTS = {
    "csv": ("text/csv; charset=utf-8", _csv_stream),
    "json": ("application/json", _json_stream),
}


def start(rt: Runtime, fmt: str, filters: UserFilters, actor: audit.Actor, ip: str
          ) -> tuple[str, Callable[[], Iterator[str]]]:
    """The content type and the row stream of an export in ``fmt`` (a key of EXPORTS); writes
    users_exported with the filters. The caller commits before streaming."""
    now = rt.now()
    audit.record("users_exported", actor, now=now, ip=ip,
                 traits={"format": fmt, "filters": user_search.describe(filters)})
    mimetype, stream = EXPORTS[fmt]
    return mimetype, lambda: stream(filters, now)
