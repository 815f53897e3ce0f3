"""What the benchmarks call and how they report it: the reference page's method and viewer."""

from __future__ import annotations

from loadgen.runner import percentile

RENDER_PAGE = "/keyart.gateway.v1.PageService/RenderPage"
VIEWER = "romance-fan"


def ms(values: list[float], pct: float) -> float:
    """The `pct` percentile of durations in seconds, in milliseconds."""
    return percentile(values, pct) * 1000
