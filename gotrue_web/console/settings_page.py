"""The read-only settings page: the effective configuration, secrets masked, risky values
flagged with the variable to change."""

from __future__ import annotations

from flask import render_template

from ..runtime import current_runtime
from .operations import settings_report, settings_warnings


def settings():
    rt = current_runtime()
    return render_template("console/settings/index.html", section="settings",
                           groups=settings_report.groups(rt.settings),
                           warnings=settings_warnings.warnings(
                               rt.settings, storage_answers=rt.limiter.healthy()))
