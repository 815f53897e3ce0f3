"""Where `keyart simulate` reads what the suite logged: the gateway's segment files, or the
dataset the collector writes from the event stream (`--sink nats://…`).

Both give the same three things: the logged pages (to score a model's greedy
choice against the hidden click model), the feature rows their candidates
point at, and the training data.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type hints

from common.features import CONTEXT_DIM, VIEWER_DIM
from common.log_schema import PageImpression, TileDecision
from common.storage import Location
from learning.dataset import BanditData, Matrices, load, page_matrices, read_pages
from learning.parquet_layout import DECISIONS, parts, read_info, read_part
from learning.parquet_reader import ActionSets, load_dataset

PAGE_COLUMNS = [
    "page_id",
    "viewer_id",
    "time_ms",
    "viewer",
    "context",
    "title_id",
    "action_set",
    "chosen",
    "propensity",
    "score",
    "model_version",
    "policy",
    "experiment",
    "cell",
    "device_type",
]


class PageLog(Protocol):
    source: str  # what the model card names as its training data

    def page_ids(self) -> set[str]: ...

    def pages(self) -> Iterator[PageImpression]: ...

    def matrices(self) -> Matrices: ...

    def training_data(self) -> BanditData: ...


class SegmentLog:
    """The gateway's segment files (GATEWAY_LOG_SINK=files)."""

    def __init__(self, logs: Path, artwork_target: str) -> None:
        self.source = str(logs)
        self._logs = logs
        self._artwork = artwork_target

    def page_ids(self) -> set[str]:
        return {page.page_id for page in read_pages(self._logs)}

    def pages(self) -> Iterator[PageImpression]:
        return read_pages(self._logs)

    def matrices(self) -> Matrices:
        return page_matrices(self._logs, self._artwork)

    def training_data(self) -> BanditData:
        return load(self._logs, artwork_target=self._artwork)


class CollectedLog:
    """The collector's dataset. A page is rebuilt from its decisions; each tile's candidates
    resolve in its action set's rows (the dataset keeps candidates per action set, not per
    catalog), so a tile's `catalog_version` here names its action set and `first_row` is 0.
    What the dataset does not keep (`viewer_known`, a tile's `ranked` and `personalized`,
    the context beyond the device) is not used by the simulator: set to True, or left out."""

    def __init__(self, dataset: Location) -> None:
        self.source = str(dataset)
        self._root = dataset

    def _tables(self, columns: list[str]) -> Iterator[pa.Table]:
        for part in parts(self._root, DECISIONS):
            yield read_part(part, columns)

    def page_ids(self) -> set[str]:
        if not (self._root / DECISIONS).exists():
            return set()
        return {page for table in self._tables(["page_id"]) for page in table.column(0).to_pylist()}

    def pages(self) -> Iterator[PageImpression]:
        sets = ActionSets.read(self._root, read_info(self._root))
        candidates = self._candidate_ids()
        rows: dict[str, list[dict]] = {}
        for table in self._tables(PAGE_COLUMNS):
            for row in table.to_pylist():
                rows.setdefault(row["page_id"], []).append(row)
        for decisions in rows.values():
            yield _page(decisions, candidates, sets)

    def _candidate_ids(self) -> dict[str, tuple[str, ...]]:
        found: dict[str, tuple[str, ...]] = {}
        for part in parts(self._root, "action_sets"):
            table = read_part(part, ["action_set", "candidate_ids"])
            for name, ids in zip(*(c.to_pylist() for c in table.columns), strict=True):
                found.setdefault(name, tuple(ids))
        return found

    def matrices(self) -> Matrices:
        sets = ActionSets.read(self._root, read_info(self._root))
        return {
            name: sets.features[start : start + sets.count[name]]
            for name, start in sets.start.items()
        }

    def training_data(self) -> BanditData:
        return load_dataset(self._root)


def _page(
    decisions: list[dict], candidates: dict[str, tuple[str, ...]], sets: ActionSets
) -> PageImpression:
    first = decisions[0]
    tiles = tuple(
        TileDecision(
            title_id=row["title_id"],
            candidate_ids=candidates[row["action_set"]],
            catalog_version=row["action_set"],
            first_row=0,
            chosen=row["chosen"],
            propensity=row["propensity"],
            score=row["score"] if row["score"] is not None else float("nan"),
            ranked=True,
            personalized=True,
        )
        for row in decisions
        if row["action_set"] in sets.start
    )
    return PageImpression(
        page_id=first["page_id"],
        user_id=first["viewer_id"],
        time_ms=first["time_ms"],
        context={"device_type": first["device_type"]},
        context_features=np.asarray(first["context"], np.float32).reshape(CONTEXT_DIM),
        viewer_known=True,
        viewer_features=np.asarray(first["viewer"], np.float32).reshape(VIEWER_DIM),
        model_version=first["model_version"],
        policy=first["policy"],
        tiles=tiles,
        experiment=first["experiment"],
        cell=first["cell"],
    )
