"""The learning logs' record schema, version `keyart-learning-log/6` (docs/learning-loop.md).

Two kinds of segment files, JSON lines, each starting with a header record:

- impressions: `page` records, one per rendered page: viewer and context
  features, and one decision per title — which title (by number), the
  chosen index among its candidates, propensity, score. Decisions are
  stored as columns (DECISION_COLUMNS: uint32 title numbers, int32 choices,
  float32 propensities and scores as the ranker sends them, uint8 flags),
  concatenated, zstd-compressed (level 1) and base64'd into one `decisions`
  field.
  A segment names each title once per catalog version, in
  the first record that shows it (`new_titles`: [number, catalog version,
  title id, first feature row, newline-joined candidate ids]); later
  records give its number only. Version 4 repeated every title's id, row
  and candidate count in every page (95 KB a reference page, 12 MB/s at
  130 pages/s), and writing it cost the gateway a tenth of its throughput;
  version 5 writes about 15 KB. Version 6 compresses the decisions with
  zstd instead of zlib: the same size in a quarter of the time (43 µs
  against 185 µs a reference page), which had cost the gateway about a
  twelfth of its throughput. Artwork features are not repeated per
  impression: a catalog version's rows are fixed, and the gateway keeps a
  copy of each version its log names beside the segments
  (`catalog-<version>.npy`, common/catalog_snapshot.py).
- feedback: `feedback` records, one per acknowledged ReportEvent (at least
  once: a retried event may repeat; readers keep the first per event_id).

Vectors travel as base64 of little-endian float32, as on the wire. Adding a
field keeps the version; renaming, removing or changing the meaning of one
bumps it, and readers refuse versions they do not know.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import zstandard
from keyart.gateway.v1.gateway_service_pb2 import EventKind

from common.events import FeedbackEvent
from common.features import SCHEMA_VERSION, pack

SCHEMA = "keyart-learning-log/6"
IMPRESSIONS = "impressions"
FEEDBACK = "feedback"


class LogFormatError(ValueError):
    """A record that does not follow the schema."""


def encode_vector(vector: np.ndarray) -> str:
    return base64.b64encode(pack(vector)).decode()


def decode_vector(text: str, width: int) -> np.ndarray:
    data = base64.b64decode(text)
    if len(data) != 4 * width:
        raise LogFormatError(f"vector of {len(data)} bytes, expected {width} float32")
    return np.frombuffer(data, dtype="<f4").copy()


# A page's decisions, one entry per title, as columns in this order: each a
# little-endian array, the six concatenated and compressed (zstd level 1) into
# the record's one `decisions` field.
DECISION_COLUMNS = (
    ("title_numbers", "<u4"),
    ("chosen", "<i4"),
    ("propensities", "<f4"),
    ("scores", "<f4"),
    ("ranked", "u1"),
    ("personalized", "u1"),
)
_DECISION_BYTES = sum(np.dtype(dtype).itemsize for _, dtype in DECISION_COLUMNS)


def encode_decisions(columns: dict[str, Sequence[float] | np.ndarray]) -> str:
    """The DECISION_COLUMNS of `columns`, packed, compressed and base64'd: about 15 KB
    for a 1,600-title page instead of 38 KB uncompressed."""
    data = b"".join(
        np.asarray(columns[name], dtype=dtype).tobytes() for name, dtype in DECISION_COLUMNS
    )
    return base64.b64encode(zstandard.compress(data, 1)).decode()


def decode_decisions(text: str) -> dict[str, np.ndarray]:
    """Inverse of encode_decisions; LogFormatError if the field is damaged."""
    try:
        data = zstandard.decompress(base64.b64decode(text, validate=True))
    except (ValueError, zstandard.ZstdError) as error:
        raise LogFormatError(f"page record: decisions do not decode ({error})") from None
    if len(data) % _DECISION_BYTES:
        raise LogFormatError(
            f"page record: decisions are {len(data)} bytes, not whole {_DECISION_BYTES}-byte entries"
        )
    count = len(data) // _DECISION_BYTES
    columns, at = {}, 0
    for name, dtype in DECISION_COLUMNS:
        size = count * np.dtype(dtype).itemsize
        columns[name] = np.frombuffer(data[at : at + size], dtype=dtype)
        at += size
    return columns


def join_ids(ids: Sequence[str]) -> str:
    """Ids are printable (common/validation.py), so a newline cannot occur in one."""
    return "\n".join(ids)


def split_ids(text: str) -> list[str]:
    return text.split("\n") if text else []


def header(kind: str) -> dict:
    return {"type": "header", "schema": SCHEMA, "kind": kind, "feature_schema": SCHEMA_VERSION}


def check_header(record: dict) -> None:
    if record.get("schema") != SCHEMA:
        raise LogFormatError(f"log schema {record.get('schema')!r}; this reader knows {SCHEMA!r}")


@dataclass(frozen=True)
class TileDecision:
    """One title on a page: which candidate was served and with what probability."""

    title_id: str
    candidate_ids: tuple[str, ...]
    catalog_version: str
    first_row: int  # the candidates' feature rows: first_row … first_row + len - 1
    chosen: int
    propensity: float
    score: float
    ranked: bool  # False: the ranker did not answer; the default was shown (propensity 1)
    personalized: bool


@dataclass(frozen=True)
class SegmentTitle:
    """A title as a segment names it once: its candidates under one catalog version."""

    catalog_version: str
    title_id: str
    first_row: int  # the candidates' feature rows: first_row … first_row + len - 1
    candidate_ids: tuple[str, ...]

    def to_entry(self, number: int) -> list:
        ids = join_ids(self.candidate_ids)
        return [number, self.catalog_version, self.title_id, self.first_row, ids]


# What a reader has seen of a segment's titles so far: number → title.
KnownTitles = dict[int, SegmentTitle]


def _segment_title(entry: object) -> tuple[int, SegmentTitle]:
    if not (isinstance(entry, list) and len(entry) == 5):
        raise LogFormatError(f"page record: new_titles entry {str(entry)[:80]} is not 5 fields")
    number, version, title_id, first_row, ids = entry
    if not (isinstance(number, int) and isinstance(first_row, int) and min(number, first_row) >= 0):
        raise LogFormatError(f"page record: new_titles entry {number!r} has a bad number or row")
    if not (
        isinstance(version, str) and isinstance(title_id, str) and isinstance(ids, str) and ids
    ):
        raise LogFormatError(f"page record: new_titles entry {number} has bad text fields")
    return number, SegmentTitle(version, title_id, first_row, tuple(split_ids(ids)))


@dataclass(frozen=True)
class DecisionColumns:
    """A page's decisions as columns, the form they are logged in; numbers as lists or
    arrays, whichever the writer holds (encode_decisions takes both)."""

    title_numbers: Sequence[int] | np.ndarray  # into the segment's titles
    new_titles: dict[int, SegmentTitle]  # the titles this record names for its segment
    chosen: Sequence[int] | np.ndarray
    propensities: Sequence[float] | np.ndarray
    scores: Sequence[float] | np.ndarray
    ranked: Sequence[bool] | np.ndarray
    personalized: Sequence[bool] | np.ndarray

    def to_record(self) -> dict:
        return {
            "new_titles": [title.to_entry(number) for number, title in self.new_titles.items()],
            "decisions": encode_decisions(
                {name: getattr(self, name) for name, _ in DECISION_COLUMNS}
            ),
        }

    @classmethod
    def of(cls, tiles: tuple[TileDecision, ...]) -> DecisionColumns:
        """A record that names all its titles itself (numbered in order of appearance)."""
        numbers: dict[tuple[str, str], int] = {}
        new_titles: dict[int, SegmentTitle] = {}
        for tile in tiles:
            key = (tile.catalog_version, tile.title_id)
            if key not in numbers:
                numbers[key] = len(numbers)
                new_titles[numbers[key]] = SegmentTitle(
                    tile.catalog_version, tile.title_id, tile.first_row, tile.candidate_ids
                )
        return cls(
            title_numbers=[numbers[(tile.catalog_version, tile.title_id)] for tile in tiles],
            new_titles=new_titles,
            chosen=[tile.chosen for tile in tiles],
            propensities=[tile.propensity for tile in tiles],
            scores=[tile.score for tile in tiles],
            ranked=[tile.ranked for tile in tiles],
            personalized=[tile.personalized for tile in tiles],
        )


def tiles_from_record(record: dict, known: KnownTitles) -> tuple[TileDecision, ...]:
    """The record's decisions; `known` holds the titles its segment named earlier and
    takes the ones this record names."""
    for entry in record["new_titles"]:
        new_number, new_title = _segment_title(entry)
        known[new_number] = new_title
    columns = decode_decisions(record["decisions"])
    tiles = []
    for number, chosen, propensity, score, ranked, personalized in zip(
        *(columns[name].tolist() for name, _ in DECISION_COLUMNS), strict=True
    ):
        title = known.get(number)
        if title is None:
            raise LogFormatError(
                f"page record: title number {number} is not named in it or earlier in its segment"
            )
        if not 0 <= chosen < len(title.candidate_ids):
            raise LogFormatError(
                f"page record: {title.title_id!r} chose {chosen} of {len(title.candidate_ids)}"
            )
        tiles.append(
            TileDecision(
                title_id=title.title_id,
                candidate_ids=title.candidate_ids,
                catalog_version=title.catalog_version,
                first_row=title.first_row,
                chosen=chosen,
                propensity=propensity,
                score=score,
                ranked=bool(ranked),
                personalized=bool(personalized),
            )
        )
    return tuple(tiles)


@dataclass(frozen=True)
class PageImpression:
    page_id: str
    user_id: str
    time_ms: int
    context: dict  # device_type, country, local_hour, day_of_week as the request gave them
    context_features: np.ndarray
    viewer_known: bool
    viewer_features: np.ndarray
    model_version: str
    policy: str
    tiles: tuple[TileDecision, ...]
    # The viewer's experiment and cell (docs/experiments.md); "" outside experiments and
    # in records written before experiments existed.
    experiment: str = ""
    cell: str = ""

    def to_record(self) -> dict:
        return self.record_with(DecisionColumns.of(self.tiles))

    def record_with(self, columns: DecisionColumns) -> dict:
        """The page record with `columns` as its decisions (the gateway builds them
        straight from the ranking, without a TileDecision per title)."""
        return {
            "type": "page",
            "page_id": self.page_id,
            "user_id": self.user_id,
            "time_ms": self.time_ms,
            "context": self.context,
            "context_features": encode_vector(self.context_features),
            "viewer_known": self.viewer_known,
            "viewer_features": encode_vector(self.viewer_features),
            "model_version": self.model_version,
            "policy": self.policy,
            "experiment": self.experiment,
            "cell": self.cell,
            **columns.to_record(),
        }

    @classmethod
    def from_record(
        cls,
        record: dict,
        viewer_dim: int,
        context_dim: int,
        known: KnownTitles | None = None,
    ) -> PageImpression:
        """`known`: the titles earlier records of the same segment named (see
        tiles_from_record); None reads the record on its own."""
        return cls(
            page_id=record["page_id"],
            user_id=record["user_id"],
            time_ms=int(record["time_ms"]),
            context=dict(record["context"]),
            context_features=decode_vector(record["context_features"], context_dim),
            viewer_known=bool(record["viewer_known"]),
            viewer_features=decode_vector(record["viewer_features"], viewer_dim),
            model_version=record["model_version"],
            policy=record["policy"],
            tiles=tiles_from_record(record, {} if known is None else known),
            experiment=record.get("experiment", ""),
            cell=record.get("cell", ""),
        )


_FEEDBACK_FIELDS = ("event_id", "user_id", "page_id", "title_id", "artwork_id", "occurred_at_ms")
_KIND_PREFIX = "EVENT_KIND_"


def feedback_record(event: FeedbackEvent) -> dict:
    """The event's `feedback` record; its kind as the EventKind name without its prefix
    (e.g. "QUALIFIED_PLAY")."""
    record: dict = {"type": FEEDBACK, **{name: getattr(event, name) for name in _FEEDBACK_FIELDS}}
    record["kind"] = EventKind.Name(event.kind).removeprefix(_KIND_PREFIX)
    return record


def feedback_from_record(record: dict) -> FeedbackEvent:
    try:
        kind = EventKind.Value(_KIND_PREFIX + record["kind"])
    except ValueError:
        raise LogFormatError(f"kind: {record['kind']!r} is not a known EventKind") from None
    return FeedbackEvent(kind=kind, **{name: record[name] for name in _FEEDBACK_FIELDS})
