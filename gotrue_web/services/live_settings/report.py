"""What the console shows of each live setting: the value in force, where it comes from (the
console, the environment, .env or the default), and the environment's value beneath a change
made in the console."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ...runtime import Runtime
from ...settings import Settings, variable_origin
from . import catalog
from .catalog import LiveSetting


@dataclass(frozen=True)
class SettingState:
    setting: LiveSetting
    # The value in force, in words, and as the edit form holds it.
    value: str
    form_value: str
    # "console", "environment", ".env", "start-up" (set by whoever built the app) or "default".
    origin: str
    # What the environment (or the default) says, and from where; under a console change,
    # what a revert gives.
    environment_value: str
    environment_origin: str
    updated_by: str = ""
    updated_at: datetime | None = None

    @property
    def overridden(self) -> bool:
        return self.origin == "console"


@dataclass(frozen=True)
class GroupState:
    key: str
    title: str
    intro: str
    settings: tuple[SettingState, ...]


def _origin(setting: LiveSetting, base: Settings) -> str:
    found = variable_origin(setting.variable)
    if found:
        return found
    if catalog.value_at(base, setting.path) != catalog.value_at(Settings(), setting.path):
        return "start-up"
    return "default"


def state_of(rt: Runtime, setting: LiveSetting) -> SettingState:
    live = rt.live_settings
    base = live.base if live is not None else rt.settings
    base_value = catalog.value_at(base, setting.path)
    base_origin = _origin(setting, base)
    override = live.overrides.get(setting.path) if live is not None else None
    value = override.value if override is not None else base_value
    return SettingState(
        setting, catalog.shown(setting, value), catalog.form_text(setting, value),
        "console" if override is not None else base_origin,
        catalog.shown(setting, base_value), base_origin,
        updated_by=override.updated_by if override is not None else "",
        updated_at=override.updated_at if override is not None else None)


def groups(rt: Runtime) -> list[GroupState]:
    """Every live setting, grouped as the Configuration page shows them."""
    return [GroupState(key, title, intro,
                       tuple(state_of(rt, setting) for setting in catalog.CATALOG
                             if setting.group == key))
            for key, title, intro in catalog.GROUP_TITLES]


def by_path(rt: Runtime) -> dict[str, SettingState]:
    """The same, by setting path (the settings page marks its rows with them)."""
    return {setting.path: state_of(rt, setting) for setting in catalog.CATALOG}
