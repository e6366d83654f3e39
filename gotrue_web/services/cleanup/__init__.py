"""The database cleanup: rows that can no longer be used (revoked refresh tokens, ended
sessions, stale flow states and MFA challenges) are deleted a day later, as GoTrue does, so
that no table grows for ever. ``jobs`` holds the rules, ``runner`` the per-process thread."""

from .jobs import JOBS, run_pass
from .runner import DatabaseCleaner, describe, run

__all__ = ["JOBS", "DatabaseCleaner", "describe", "run", "run_pass"]
