"""One experiment's impressions and qualified plays, per cell, from the gateway's logs.

Rewards are joined as the learning loop joins them (learning/dataset.py): a
tile's qualified play shares its page id and title id and falls within the
reward window. Cells are the allocation logged with each page (intent to
treat), whatever policy then served it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from learning.dataset import DEFAULT_REWARD_WINDOW_S, rewarded_pages


@dataclass
class _Pages:
    times: list[int] = field(default_factory=list)
    viewers: list[int] = field(default_factory=list)
    impressions: list[int] = field(default_factory=list)
    plays: list[int] = field(default_factory=list)
    policies: Counter[str] = field(default_factory=Counter)
    viewer_index: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class CellPages:
    """A cell's pages in log order, as columns: when, whose (an index into `viewer_ids`),
    how many titles shown and how many of them played."""

    viewer_ids: tuple[str, ...]
    times_ms: np.ndarray
    viewers: np.ndarray
    impressions: np.ndarray
    plays: np.ndarray
    policies: dict[str, int]  # the logged policy → pages served by it

    def per_viewer(self, until_ms: float = np.inf) -> tuple[np.ndarray, np.ndarray]:
        """(plays, impressions) of each viewer seen by `until_ms`, one entry a viewer."""
        keep = self.times_ms <= until_ms
        size = len(self.viewer_ids)
        plays = np.bincount(self.viewers[keep], self.plays[keep], minlength=size)
        impressions = np.bincount(self.viewers[keep], self.impressions[keep], minlength=size)
        seen = impressions > 0
        return plays[seen], impressions[seen]

    @classmethod
    def empty(cls) -> CellPages:
        return _columns(_Pages())


@dataclass(frozen=True)
class ExperimentLog:
    cells: dict[str, CellPages]  # cell name → its pages, cells in order of first page
    experiments: frozenset[str]  # every experiment the log names ("" is production)
    pages: int  # all pages in the log


def _columns(pages: _Pages) -> CellPages:
    return CellPages(
        viewer_ids=tuple(pages.viewer_index),
        times_ms=np.array(pages.times, dtype=np.int64),
        viewers=np.array(pages.viewers, dtype=np.int64),
        impressions=np.array(pages.impressions, dtype=np.float64),
        plays=np.array(pages.plays, dtype=np.float64),
        policies=dict(pages.policies),
    )


def read_experiment(
    directory: Path, experiment: str, reward_window_s: float = DEFAULT_REWARD_WINDOW_S
) -> ExperimentLog:
    cells: dict[str, _Pages] = {}
    names: set[str] = set()
    count = 0
    for page, rewards in rewarded_pages(directory, reward_window_s):
        count += 1
        names.add(page.experiment)
        if page.experiment != experiment or not page.tiles:
            continue
        pages = cells.setdefault(page.cell, _Pages())
        pages.times.append(page.time_ms)
        pages.viewers.append(pages.viewer_index.setdefault(page.user_id, len(pages.viewer_index)))
        pages.impressions.append(len(page.tiles))
        pages.plays.append(sum(rewards))
        pages.policies[page.policy] += 1
    return ExperimentLog(
        {name: _columns(pages) for name, pages in cells.items()}, frozenset(names), count
    )
