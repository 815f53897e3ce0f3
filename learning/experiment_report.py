"""An experiment's result per cell: take rate and lift with intervals, and the sample-ratio check.

Intervals are clustered by viewer with the delta method (learning/clustered.py);
docs/experiments.md#reading-the-result says why and shows their coverage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.stats import chisquare

from learning.clustered import Estimate, lift, take_rate
from learning.experiment_log import CellPages, ExperimentLog

LEVEL = 0.95
SRM_P = 0.001  # below this, the viewers per cell are not what the weights allocate
CONTROL_POLICY = "default"
CONTROL_NAME = "control"
_NONE = Estimate(math.nan, math.nan, math.nan)


class ReportRefused(ValueError):
    """The report cannot be made from this input; the message is one line naming it."""


@dataclass(frozen=True)
class CellResult:
    cell: str
    policy: str  # the experiments file's, else the one the log names most
    weight: float | None
    viewers: int
    impressions: int
    plays: int
    take_rate: Estimate
    lift: Estimate | None  # against the control; None for the control itself


@dataclass(frozen=True)
class SampleRatio:
    """Chi-square of the viewers per cell against the weights."""

    chi_square: float
    degrees_of_freedom: int
    p_value: float
    expected: tuple[float, ...]  # viewers, in the cells' order

    @property
    def mismatch(self) -> bool:
        return self.p_value < SRM_P


@dataclass(frozen=True)
class Report:
    experiment: str
    control: str
    cells: tuple[CellResult, ...]
    sample_ratio: SampleRatio | None  # None: no weights were given


@dataclass(frozen=True)
class Design:
    """What the report knows of the experiment besides its log (all optional)."""

    weights: dict[str, float] | None = None  # cell → weight, in the file's order
    policies: dict[str, str] | None = None  # cell → policy, from the experiments file
    control: str | None = None  # --control


def _logged_policy(pages: CellPages) -> str:
    return max(pages.policies, key=pages.policies.__getitem__) if pages.policies else ""


def _control(names: list[str], policies: dict[str, str], chosen: str | None) -> str:
    """--control, else the cell whose policy is `default` (the one named `control` if several
    are), else the cell named `control`."""
    if chosen is not None:
        if chosen not in names:
            raise ReportRefused(f"--control: {chosen!r} is not a cell (cells: {', '.join(names)})")
        return chosen
    defaults = [name for name in names if policies[name] == CONTROL_POLICY]
    if len(defaults) == 1:
        return defaults[0]
    candidates = defaults or names
    if CONTROL_NAME in candidates:
        return CONTROL_NAME
    if defaults:
        return defaults[0]
    raise ReportRefused(
        f"no control cell: none has policy {CONTROL_POLICY!r} or is named {CONTROL_NAME!r}; "
        "name one with --control"
    )


def _sample_ratio(viewers: list[int], weights: list[float]) -> SampleRatio | None:
    total = sum(viewers)
    if len(viewers) < 2 or total == 0:
        return None
    expected = [total * weight / sum(weights) for weight in weights]
    result = chisquare(viewers, expected)
    return SampleRatio(
        float(result.statistic), len(viewers) - 1, float(result.pvalue), tuple(expected)
    )


def build_report(name: str, log: ExperimentLog, design: Design) -> Report:
    weights = design.weights or {}
    if weights and (unweighted := [cell for cell in log.cells if cell not in weights]):
        raise ReportRefused(
            f"cells {', '.join(map(repr, unweighted))} are logged for {name!r} but have no weight "
            f"(weights: {', '.join(f'{c}={w:g}' for c, w in weights.items())})"
        )
    names = list(weights) + [cell for cell in log.cells if cell not in weights]
    pages = {cell: log.cells.get(cell, CellPages.empty()) for cell in names}
    policies = {
        cell: (design.policies or {}).get(cell) or _logged_policy(pages[cell]) for cell in names
    }
    control = _control(names, policies, design.control)
    per_viewer = {cell: pages[cell].per_viewer() for cell in names}

    def result(cell: str) -> CellResult:
        plays, impressions = per_viewer[cell]
        shown = impressions.size > 0
        cell_lift = None
        if cell != control:
            both = shown and per_viewer[control][1].size > 0
            cell_lift = lift(per_viewer[cell], per_viewer[control]) if both else _NONE
        return CellResult(
            cell=cell,
            policy=policies[cell],
            weight=weights.get(cell),
            viewers=int(impressions.size),
            impressions=int(impressions.sum()),
            plays=int(plays.sum()),
            take_rate=take_rate(plays, impressions) if shown else _NONE,
            lift=cell_lift,
        )

    cells = tuple(result(cell) for cell in names)
    sample_ratio = (
        _sample_ratio([c.viewers for c in cells], [weights[c.cell] for c in cells])
        if weights
        else None
    )
    return Report(name, control, cells, sample_ratio)


def _number(value: float) -> float | None:
    """JSON has no NaN: an undefined figure is null."""
    return None if math.isnan(value) else value


def _estimate(estimate: Estimate) -> dict:
    return {
        "value": _number(estimate.value),
        "low": _number(estimate.low),
        "high": _number(estimate.high),
    }


def report_json(report: Report) -> dict:
    sample_ratio = report.sample_ratio
    return {
        "experiment": report.experiment,
        "control": report.control,
        "level": LEVEL,
        "interval_method": "delta method, clustered by viewer",
        "cells": [
            {
                "cell": cell.cell,
                "policy": cell.policy,
                "weight": cell.weight,
                "viewers": cell.viewers,
                "impressions": cell.impressions,
                "qualified_plays": cell.plays,
                "take_rate": _estimate(cell.take_rate),
                "lift": None if cell.lift is None else _estimate(cell.lift),
            }
            for cell in report.cells
        ],
        "sample_ratio": None
        if sample_ratio is None
        else {
            "chi_square": sample_ratio.chi_square,
            "degrees_of_freedom": sample_ratio.degrees_of_freedom,
            "p_value": sample_ratio.p_value,
            "expected_viewers": list(sample_ratio.expected),
            "mismatch": sample_ratio.mismatch,
        },
    }


def _rate(estimate: Estimate) -> str:
    if math.isnan(estimate.value):
        return "n/a"
    return f"{estimate.value:.4f} [{estimate.low:.4f}, {estimate.high:.4f}]"


def _percent(value: float) -> str:
    return f"{100 * value:+.1f} %"


def _lift(estimate: Estimate | None) -> str:
    if estimate is None:
        return "(control)"
    if math.isnan(estimate.value):
        return "n/a"
    if math.isnan(estimate.low):
        return f"{_percent(estimate.value)} [n/a]"
    return f"{_percent(estimate.value)} [{_percent(estimate.low)}, {_percent(estimate.high)}]"


def sample_ratio_line(report: Report) -> str:
    sample_ratio = report.sample_ratio
    if sample_ratio is None:
        return "sample ratio: not checked (no weights: pass --experiments FILE or --weights)"
    observed = ", ".join(str(cell.viewers) for cell in report.cells)
    expected = ", ".join(f"{value:.1f}" for value in sample_ratio.expected)
    figures = (
        f"chi-square {sample_ratio.chi_square:.2f} ({sample_ratio.degrees_of_freedom} df), "
        f"p = {sample_ratio.p_value:.3g}"
    )
    if sample_ratio.mismatch:
        return (
            f"WARNING: SAMPLE RATIO MISMATCH: {figures} < {SRM_P:g}: viewers per cell "
            f"{observed}, the weights expect {expected}. The allocation or the logging is "
            "broken; do not trust the take rates or the lift"
        )
    return f"sample ratio: {figures}: viewers per cell {observed} match the weights ({expected})"


def report_table(report: Report) -> str:
    header = (
        "cell",
        "policy",
        "weight",
        "viewers",
        "impressions",
        "plays",
        "take rate [95 % CI]",
        "lift vs control [95 % CI]",
    )
    rows = [
        (
            cell.cell,
            cell.policy,
            "" if cell.weight is None else f"{cell.weight:g}",
            str(cell.viewers),
            str(cell.impressions),
            str(cell.plays),
            _rate(cell.take_rate),
            _lift(cell.lift),
        )
        for cell in report.cells
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    numeric = {2, 3, 4, 5}

    def line(row: tuple[str, ...]) -> str:
        cells = (
            text.rjust(width) if i in numeric else text.ljust(width)
            for i, (text, width) in enumerate(zip(row, widths, strict=True))
        )
        return "  ".join(cells).rstrip()

    title = (
        f"experiment {report.experiment}: control {report.control}; "
        "95 % intervals clustered by viewer (delta method)"
    )
    return "\n".join([title, line(header), *map(line, rows), sample_ratio_line(report)])
