"""The Parquet dataset (learning/parquet_layout.py) read back as BanditData, in bounded batches.

Action sets are read whole (each is stored once, so they are small beside the
decisions); decisions are read `batch_size` at a time and their candidates'
rows gathered from the action sets, so memory is bounded by the batch, not
by the dataset.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type hints
from keyart.gateway.v1.gateway_service_pb2 import EventKind

from common.storage import Location
from learning.dataset import (
    CLOCK_SKEW_MS,
    DEFAULT_REWARD_WINDOW_S,
    REWARD_KIND,
    BanditData,
    play_times,
)
from learning.parquet_layout import (
    ACTION_SETS,
    DECISIONS,
    FEEDBACK,
    TARGET_PROBABILITIES,
    DatasetError,
    DatasetInfo,
    date_of,
    part_file,
    parts,
    read_info,
    read_part,
)

DEFAULT_BATCH = 4096
FEEDBACK_JOIN = ["event_id", "page_id", "title_id", "kind", "time_ms"]  # read for the rewards
_REWARD_KIND_NAME = EventKind.Name(REWARD_KIND).removeprefix("EVENT_KIND_")


@dataclass(frozen=True)
class ActionSets:
    """Every action set's candidates: rows `start[id] … start[id] + count[id] - 1` of `features`."""

    features: np.ndarray  # (S, action_dim) float32
    start: dict[str, int]
    count: dict[str, int]

    @classmethod
    def read(cls, root: Location, info: DatasetInfo) -> ActionSets:
        blocks: list[np.ndarray] = []
        start: dict[str, int] = {}
        count: dict[str, int] = {}
        at = 0
        for path in parts(root, ACTION_SETS):
            table = read_part(path)
            for name, features in zip(
                table.column("action_set").to_pylist(), table.column("features"), strict=True
            ):
                if name in start:
                    continue  # the same set written again (its rows are the same by construction)
                rows = _matrix(features.values, info.action_dim)
                start[name], count[name] = at, len(rows)
                blocks.append(rows)
                at += len(rows)
        features = np.concatenate(blocks) if blocks else np.zeros((0, info.action_dim), np.float32)
        return cls(features, start, count)


def _matrix(values: pa.Array, width: int) -> np.ndarray:
    """A list of fixed-size float lists as an (n, width) float32 matrix."""
    flat = values.flatten() if pa.types.is_fixed_size_list(values.type) else values
    return np.asarray(flat.to_numpy(zero_copy_only=False), dtype=np.float32).reshape(-1, width)


@dataclass(frozen=True)
class DecisionBatch:
    data: BanditData
    decision_ids: list[str]
    path: Location | None = None  # the part file the batch was read from
    first_row: int = 0  # the batch's first row within that part (0-based)
    target_probabilities: pa.Array | None = None  # the optional column; None when absent


class Plays:
    """Qualified plays by (page id, title id), each event id counted once: the reward join."""

    def __init__(self, root: Location) -> None:
        self.times = play_times(
            (event_id, kind == _REWARD_KIND_NAME, page_id, title_id, at)
            for path in parts(root, FEEDBACK)
            for event_id, page_id, title_id, kind, at in zip(
                *(column.to_pylist() for column in read_part(path, FEEDBACK_JOIN)),
                strict=True,
            )
        )

    def rewards(
        self, page_ids: list[str], title_ids: list[str], times_ms: np.ndarray, window_s: float
    ) -> np.ndarray:
        window_ms = window_s * 1000
        return np.array(
            [
                any(
                    -CLOCK_SKEW_MS <= at - shown <= window_ms
                    for at in self.times.get((page, title), ())
                )
                for page, title, shown in zip(page_ids, title_ids, times_ms.tolist(), strict=True)
            ],
            dtype=np.float64,
        )


def decision_parts(root: Location, since_ms: int | None = None) -> list[Location]:
    """The decisions' part files; with `since_ms`, only those of date partitions that can hold
    a decision at or after it."""
    found = parts(root, DECISIONS)
    if since_ms is None:
        return found
    first = f"date={date_of(since_ms)}"
    return [
        path
        for path in found
        if not path.parent().name.startswith("date=") or path.parent().name >= first
    ]


def read_batches(
    root: Location,
    batch_size: int = DEFAULT_BATCH,
    reward_window_s: float = DEFAULT_REWARD_WINDOW_S,
    since_ms: int | None = None,
) -> Iterator[DecisionBatch]:
    """The dataset's decisions, `batch_size` at a time, in part-file order; with `since_ms`,
    the parts of dates before it are not read (a batch may still hold older decisions)."""
    info = read_info(root)
    sets = ActionSets.read(root, info)
    plays = Plays(root)
    for path in decision_parts(root, since_ms):
        first_row = 0
        for batch in part_file(path).iter_batches(batch_size=batch_size):
            yield decision_batch(path, first_row, batch, info, sets, plays, reward_window_s)
            first_row += batch.num_rows


def decision_batch(
    path: Location,
    first_row: int,
    batch: pa.RecordBatch,
    info: DatasetInfo,
    sets: ActionSets,
    plays: Plays,
    reward_window_s: float,
) -> DecisionBatch:
    """One record batch of decisions (columns as in decisions_schema(info)) as BanditData; also
    what a Spark executor calls on its share of the decisions (learning/spark_evaluate.py)."""
    names = batch.column("action_set").to_pylist()
    missing = {name for name in names if name not in sets.start}
    if missing:
        raise DatasetError(
            f"{path}: decisions name action sets not in {ACTION_SETS}/: {sorted(missing)[:3]}"
        )
    counts = np.array([sets.count[name] for name in names], dtype=np.int64)
    firsts = np.array([sets.start[name] for name in names], dtype=np.int64)
    rows = np.repeat(firsts - (np.cumsum(counts) - counts), counts) + np.arange(counts.sum())
    reward = batch.column("reward").to_numpy(zero_copy_only=False).astype(np.float64)
    times = batch.column("time_ms").to_numpy().astype(np.int64)
    unknown = np.isnan(reward)
    if unknown.any():
        pages = batch.column("page_id").to_pylist()
        titles = batch.column("title_id").to_pylist()
        picked = np.flatnonzero(unknown)
        reward[picked] = plays.rewards(
            [pages[i] for i in picked], [titles[i] for i in picked], times[picked], reward_window_s
        )
    data = BanditData(
        _matrix(batch.column("viewer"), info.viewer_dim),
        _matrix(batch.column("context"), info.context_dim),
        sets.features[rows],
        counts,
        batch.column("chosen").to_numpy().astype(np.int64),
        batch.column("propensity").to_numpy().astype(np.float64),
        reward,
        times,
    )
    named = TARGET_PROBABILITIES.name
    return DecisionBatch(
        data,
        batch.column("decision_id").to_pylist(),
        path,
        first_row,
        batch.column(named) if named in batch.schema.names else None,
    )


def concatenate(batches: list[BanditData]) -> BanditData:
    """One BanditData of all `batches` (for what needs the whole dataset at once: a fit)."""
    fields = ("viewer", "context", "artwork", "counts", "chosen", "propensity", "reward", "time_ms")
    return BanditData(*(np.concatenate([getattr(b, name) for b in batches]) for name in fields))


def load_dataset(
    root: Location, reward_window_s: float = DEFAULT_REWARD_WINDOW_S, since_ms: int | None = None
) -> BanditData:
    """The whole dataset as one BanditData (its candidates' rows materialized); with
    `since_ms`, only the decisions made at or after it."""
    batches = [
        batch.data if since_ms is None else batch.data.subset(batch.data.time_ms >= since_ms)
        for batch in read_batches(root, reward_window_s=reward_window_s, since_ms=since_ms)
    ]
    if not batches or not any(len(batch) for batch in batches):
        since = "" if since_ms is None else f" since {date_of(since_ms)} ({since_ms} ms)"
        raise DatasetError(f"{root}: the dataset holds no decisions{since}")
    return concatenate(batches)
