"""The read-only settings page: the server's readiness (the checks of GET /ready and the mail
outbox's backlog), the effective configuration, secrets masked, risky values flagged with the
variable to change; the settings changed on the Configuration page say so, and what the
environment says beneath."""

from __future__ import annotations

from pathlib import Path

from flask import current_app, render_template

from ..runtime import current_runtime
from ..services import readiness
from ..services.live_settings import report as live_report
from .operations import settings_report, settings_warnings


def settings():
    rt = current_runtime()
    groups = settings_report.groups(rt.settings)
    if rt.live_settings is not None:
        rt.live_settings.refresh(rt)
    return render_template("console/settings/index.html", section="settings",
                           live=live_report.by_path(rt),
                           # The migrations Flask-Migrate was given (flask db upgrade's).
                           readiness=readiness.check(
                               rt, Path(current_app.extensions["migrate"].directory)),
                           groups=groups,
                           origins=settings_report.origins(groups),
                           # What start-up logged: variables set but not honoured or unknown.
                           findings=current_app.extensions.get("gotrue_config_findings", []),
                           warnings=settings_warnings.warnings(
                               rt.settings, storage_answers=rt.limiter.healthy()))
