"""The geometry of a bar chart drawn as inline SVG: bars (stacked by series), a y axis with
round steps and a few x labels. Only numbers and words: the template writes the elements, and
colours come from CSS classes (the console's CSP allows no inline styles).

Coordinates are in the viewBox's units; the SVG scales to its box, so the viewBox is narrow
enough that its text stays legible on a phone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

WIDTH, HEIGHT = 400, 190
LEFT, RIGHT, TOP, BOTTOM = 44, 6, 10, 26
PLOT_WIDTH, PLOT_HEIGHT = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
MAX_STEPS, MIN_EMPTY_STEPS = 5, 4
# At most this many x labels fit under the plot at the font size console.css gives them.
MAX_X_LABELS = 7


@dataclass(frozen=True)
class Segment:
    x: float
    y: float
    width: float
    height: float
    tone: str
    # Said by the browser on hover: "Mon 30 Nov: 12 password".
    title: str


@dataclass(frozen=True)
class Tick:
    x: float
    y: float
    text: str


@dataclass(frozen=True)
class Drawing:
    width: int
    height: int
    segments: tuple[Segment, ...]
    # Horizontal grid lines with their labels (y ticks), and labels under the bars.
    grid: tuple[Tick, ...]
    x_labels: tuple[Tick, ...]
    plot_left: int
    plot_right: int
    baseline: float


def round_top(largest: int) -> tuple[int, int]:
    """(step, top) of the y axis: the smallest step of 1, 2 or 5 times a power of ten that
    reaches ``largest`` in at most MAX_STEPS steps (at least two; four for an empty chart)."""
    if largest <= 0:
        return 1, MIN_EMPTY_STEPS
    power = 1
    while True:
        for factor in (1, 2, 5):
            step = factor * power
            steps = math.ceil(largest / step)
            if steps <= MAX_STEPS:
                return step, step * max(steps, 2)
        power *= 10


def short_number(value: int) -> str:
    """1200 -> "1.2k", 3000000 -> "3M": axis labels stay narrow."""
    for size, suffix in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if value >= size:
            shown = f"{value / size:.1f}".rstrip("0").rstrip(".")
            return shown + suffix
    return str(value)


def draw(labels: list[str], long_labels: list[str], series: list[tuple[str, str, list[int]]],
         labelled: list[bool]) -> Drawing:
    """``series``: (label, tone, value per bucket), stacked in this order from the bottom.
    ``labelled``: which buckets get an x label."""
    count = len(labels)
    totals = [sum(values[index] for _, _, values in series) for index in range(count)]
    step, top = round_top(max(totals, default=0))
    slot = PLOT_WIDTH / max(count, 1)
    bar = max(1.0, slot * 0.72)
    baseline = TOP + PLOT_HEIGHT
    segments = []
    for index in range(count):
        x = LEFT + index * slot + (slot - bar) / 2
        y = baseline
        for label, tone, values in series:
            value = values[index]
            if value <= 0:
                continue
            height = value / top * PLOT_HEIGHT
            y -= height
            segments.append(Segment(round(x, 2), round(y, 2), round(bar, 2), round(height, 2),
                                    tone, f"{long_labels[index]}: {value:,} {label}"))
    grid = tuple(Tick(LEFT, round(baseline - PLOT_HEIGHT * step * n / top, 2),
                      short_number(step * n)) for n in range(top // step + 1))
    x_labels = tuple(Tick(round(LEFT + (index + 0.5) * slot, 2), HEIGHT - 8, labels[index])
                     for index in range(count) if labelled[index])
    return Drawing(WIDTH, HEIGHT, tuple(segments), grid, x_labels, LEFT, WIDTH - RIGHT,
                   baseline)


def labelled_buckets(count: int, hourly_starts: list[int] | None) -> list[bool]:
    """Which buckets get an x label: every hour divisible by 6 (hourly), else every one when
    they fit and every 5th day counted back from today."""
    if hourly_starts is not None:
        return [hour % 6 == 0 for hour in hourly_starts]
    if count <= MAX_X_LABELS:
        return [True] * count
    return [(count - 1 - index) % 5 == 0 for index in range(count)]
