"""The overview's charts: which series each one shows, in what words and colours, and the
numbers per bucket made into what the template draws (``svg.draw``) and reads out (a summary
sentence and a table)."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import svg
from .ranges import HOUR, Bucket, Range


@dataclass(frozen=True)
class SeriesSpec:
    key: str
    label: str
    # A colour class of console.css (tone-accent, tone-ok, tone-warn, tone-danger, ...).
    tone: str
    # Shown (legend, table) even when zero over the range.
    always: bool = False


@dataclass(frozen=True)
class ChartSpec:
    key: str
    title: str
    # What one unit is, for sentences: "sign-ins".
    noun: str
    series: tuple[SeriesSpec, ...]
    # Where the numbers come from, shown under the chart.
    source: str


SPECS = {spec.key: spec for spec in (
    ChartSpec("signups", "Sign-ups", "new users", (
        SeriesSpec("signups", "new users", "accent", always=True),),
        "Users created: sign-ups, anonymous sign-ins, invitations and users made here."),
    ChartSpec("signins", "Sign-ins by method", "sign-ins", (
        SeriesSpec("password", "password", "accent", always=True),
        SeriesSpec("code", "email or SMS code, magic link", "ok"),
        SeriesSpec("oauth", "OAuth provider", "warn"),
        SeriesSpec("anonymous", "anonymous", "faint"),
        SeriesSpec("sso", "SSO", "ink"),
        SeriesSpec("other", "other", "soft")),
        "How each session began (its first amr claim). Sessions that have ended since "
        "(sign-out, ban, deletion) no longer count; MFA steps are not sign-ins."),
    ChartSpec("users", "Active users", "active users", (
        SeriesSpec("users", "last signed in", "accent", always=True),),
        "Each user once, when they last signed in: the bars add up to the different users "
        "who signed in during the range. Staying signed in (refreshing) does not count."),
    ChartSpec("failures", "Failed sign-ins", "failed attempts", (
        SeriesSpec("mfa", "wrong MFA codes", "danger", always=True),),
        "Wrong MFA codes, by when the challenge was made. Wrong passwords are not stored: "
        "the rate limiter counts them for an hour."),
    ChartSpec("mail", "Mail", "emails", (
        SeriesSpec("sent", "sent", "accent", always=True),
        SeriesSpec("failed", "failed", "danger", always=True),
        SeriesSpec("not_sent", "not sent (no SMTP server)", "faint")),
        "Every attempt in the mail log."),
    ChartSpec("sms", "Text messages", "messages", (
        SeriesSpec("sent", "sent", "accent", always=True),
        SeriesSpec("failed", "failed", "danger", always=True),
        SeriesSpec("test_otp", "test codes (nothing sent)", "faint")),
        "Every SMS and WhatsApp attempt in the SMS log."),
)}
ORDER = ("signups", "signins", "users", "failures", "mail", "sms")


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    tone: str
    values: tuple[int, ...]

    @property
    def total(self) -> int:
        return sum(self.values)


@dataclass(frozen=True)
class Row:
    label: str
    values: tuple[int, ...]
    total: int


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    noun: str
    source: str
    range: Range
    buckets: tuple[Bucket, ...]
    series: tuple[Series, ...]
    # Sentences beside the chart (numbers for the whole range, what is not counted).
    facts: tuple[str, ...] = field(default_factory=tuple)

    @property
    def totals(self) -> tuple[int, ...]:
        return tuple(sum(s.values[index] for s in self.series)
                     for index in range(len(self.buckets)))

    @property
    def total(self) -> int:
        return sum(self.totals)

    @property
    def stacked(self) -> bool:
        return len(self.series) > 1

    @property
    def summary(self) -> str:
        """The chart in one sentence, for screen readers (and the SVG's description)."""
        text = f"{self.total:,} {self.noun} in {self.range.words}"
        if self.stacked and self.total:
            text += ": " + ", ".join(f"{s.total:,} {s.label}" for s in self.series)
        totals = self.totals
        if self.total:
            busiest = max(range(len(totals)), key=lambda index: (totals[index], index))
            text += (f". The most, {totals[busiest]:,}, "
                     f"{'in' if self.range.unit == HOUR else 'on'} "
                     f"{self.buckets[busiest].long_label}")
        return text + "."

    @property
    def rows(self) -> list[Row]:
        """The table: one row per bucket, newest first."""
        totals = self.totals
        return [Row(bucket.long_label, tuple(s.values[index] for s in self.series),
                    totals[index])
                for index, bucket in reversed(list(enumerate(self.buckets)))]

    @property
    def drawing(self) -> svg.Drawing:
        hours = ([bucket.start.hour for bucket in self.buckets]
                 if self.range.unit == HOUR else None)
        return svg.draw([bucket.label for bucket in self.buckets],
                        [bucket.long_label for bucket in self.buckets],
                        [(s.label, s.tone, list(s.values)) for s in self.series],
                        svg.labelled_buckets(len(self.buckets), hours))


def build(key: str, chosen: Range, buckets: list[Bucket],
          counts: list[dict[str, int]], facts: tuple[str, ...] = ()) -> Chart:
    """The chart ``key`` from each bucket's counts by series (``counts[i]`` for
    ``buckets[i]``); series that are zero all along are left out unless always shown."""
    spec = SPECS[key]
    series = []
    for item in spec.series:
        values = tuple(int(bucket_counts.get(item.key, 0)) for bucket_counts in counts)
        if item.always or any(values):
            series.append(Series(item.key, item.label, item.tone, values))
    return Chart(key, spec.title, spec.noun, spec.source, chosen, tuple(buckets),
                 tuple(series), facts)
