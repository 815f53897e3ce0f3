"""`keyart dataset compact`: the gateway's closed log segments into the Parquet dataset.

Each closed segment (common/segment_log.py: no writer holds it) is compacted
whole, once: its parts are written under names made from the segment's name,
then the segment is recorded in the dataset's manifest (`compacted.json`,
written atomically). A crash between the two leaves parts the manifest does
not name; the next run compacts that segment again and rewrites the same
decision and feedback parts under the same names (its action sets are already
known then, so their part stays as it is), so no row is added twice. A segment is in the
dataset when the manifest names it.

An impression segment gives one decision row per title on each page (reward
null: joined from the feedback table when read) and the action sets
`<catalog version>/<title id>` not yet in the dataset, their feature rows
from the catalog snapshots beside the segments. Decisions under a catalog
version without a snapshot are skipped and counted. Parts hold at most
CHUNK_DECISIONS decisions, so memory is bounded by that, not by the segment.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type hints
from keyart.gateway.v1.gateway_service_pb2 import EventKind

from common.catalog_snapshot import load_snapshot
from common.events import FeedbackEvent
from common.features import ARTWORK_DIM, CONTEXT_DIM, SCHEMA_VERSION, VIEWER_DIM
from common.log_schema import FEEDBACK, IMPRESSIONS, LogFormatError, PageImpression
from common.logging import get_logger
from common.segment_log import closed_segments, read_segment, segments
from common.storage import Location
from learning.dataset import candidate_matrix, segment_events, segment_pages
from learning.parquet_layout import (
    ACTION_SETS,
    FEEDBACK_SCHEMA,
    DatasetError,
    DatasetInfo,
    action_sets_schema,
    create,
    decisions_schema,
    parts,
    read_part,
    write_action_sets,
    write_decisions,
    write_feedback,
)
from learning.parquet_writer import fixed_lists

log = get_logger(__name__)

MANIFEST = "compacted.json"
CHUNK_DECISIONS = 65_536  # decisions (or feedback rows) per part file
KEYART_INFO = DatasetInfo(VIEWER_DIM, CONTEXT_DIM, ARTWORK_DIM, SCHEMA_VERSION)


@dataclass
class Counts:
    """What compaction added (for a segment, or summed over a run)."""

    segments: int = 0
    decisions: int = 0
    feedback: int = 0
    action_sets: int = 0
    skipped: int = 0  # decisions under a catalog version with no snapshot

    def add(self, other: Counts) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)


@dataclass
class Summary:
    added: Counts = field(default_factory=Counts)
    open_segments: int = 0  # still being written: left for a later run
    unresolved_versions: set[str] = field(default_factory=set)

    def line(self) -> str:
        added = self.added
        return (
            f"compacted {added.segments} segments: {added.decisions} decisions, "
            f"{added.feedback} feedback rows, {added.action_sets} action sets added; "
            f"{added.skipped} decisions skipped (no catalog snapshot); "
            f"{self.open_segments} open segments left for a later run"
        )


def read_manifest(root: Location) -> dict[str, dict[str, int]]:
    """Segment name → what its compaction added."""
    path = root / MANIFEST
    try:
        return dict(json.loads(path.read_text())["segments"])
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DatasetError(f"{path}: unreadable manifest ({error!r})") from None


def _write_manifest(root: Location, compacted: dict[str, dict[str, int]]) -> None:
    text = json.dumps({"segments": compacted}, indent=1, sort_keys=True) + "\n"
    (root / MANIFEST).write_bytes(text.encode())


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


class Catalogs:
    """Feature rows by catalog version, from the snapshots in a directory (beside the
    segments, or the collector's cache), each read once; a missing one is looked for
    again next time (the collector may have fetched it since)."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._rows: dict[str, np.ndarray] = {}

    def get(self, version: str) -> np.ndarray | None:
        if version not in self._rows:
            rows = load_snapshot(self._directory, version)
            if rows is None:
                return None
            self._rows[version] = rows
        return self._rows[version]


class DecisionChunk:
    """One part's worth of decisions, as columns, and the action sets they add."""

    def __init__(self) -> None:
        self.columns: dict[str, list] = {name: [] for name in decisions_schema(KEYART_INFO).names}
        self.viewers: list[np.ndarray] = []
        self.contexts: list[np.ndarray] = []
        self.new_sets: dict[str, tuple[tuple[str, ...], np.ndarray]] = {}
        self.skipped: Counter[str] = Counter()  # catalog version without a snapshot → decisions

    def __len__(self) -> int:
        return len(self.columns["decision_id"])

    def add_page(self, page: PageImpression, catalogs: Catalogs, known: set[str]) -> None:
        """Adds the page's decisions, counting those whose catalog has no snapshot."""
        for index, tile in enumerate(page.tiles):
            rows = catalogs.get(tile.catalog_version)
            if rows is None:
                self.skipped[tile.catalog_version] += 1
                continue
            action_set = f"{tile.catalog_version}/{tile.title_id}"
            if action_set not in known:
                known.add(action_set)
                features = candidate_matrix(tile, {tile.catalog_version: rows})
                self.new_sets[action_set] = (tile.candidate_ids, features)
            row = {
                "decision_id": f"{page.page_id}/{index}",
                "page_id": page.page_id,
                "time_ms": page.time_ms,
                "viewer_id": page.user_id,
                "title_id": tile.title_id,
                "action_set": action_set,
                "chosen": tile.chosen,
                "propensity": tile.propensity,
                "score": tile.score,
                "reward": None,
                "model_version": page.model_version,
                "policy": page.policy,
                "experiment": page.experiment,
                "cell": page.cell,
                "device_type": page.context.get("device_type"),
                "position": None,
            }
            for name, value in row.items():
                self.columns[name].append(value)
            self.viewers.append(page.viewer_features)
            self.contexts.append(page.context_features)

    def decisions(self) -> pa.Table:
        columns: dict[str, object] = dict(self.columns)
        columns["viewer"] = fixed_lists(np.array(self.viewers).reshape(-1, VIEWER_DIM), VIEWER_DIM)
        columns["context"] = fixed_lists(
            np.array(self.contexts).reshape(-1, CONTEXT_DIM), CONTEXT_DIM
        )
        return pa.table(columns, schema=decisions_schema(KEYART_INFO))

    def action_sets(self) -> pa.Table:
        names = list(self.new_sets)
        return pa.table(
            {
                "action_set": names,
                "candidate_ids": [list(self.new_sets[name][0]) for name in names],
                "features": [self.new_sets[name][1].tolist() for name in names],
            },
            schema=action_sets_schema(KEYART_INFO),
        )


def _check_feature_schema(path: Path) -> None:
    """The segment's features must be keyart's current ones: the dataset says they are."""
    header = next(read_segment(path), None)  # None: empty (its writer died before a line)
    if header is not None and header.get("feature_schema") != SCHEMA_VERSION:
        raise LogFormatError(
            f"{path}: feature schema {header.get('feature_schema')!r}, "
            f"but this keyart's is {SCHEMA_VERSION!r}"
        )


def _chunked_pages(path: Path) -> Iterator[list[PageImpression]]:
    """The segment's pages in runs of about CHUNK_DECISIONS decisions."""
    run: list[PageImpression] = []
    decisions = 0
    for page in segment_pages(path):
        run.append(page)
        decisions += len(page.tiles)
        if decisions >= CHUNK_DECISIONS:
            yield run
            run, decisions = [], 0
    if run:
        yield run


def _compact_impressions(
    path: Path, root: Location, catalogs: Catalogs, known: set[str], summary: Summary
) -> Counts:
    _check_feature_schema(path)
    counts = Counts(segments=1)
    for number, pages in enumerate(_chunked_pages(path)):
        chunk = DecisionChunk()
        for page in pages:
            chunk.add_page(page, catalogs, known)
        name = f"{path.stem}-{number:05d}"
        if chunk.new_sets:  # before the decisions that name them
            write_action_sets(root, chunk.action_sets(), name)
        write_decisions(root, chunk.decisions(), name)
        counts.decisions += len(chunk)
        counts.action_sets += len(chunk.new_sets)
        counts.skipped += chunk.skipped.total()
        summary.unresolved_versions.update(chunk.skipped)
    return counts


def feedback_table(events: list[FeedbackEvent]) -> pa.Table:
    return pa.table(
        {
            "event_id": [e.event_id for e in events],
            "viewer_id": [e.user_id for e in events],
            "page_id": [e.page_id for e in events],
            "title_id": [e.title_id for e in events],
            "artwork_id": [e.artwork_id for e in events],
            "kind": [EventKind.Name(e.kind).removeprefix("EVENT_KIND_") for e in events],
            "time_ms": [e.occurred_at_ms for e in events],
        },
        schema=FEEDBACK_SCHEMA,
    )


def _compact_feedback(path: Path, root: Location) -> Counts:
    counts = Counts(segments=1)
    for number, events in enumerate(_chunks(segment_events(path), CHUNK_DECISIONS)):
        write_feedback(root, feedback_table(events), f"{path.stem}-{number:05d}")
        counts.feedback += len(events)
    return counts


def known_action_sets(root: Location) -> set[str]:
    """The action sets in the dataset. Those an interrupted run wrote count too: a rerun
    then writes no part for them, and the part written before stays as it is."""
    return {
        name
        for part in parts(root, ACTION_SETS)
        for name in read_part(part, ["action_set"]).column(0).to_pylist()
    }


def compact(logs: Path, root: Location) -> Summary:
    """Adds the closed segments in `logs` (a local directory) that `root`'s manifest does not
    name yet."""
    if not logs.is_dir():
        raise FileNotFoundError(f"--logs {logs}: no such directory")
    create(root, KEYART_INFO)
    compacted = read_manifest(root)
    summary = Summary()
    todo: list[Path] = []
    for kind in (IMPRESSIONS, FEEDBACK):
        closed = closed_segments(logs, kind)
        summary.open_segments += len(segments(logs, kind)) - len(closed)
        todo += [path for path in closed if path.name not in compacted]
    known = known_action_sets(root)
    catalogs = Catalogs(logs)
    for path in todo:
        if path.name.startswith(IMPRESSIONS):
            counts = _compact_impressions(path, root, catalogs, known, summary)
        else:
            counts = _compact_feedback(path, root)
        compacted[path.name] = asdict(counts)
        _write_manifest(root, compacted)  # after the segment's parts: see the docstring
        summary.added.add(counts)
    if summary.added.skipped:
        log.warning(
            "decisions skipped: their catalog version has no snapshot beside the segments",
            decisions=summary.added.skipped,
            catalog_versions=sorted(summary.unresolved_versions),
        )
    return summary
