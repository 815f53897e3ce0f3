"""The learning logs' record schema, version `keyart-learning-log/4` (README, "Learning loop").

Two kinds of segment files, JSON lines, each starting with a header record:

- impressions: `page` records, one per rendered page: viewer and context
  features, and one decision per title — its candidate ids, where their
  feature rows are in the catalog version it was ranked under, the chosen
  index, propensity, score. Decisions are stored as columns: numbers as
  base64 of little-endian arrays (int32, float64, uint8 for flags), title
  ids as one newline-joined string. A 1,600-title page so encodes about 20
  times faster than as JSON numbers and lists (version 2), which took the
  gateway's writer thread milliseconds of the GIL per page. A title's
  candidate ids are written once per segment and catalog version, in the
  first record of that segment that shows the title (`candidate_ids`:
  version → title → newline-joined ids); later records in the segment name
  the title only. Repeating 12,800 ids in every page made the log about
  300 KB a page (version 3), 20 MB/s at 65 pages/s, and the disk's
  writeback slowed the pages down over a soak.
  Artwork features are not repeated per impression:
  a catalog version's rows are fixed, and learning/catalog_snapshot.py keeps
  a copy per version beside the logs.
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

from common.features import SCHEMA_VERSION, pack

SCHEMA = "keyart-learning-log/4"
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


INT, FLOAT, BOOL = "<i4", "<f8", "u1"


def encode_array(values: Sequence[float] | np.ndarray, dtype: str) -> str:
    """A numeric column as base64 of its little-endian array: a 1,600-title page's
    columns encode in microseconds, where JSON numbers took milliseconds."""
    return base64.b64encode(np.asarray(values, dtype=dtype).tobytes()).decode()


def decode_array(text: str, dtype: str, field: str) -> np.ndarray:
    data = base64.b64decode(text)
    width = np.dtype(dtype).itemsize
    if len(data) % width:
        raise LogFormatError(f"page record: {field} is {len(data)} bytes, not whole {dtype} values")
    return np.frombuffer(data, dtype=dtype)


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
class DecisionColumns:
    """A page's decisions as columns, the form they are logged in."""

    title_ids: list[str]
    # Catalog version → title id → its candidates' ids (join_ids), for the titles
    # whose ids the record's segment does not hold yet.
    candidate_ids: dict[str, dict[str, str]]
    # Numbers as lists or arrays, whichever the writer holds (encode_array takes both).
    candidate_counts: Sequence[int] | np.ndarray
    catalog_versions: list[str]
    first_rows: Sequence[int] | np.ndarray
    chosen: Sequence[int] | np.ndarray
    propensities: Sequence[float] | np.ndarray
    scores: Sequence[float] | np.ndarray
    ranked: Sequence[bool] | np.ndarray
    personalized: Sequence[bool] | np.ndarray

    def to_record(self) -> dict:
        versions = list(dict.fromkeys(self.catalog_versions))
        index = {version: i for i, version in enumerate(versions)}
        return {
            "title_ids": join_ids(self.title_ids),
            "candidate_ids": self.candidate_ids,
            "candidate_counts": encode_array(self.candidate_counts, INT),
            "catalog_versions": versions,
            "catalog_version_index": encode_array(
                [index[version] for version in self.catalog_versions], INT
            ),
            "first_rows": encode_array(self.first_rows, INT),
            "chosen": encode_array(self.chosen, INT),
            "propensities": encode_array(self.propensities, FLOAT),
            "scores": encode_array(self.scores, FLOAT),
            "ranked": encode_array(self.ranked, BOOL),
            "personalized": encode_array(self.personalized, BOOL),
        }

    @classmethod
    def of(cls, tiles: tuple[TileDecision, ...]) -> DecisionColumns:
        return cls(
            title_ids=[tile.title_id for tile in tiles],
            candidate_ids=_ids_by_version(tiles),
            candidate_counts=[len(tile.candidate_ids) for tile in tiles],
            catalog_versions=[tile.catalog_version for tile in tiles],
            first_rows=[tile.first_row for tile in tiles],
            chosen=[tile.chosen for tile in tiles],
            propensities=[tile.propensity for tile in tiles],
            scores=[tile.score for tile in tiles],
            ranked=[tile.ranked for tile in tiles],
            personalized=[tile.personalized for tile in tiles],
        )


def _ids_by_version(tiles: tuple[TileDecision, ...]) -> dict[str, dict[str, str]]:
    ids: dict[str, dict[str, str]] = {}
    for tile in tiles:
        ids.setdefault(tile.catalog_version, {})[tile.title_id] = join_ids(tile.candidate_ids)
    return ids


# What a reader has seen of a segment's candidate ids: (catalog version, title id) → ids.
KnownCandidates = dict[tuple[str, str], tuple[str, ...]]


def tiles_from_record(record: dict, known: KnownCandidates) -> tuple[TileDecision, ...]:
    """The record's decisions; `known` holds the candidate ids its segment gave earlier
    and takes the ones this record gives."""
    versions = record["catalog_versions"]
    for version, titles in record["candidate_ids"].items():
        for title_id, ids in titles.items():
            known[(version, title_id)] = tuple(split_ids(ids))
    columns = (
        split_ids(record["title_ids"]),
        decode_array(record["candidate_counts"], INT, "candidate_counts"),
        decode_array(record["catalog_version_index"], INT, "catalog_version_index"),
        decode_array(record["first_rows"], INT, "first_rows"),
        decode_array(record["chosen"], INT, "chosen"),
        decode_array(record["propensities"], FLOAT, "propensities"),
        decode_array(record["scores"], FLOAT, "scores"),
        decode_array(record["ranked"], BOOL, "ranked"),
        decode_array(record["personalized"], BOOL, "personalized"),
    )
    if len({len(column) for column in columns}) != 1:
        raise LogFormatError("page record: decision columns of different lengths")
    if len(columns[2]) and int(columns[2].max()) >= len(versions):
        raise LogFormatError("page record: catalog_version_index beyond catalog_versions")
    tiles = []
    for title_id, count, version, first_row, chosen, propensity, score, ranked, personalized in zip(
        *(column if isinstance(column, list) else column.tolist() for column in columns)
    ):
        candidates = known.get((versions[version], title_id))
        if candidates is None:
            raise LogFormatError(
                f"page record: no candidate ids for {title_id!r} (catalog {versions[version]!r})"
                " in it or earlier in its segment"
            )
        if len(candidates) != count:
            raise LogFormatError(
                f"page record: {title_id!r} has {len(candidates)} candidate ids, count {count}"
            )
        tiles.append(
            TileDecision(
                title_id=title_id,
                candidate_ids=candidates,
                catalog_version=versions[version],
                first_row=first_row,
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
            **columns.to_record(),
        }

    @classmethod
    def from_record(
        cls,
        record: dict,
        viewer_dim: int,
        context_dim: int,
        known: KnownCandidates | None = None,
    ) -> PageImpression:
        """`known`: the candidate ids earlier records of the same segment gave (see
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
        )


@dataclass(frozen=True)
class FeedbackEvent:
    event_id: str
    user_id: str
    page_id: str
    title_id: str
    artwork_id: str
    kind: str  # EventKind name without its prefix, e.g. "QUALIFIED_PLAY"
    occurred_at_ms: int

    def to_record(self) -> dict:
        return {"type": "feedback", **self.__dict__}

    @classmethod
    def from_record(cls, record: dict) -> FeedbackEvent:
        return cls(**{name: record[name] for name in cls.__dataclass_fields__})
