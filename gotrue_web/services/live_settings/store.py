"""The ``runtime_settings`` rows: reading them (on a connection of their own, outside any
request's transaction), and the console's two audited actions, change and revert.

A row holds the value as JSON, when and by whom it was set. The processes notice a change by
the count of rows and their latest ``updated_at``: a write makes its ``updated_at`` later than
every row's, even when this server's clock is behind the one that wrote the latest, so that
pair changes with every change and every revert.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ...errors import ErrorCode, conflict, not_found, unprocessable
from ...extensions import db
from ...models import RuntimeSetting
from ...runtime import Runtime
from ...settings import SettingsError
from .. import audit
from . import catalog
from .catalog import LiveSetting

log = logging.getLogger(__name__)

ACTION = "configuration_changed"
_TABLE = RuntimeSetting.__table__
_FINGERPRINT = sa.select(sa.func.count(), sa.func.max(_TABLE.c.updated_at))
_ROWS = sa.select(_TABLE.c.name, _TABLE.c.value, _TABLE.c.updated_at, _TABLE.c.updated_by)


@dataclass(frozen=True)
class Override:
    """A setting changed in the console: its value wins over the environment's."""

    setting: LiveSetting
    value: Any
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True)
class Change:
    setting: LiveSetting
    old: str
    new: str
    # False when the value was already in force (nothing written, nothing audited).
    changed: bool = True


def fingerprint(connection) -> tuple:
    """What changes whenever a row is written or deleted: one cheap aggregate."""
    count, latest = connection.execute(_FINGERPRINT).one()
    return count, latest


def overrides(connection) -> dict[str, Override]:
    """The rows this server knows and can read. Others (a newer server's, or a value that no
    longer passes the checks) are logged and skipped: the environment's value applies."""
    found = {}
    for name, stored, updated_at, updated_by in connection.execute(_ROWS):
        setting = catalog.BY_PATH.get(name)
        if setting is None:
            continue
        try:
            value = catalog.from_json(setting, stored)
        except SettingsError as error:
            log.warning("runtime_settings row %s ignored: %s", name, error)
            continue
        found[name] = Override(setting, value, updated_at, updated_by)
    return found


def setting_of(path: str) -> LiveSetting:
    setting = catalog.BY_PATH.get(path)
    if setting is None:
        raise not_found(ErrorCode.VALIDATION_FAILED, f"{path!r} cannot be changed while the "
                        "server runs")
    return setting


def _row(path: str) -> RuntimeSetting | None:
    return db.session.execute(
        sa.select(RuntimeSetting).where(RuntimeSetting.name == path).with_for_update()
    ).scalar_one_or_none()


def _base_value(rt: Runtime, setting: LiveSetting) -> Any:
    base = rt.live_settings.base if rt.live_settings is not None else rt.settings
    return catalog.value_at(base, setting.path)


def _stored_value(setting: LiveSetting, row: RuntimeSetting) -> Any:
    try:
        return catalog.from_json(setting, row.value)
    except SettingsError:
        return row.value


def _write_time(rt: Runtime) -> datetime:
    """Now, or just after the latest row's time when that is later (another server's clock)."""
    latest = db.session.execute(sa.select(sa.func.max(RuntimeSetting.updated_at))).scalar()
    now = rt.now()
    if latest is not None and latest >= now:
        return latest + timedelta(microseconds=1)
    return now


def change(rt: Runtime, path: str, text: str, actor: audit.Actor, ip: str) -> Change:
    """Store ``text`` as the value of the setting at ``path`` (refused with 422 and the
    environment's own message when start-up would refuse it), audited. The caller commits."""
    setting = setting_of(path)
    try:
        value = catalog.parse(setting, text, rt.settings)
    except SettingsError as error:
        raise unprocessable(ErrorCode.VALIDATION_FAILED, str(error)) from None
    row = _row(path)
    old = _stored_value(setting, row) if row is not None else _base_value(rt, setting)
    if old == value:
        shown = catalog.shown(setting, value)
        return Change(setting, shown, shown, changed=False)
    at = _write_time(rt)
    if row is None:
        db.session.add(RuntimeSetting(name=path, value=catalog.to_json(value), updated_at=at,
                                      updated_by=actor.username))
    else:
        row.value, row.updated_at, row.updated_by = catalog.to_json(value), at, actor.username
    result = Change(setting, catalog.shown(setting, old), catalog.shown(setting, value))
    _audit(rt, result, actor, ip, reverted=False)
    try:
        db.session.flush()
    except sa.exc.IntegrityError:
        # Another operator's first change of this setting committed in between.
        raise conflict(ErrorCode.CONFLICT, f"{setting.variable} was changed at the same "
                       "moment by someone else; look at its value and try again") from None
    return result


def revert(rt: Runtime, path: str, actor: audit.Actor, ip: str) -> Change:
    """Delete the setting's row: the environment's value (or the default) applies again,
    audited. The caller commits."""
    setting = setting_of(path)
    row = _row(path)
    if row is None:
        raise unprocessable(ErrorCode.VALIDATION_FAILED,
                            f"{setting.variable} was not changed in the console: the "
                            "environment's value is in force already")
    result = Change(setting, catalog.shown(setting, _stored_value(setting, row)),
                    catalog.shown(setting, _base_value(rt, setting)))
    db.session.delete(row)
    _audit(rt, result, actor, ip, reverted=True)
    db.session.flush()
    return result


def _audit(rt: Runtime, result: Change, actor: audit.Actor, ip: str, *, reverted: bool) -> None:
    traits = {"setting": result.setting.path, "variable": result.setting.variable,
              "old_value": result.old, "new_value": result.new}
    if reverted:
        traits["reverted"] = True
    audit.record(ACTION, actor, now=rt.now(), ip=ip, traits=traits)
