"""The ranker's warning about titles its model scored NaN or infinity: once per model
version at first, then at most once per interval, with the counts since the last."""

from __future__ import annotations

from typing import Any

from services.ranker.unscored_log import UnscoredLog
from tests.unit.test_log_rate_limit import FakeClock


class Lines:
    """Records the warnings logged, as (event, fields)."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.lines.append((event, fields))


def test_first_page_of_each_version_is_logged_then_one_line_per_interval_with_counts() -> None:
    clock, lines = FakeClock(), Lines()
    unscored = UnscoredLog(60.0, clock, lines)
    unscored.record("m1", 2, 10)
    unscored.record("m1", 1, 10)
    unscored.record("m1", 3, 10)
    unscored.record("m2", 5, 8)  # another version: logged at once
    clock.now += 60.0
    unscored.record("m1", 1, 10)
    event = "model scored titles NaN or infinity"
    assert lines.lines == [
        (event, {"model_version": "m1", "pages": 1, "unscored_titles": 2, "of_titles": 10}),
        (event, {"model_version": "m2", "pages": 1, "unscored_titles": 5, "of_titles": 8}),
        (event, {"model_version": "m1", "pages": 3, "unscored_titles": 5, "of_titles": 30}),
    ]
