"""Live configuration: settings an operator changes in the console while the server runs.

``catalog`` says which settings (the redirect allow-list, sign-up switches, MFA switches and
counts, rate limits) and reads a value as the environment's would be read; ``store`` keeps the
``runtime_settings`` rows and writes the audited change and revert; ``refresher`` is each
process's ``rt.live_settings``, which swaps ``rt.settings`` when the rows change; ``report``
and ``redirect_check`` serve the console's pages.
"""

from __future__ import annotations

from .refresher import LiveSettings

__all__ = ["LiveSettings"]
