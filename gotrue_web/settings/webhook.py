"""The legacy webhook GoTrue had before auth hooks (GOTRUE_WEBHOOK_* and the seed's unprefixed
WEBHOOK_*): the events validate, signup, email_change and login POSTed to one URL."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from .env import EnvReader, SettingsError

LEGACY_EVENTS = ("validate", "signup", "email_change", "login")


@dataclass(frozen=True)
class WebhookSettings:
    """The legacy webhook GoTrue had before auth hooks: events POSTed to one URL."""

    url: str = ""
    secret: str = field(default="", repr=False)
    retries: int = 3
    timeout: timedelta = timedelta(seconds=5)
    events: tuple[str, ...] = ()

    def wants(self, event: str) -> bool:
        return bool(self.url) and event in self.events


def read(env: EnvReader) -> WebhookSettings:
    retries = env.int("WEBHOOK_RETRIES", 3, "WEBHOOK_RETRIES", minimum=0)
    timeout_found = env.raw("WEBHOOK_TIMEOUT_SEC", "GOTRUE_WEBHOOK_TIMEOUTSEC",
                            "WEBHOOK_TIMEOUT_SEC", "WEBHOOK_TIMEOUTSEC")
    timeout = timedelta(seconds=5)
    if timeout_found:
        key, value = timeout_found
        try:
            seconds = int(value.strip())
        except ValueError:
            raise SettingsError(f"{key}: expected whole seconds, got {value!r}") from None
        if seconds > 0:
            timeout = timedelta(seconds=seconds)
    events = tuple(event.strip().lower()
                   for event in env.str("WEBHOOK_EVENTS", "", "WEBHOOK_EVENTS").split(",")
                   if event.strip())
    return WebhookSettings(
        url=env.str("WEBHOOK_URL", "", "WEBHOOK_URL"),
        secret=env.str("WEBHOOK_SECRET", "", "WEBHOOK_SECRET"),
        retries=retries or 3, timeout=timeout, events=events)



def check(webhook: WebhookSettings) -> None:
    unknown = [event for event in webhook.events if event not in LEGACY_EVENTS]
    if unknown:
        raise SettingsError(f"GOTRUE_WEBHOOK_EVENTS: unknown event {unknown[0]!r}; expected "
                            "some of " + ", ".join(LEGACY_EVENTS))
