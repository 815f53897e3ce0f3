"""Progress of a long import: a tqdm bar on a terminal, a plain line every tenth otherwise
(a log or CI output wants lines, not carriage returns)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tqdm import tqdm  # type: ignore[import-untyped]  # tqdm ships no type hints


@contextmanager
def progress(total: int, unit: str) -> Iterator[Callable[[int], None]]:
    """Yields `advance(n)`: n more of `total` done."""
    if sys.stderr.isatty():
        with tqdm(total=total, unit=unit, unit_scale=True, file=sys.stderr) as bar:
            yield bar.update
        return
    done = reported = 0

    def advance(count: int) -> None:
        nonlocal done, reported
        done += count
        if done * 10 // total > reported * 10 // total or done == total:
            reported = done
            print(f"{done}/{total} {unit}s sent", file=sys.stderr, flush=True)

    yield advance
