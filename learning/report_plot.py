"""The report's PNG: each cell's cumulative take rate over time, with its 95 % band.

Drawn with pillow (a dependency already; matplotlib is not installed): at each
of POINTS times from the experiment's first page to its last, the take rate of
the cell's pages so far, with the interval the report gives for them
(clustered by viewer). The band narrows as viewers accumulate; cells whose
bands stay apart by the end differ.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from learning.clustered import take_rate
from learning.experiment_log import CellPages, ExperimentLog
from learning.experiment_report import Report

POINTS = 60
SIZE = (960, 540)
MARGIN = (80, 50, 200, 60)  # left, top, right, bottom: the legend goes on the right
COLOURS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189))
BAND_ALPHA = 60
TICKS = 5
MIN_VIEWERS = 10


def cumulative(pages: CellPages, times_ms: np.ndarray) -> np.ndarray:
    """(len(times_ms), 3): the take rate and its interval on the cell's pages up to each time;
    NaN until the cell has MIN_VIEWERS viewers (a band from fewer says little), or all of its
    viewers if it has fewer."""
    least = min(MIN_VIEWERS, len(pages.viewer_ids))
    out = np.full((times_ms.size, 3), np.nan)
    for i, until in enumerate(times_ms):
        plays, impressions = pages.per_viewer(float(until))
        if impressions.size >= max(least, 1):
            estimate = take_rate(plays, impressions)
            out[i] = estimate.value, estimate.low, estimate.high
    return out


def _series(report: Report, log: ExperimentLog) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    pages = [log.cells[cell.cell] for cell in report.cells if cell.cell in log.cells]
    first = min(int(p.times_ms.min()) for p in pages)
    last = max(int(p.times_ms.max()) for p in pages)
    times = np.linspace(first, last, POINTS)
    return times, {name: cumulative(log.cells[name], times) for name in log.cells}


class _Axes:
    """Maps data (time ms, take rate) to pixels inside the margins."""

    def __init__(self, times: np.ndarray, low: float, high: float) -> None:
        self.left, self.top = MARGIN[0], MARGIN[1]
        self.right, self.bottom = SIZE[0] - MARGIN[2], SIZE[1] - MARGIN[3]
        self.t0, self.t1 = float(times[0]), max(float(times[-1]), float(times[0]) + 1.0)
        self.low, self.high = low, high if high > low else low + 1e-3

    def point(self, time_ms: float, rate: float) -> tuple[float, float]:
        x = self.left + (time_ms - self.t0) / (self.t1 - self.t0) * (self.right - self.left)
        y = self.bottom - (rate - self.low) / (self.high - self.low) * (self.bottom - self.top)
        return x, y


def _frame(
    draw: ImageDraw.ImageDraw, axes: _Axes, font: ImageFont.FreeTypeFont | ImageFont.ImageFont
) -> None:
    draw.rectangle((axes.left, axes.top, axes.right, axes.bottom), outline=(0, 0, 0))
    for i in range(TICKS + 1):
        rate = axes.low + (axes.high - axes.low) * i / TICKS
        _, y = axes.point(axes.t0, rate)
        draw.line((axes.left - 5, y, axes.left, y), fill=(0, 0, 0))
        draw.text((axes.left - 8, y), f"{rate:.3f}", fill=(0, 0, 0), font=font, anchor="rm")
    unit, per = _time_unit(axes.t1 - axes.t0)
    for i in range(TICKS + 1):
        elapsed = (axes.t1 - axes.t0) * i / TICKS
        x, _ = axes.point(axes.t0 + elapsed, axes.low)
        draw.line((x, axes.bottom, x, axes.bottom + 5), fill=(0, 0, 0))
        draw.text(
            (x, axes.bottom + 8), f"{elapsed / per:.3g}", fill=(0, 0, 0), font=font, anchor="mt"
        )
    start = datetime.fromtimestamp(axes.t0 / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    label = f"{unit} since the first page ({start})"
    middle = (axes.left + axes.right) / 2
    draw.text((middle, SIZE[1] - 18), label, fill=(0, 0, 0), font=font, anchor="mm")


def _time_unit(span_ms: float) -> tuple[str, float]:
    for unit, per in (("days", 86_400_000.0), ("hours", 3_600_000.0), ("minutes", 60_000.0)):
        if span_ms >= 2 * per:
            return unit, per
    return "seconds", 1000.0


def write_plot(report: Report, log: ExperimentLog, path: Path) -> None:
    """The PNG at `path` (its folder must exist)."""
    times, series = _series(report, log)
    finite = np.concatenate([s[np.isfinite(s).all(axis=1)] for s in series.values()])
    axes = _Axes(times, float(finite[:, 1].min()), float(finite[:, 2].max()))
    font = ImageFont.load_default(size=13)
    image = Image.new("RGBA", SIZE, (255, 255, 255, 255))
    bands = Image.new("RGBA", SIZE, (0, 0, 0, 0))
    band_draw = ImageDraw.Draw(bands)
    lines = []
    for index, cell in enumerate(report.cells):
        if cell.cell not in series:
            continue
        colour = COLOURS[index % len(COLOURS)]
        values = series[cell.cell]
        keep = np.isfinite(values).all(axis=1)
        upper = [axes.point(t, v[2]) for t, v in zip(times[keep], values[keep], strict=True)]
        lower = [axes.point(t, v[1]) for t, v in zip(times[keep], values[keep], strict=True)]
        if len(upper) > 1:
            band_draw.polygon(upper + lower[::-1], fill=(*colour, BAND_ALPHA))
        centre = [axes.point(t, v[0]) for t, v in zip(times[keep], values[keep], strict=True)]
        lines.append((cell.cell, colour, centre))
    image = Image.alpha_composite(image, bands)
    draw = ImageDraw.Draw(image)
    _frame(draw, axes, font)
    for index, (name, colour, centre) in enumerate(lines):
        if len(centre) > 1:
            draw.line(centre, fill=colour, width=2)
        y = axes.top + 10 + 22 * index
        draw.line((axes.right + 15, y, axes.right + 40, y), fill=colour, width=3)
        draw.text((axes.right + 48, y), name, fill=(0, 0, 0), font=font, anchor="lm")
    title = f"{report.experiment}: cumulative take rate per cell, 95 % band (clustered by viewer)"
    draw.text((SIZE[0] / 2, 22), title, fill=(0, 0, 0), font=font, anchor="mm")
    image.convert("RGB").save(path, format="PNG")
