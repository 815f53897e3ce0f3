"""Bandit decisions as arrays: joined from keyart's logs, or imported from a bandit-log file.

A decision is one title on one page: the viewer and context features, the
candidates' feature vectors, which one was shown, its propensity, and the
reward. Reward (docs/learning-loop.md): 1 when a qualified play of that
title on that page (feedback joined by page id + title id) occurred within
`reward_window_s` after the impression (or up to a minute before it, for
clock skew between the client's stamp and the gateway's), else 0.

The import format, `keyart-bandit/1`, is JSON lines: a header
`{"schema": "keyart-bandit/1"}` and then one object per decision:
`{"viewer": [VIEWER_DIM floats], "context": [CONTEXT_DIM floats],
"candidates": [[ARTWORK_DIM floats], ...], "chosen": i, "propensity": p,
"reward": r}` (optional `"time_ms"`). Widths are those of the feature schema
(common/features.py), because the trained model serves on those inputs. The
reward is in [0, 1]; a bad value is refused in one line naming the line and
the field (learning/input_checks.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from keyart.gateway.v1.gateway_service_pb2 import EventKind

from common.events import FeedbackEvent
from common.features import ARTWORK_DIM, CONTEXT_DIM, VIEWER_DIM
from common.log_schema import (
    FEEDBACK,
    IMPRESSIONS,
    KnownTitles,
    LogFormatError,
    PageImpression,
    TileDecision,
    check_header,
    feedback_from_record,
)
from common.logging import get_logger
from common.segment_log import read_segment, segments
from learning import input_checks as checks
from learning.catalog_snapshot import catalog_matrices

log = get_logger(__name__)

BANDIT_SCHEMA = "keyart-bandit/1"
BANDIT_REWARD_RANGE = (0.0, 1.0)  # keyart's reward: a qualified play or not
REWARD_KIND = EventKind.EVENT_KIND_QUALIFIED_PLAY
DEFAULT_REWARD_WINDOW_S = 30 * 60
# A play stamped by the client may read a little before the gateway's impression time.
CLOCK_SKEW_MS = 60_000


@dataclass(frozen=True)
class BanditData:
    viewer: np.ndarray  # (n, VIEWER_DIM) float32
    context: np.ndarray  # (n, CONTEXT_DIM) float32
    artwork: np.ndarray  # (N, ARTWORK_DIM) float32, candidates grouped by decision
    counts: np.ndarray  # (n,) candidates per decision
    chosen: np.ndarray  # (n,) index within the decision's candidates
    propensity: np.ndarray  # (n,) float64
    reward: np.ndarray  # (n,) float64
    time_ms: np.ndarray  # (n,) int64, 0 when unknown

    def __len__(self) -> int:
        return int(self.counts.size)

    @property
    def starts(self) -> np.ndarray:
        return np.cumsum(self.counts) - self.counts

    @property
    def owner(self) -> np.ndarray:
        """(N,) the decision each candidate row belongs to."""
        return np.repeat(np.arange(len(self)), self.counts)

    def chosen_rows(self) -> np.ndarray:
        return self.artwork[self.starts + self.chosen]

    def subset(self, keep: np.ndarray) -> BanditData:
        """The decisions where `keep` (n,) bool is true."""
        return BanditData(
            self.viewer[keep],
            self.context[keep],
            self.artwork[np.repeat(keep, self.counts)],
            self.counts[keep],
            self.chosen[keep],
            self.propensity[keep],
            self.reward[keep],
            self.time_ms[keep],
        )


Row = tuple[np.ndarray, np.ndarray, np.ndarray, int, float, float, int]


def _assemble(rows: Iterable[Row]) -> BanditData:
    viewer, context, artwork, chosen, propensity, reward, time_ms = ([] for _ in range(7))
    for v, c, a, i, p, r, t in rows:
        viewer.append(v)
        context.append(c)
        artwork.append(a)
        chosen.append(i)
        propensity.append(p)
        reward.append(r)
        time_ms.append(t)
    counts = np.array([len(a) for a in artwork], dtype=np.int64)
    return BanditData(
        np.array(viewer, dtype=np.float32).reshape(-1, VIEWER_DIM),
        np.array(context, dtype=np.float32).reshape(-1, CONTEXT_DIM),
        (np.concatenate(artwork) if artwork else np.zeros((0, ARTWORK_DIM))).astype(np.float32),
        counts,
        np.array(chosen, dtype=np.int64),
        np.array(propensity, dtype=np.float64),
        np.array(reward, dtype=np.float64),
        np.array(time_ms, dtype=np.int64),
    )


def segment_events(path: Path) -> Iterator[FeedbackEvent]:
    """The events of one feedback segment, as logged (a retried event may repeat)."""
    for record in read_segment(path):
        if record["type"] == "header":
            check_header(record)
        else:
            yield feedback_from_record(record)


# A logged event as the reward join sees it: (event id, is a qualified play, page id,
# title id, when in Unix ms).
PlayRow = tuple[str, bool, str, str, int]


def play_times(events: Iterable[PlayRow]) -> dict[tuple[str, str], list[int]]:
    """Qualified plays by (page id, title id), each event id counted once (its first row)."""
    seen: set[str] = set()
    plays: dict[tuple[str, str], list[int]] = {}
    for event_id, qualified, page_id, title_id, at in events:
        if event_id in seen or not qualified or not page_id:
            continue
        seen.add(event_id)
        plays.setdefault((page_id, title_id), []).append(at)
    return plays


def _play_times(directory: Path) -> dict[tuple[str, str], list[int]]:
    return play_times(
        (e.event_id, e.kind == REWARD_KIND, e.page_id, e.title_id, e.occurred_at_ms)
        for path in segments(directory, FEEDBACK)
        for e in segment_events(path)
    )


Matrices = dict[str, np.ndarray]  # catalog version → its artwork feature rows


def read_pages(directory: Path) -> Iterator[PageImpression]:
    for path in segments(directory, IMPRESSIONS):
        yield from segment_pages(path)


def segment_pages(path: Path) -> Iterator[PageImpression]:
    """The pages of one impression segment."""
    known: KnownTitles = {}  # titles named earlier in the segment
    for record in read_segment(path):
        if record["type"] == "header":
            check_header(record)
        elif record["type"] == "page":
            yield PageImpression.from_record(record, VIEWER_DIM, CONTEXT_DIM, known)


def candidate_matrix(tile: TileDecision, matrices: Matrices) -> np.ndarray:
    """The tile's candidates' feature rows (KeyError if its catalog version is unknown)."""
    rows = matrices[tile.catalog_version][tile.first_row : tile.first_row + len(tile.candidate_ids)]
    if len(rows) != len(tile.candidate_ids):
        raise LogFormatError(f"{tile.title_id}: rows beyond catalog {tile.catalog_version}")
    return rows


def page_matrices(directory: Path, artwork_target: str | None) -> Matrices:
    """Feature rows of every catalog version the logged pages name, where they can be found."""
    versions = {tile.catalog_version for page in read_pages(directory) for tile in page.tiles}
    matrices = catalog_matrices(directory, versions, artwork_target)
    if versions - set(matrices):
        log.warning(
            "decisions under these catalog versions are skipped: no snapshot, not served",
            catalog_versions=sorted(versions - set(matrices)),
        )
    return matrices


def rewarded_pages(
    directory: Path, reward_window_s: float = DEFAULT_REWARD_WINDOW_S
) -> Iterator[tuple[PageImpression, tuple[bool, ...]]]:
    """Each logged page, with each of its tiles' rewards (the join in the module docstring)."""
    plays = _play_times(directory)
    window_ms = reward_window_s * 1000
    for page in read_pages(directory):
        yield (
            page,
            tuple(
                any(
                    -CLOCK_SKEW_MS <= at - page.time_ms <= window_ms
                    for at in plays.get((page.page_id, tile.title_id), ())
                )
                for tile in page.tiles
            ),
        )


def _keyart_rows(
    directory: Path, reward_window_s: float, artwork_target: str | None
) -> Iterator[Row]:
    matrices = page_matrices(directory, artwork_target)
    for page, rewards in rewarded_pages(directory, reward_window_s):
        for tile, rewarded in zip(page.tiles, rewards, strict=True):
            if tile.catalog_version not in matrices:
                continue
            yield (
                page.viewer_features,
                page.context_features,
                candidate_matrix(tile, matrices),
                tile.chosen,
                tile.propensity,
                float(rewarded),
                page.time_ms,
            )


def _bandit_rows(path: Path) -> Iterator[Row]:
    """The decisions of a keyart-bandit/1 file, each bad value refused (learning/input_checks.py)."""
    records = checks.json_objects(path)
    first = next(records, None)
    if first is None:
        raise checks.Place(path).error("file", "empty: no header, no decisions")
    place, header = first
    if header.get("schema") != BANDIT_SCHEMA:
        found = json.dumps(header.get("schema"))
        raise place.error("schema", f"{found}, expected the {BANDIT_SCHEMA!r} header")
    decisions = 0
    for place, record in records:
        decisions += 1
        yield _bandit_row(place, record)
    if decisions == 0:
        raise checks.Place(path).error("file", "no decisions after the header")


def _bandit_row(place: checks.Place, record: dict) -> Row:
    listed = checks.require(place, record, "candidates")
    if not isinstance(listed, list) or not listed:
        raise place.error("candidates", "expected a non-empty list of feature lists")
    candidates = np.stack(
        [
            checks.vector(place, f"candidates[{i}]", features, ARTWORK_DIM)
            for i, features in enumerate(listed)
        ]
    )
    reward = checks.number(place, "reward", checks.require(place, record, "reward"))
    return (
        checks.vector(place, "viewer", checks.require(place, record, "viewer"), VIEWER_DIM),
        checks.vector(place, "context", checks.require(place, record, "context"), CONTEXT_DIM),
        candidates,
        checks.index(place, "chosen", checks.require(place, record, "chosen"), len(candidates)),
        checks.probability(place, "propensity", checks.require(place, record, "propensity")),
        checks.in_range(place, "reward", reward, BANDIT_REWARD_RANGE),
        checks.index(place, "time_ms", record.get("time_ms", 0), 2**63),
    )


def write_bandit_file(data: BanditData, path: Path) -> None:
    """`data` in the import format (what `keyart train --log FILE` reads back)."""
    with path.open("w") as out:
        out.write(json.dumps({"schema": BANDIT_SCHEMA}) + "\n")
        for i, start in enumerate(data.starts):
            out.write(
                json.dumps(
                    {
                        "viewer": data.viewer[i].tolist(),
                        "context": data.context[i].tolist(),
                        "candidates": data.artwork[start : start + data.counts[i]].tolist(),
                        "chosen": int(data.chosen[i]),
                        "propensity": float(data.propensity[i]),
                        "reward": float(data.reward[i]),
                        "time_ms": int(data.time_ms[i]),
                    }
                )
                + "\n"
            )


def load(
    path: Path,
    reward_window_s: float = DEFAULT_REWARD_WINDOW_S,
    artwork_target: str | None = None,
) -> BanditData:
    """A keyart log directory (impressions + feedback segments) or a bandit-log file.

    Artwork features of a log directory come from its catalog snapshots, taken
    from the artwork service at `artwork_target` when missing.
    """
    if path.is_file():
        return _assemble(_bandit_rows(path))
    if not path.is_dir():
        raise FileNotFoundError(f"no log file or directory at {path}")
    return _assemble(_keyart_rows(path, reward_window_s, artwork_target))
