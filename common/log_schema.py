"""The learning logs' record schema, version `keyart-learning-log/1` (README, "Learning loop").

Two kinds of segment files, JSON lines, each starting with a header record:

- impressions: `page` records, one per rendered page: viewer and context
  features, and one decision per title — its candidate ids, where their
  feature rows are in the catalog version it was ranked under, the chosen
  index, propensity, score. Artwork features are not repeated per impression:
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
from dataclasses import dataclass

import numpy as np

from common.features import SCHEMA_VERSION, pack

SCHEMA = "keyart-learning-log/1"
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

    def to_record(self) -> dict:
        return {
            "title_id": self.title_id,
            "candidates": list(self.candidate_ids),
            "catalog_version": self.catalog_version,
            "first_row": self.first_row,
            "chosen": self.chosen,
            "propensity": self.propensity,
            "score": self.score,
            "ranked": self.ranked,
            "personalized": self.personalized,
        }

    @classmethod
    def from_record(cls, record: dict) -> TileDecision:
        return cls(
            title_id=record["title_id"],
            candidate_ids=tuple(record["candidates"]),
            catalog_version=record["catalog_version"],
            first_row=int(record["first_row"]),
            chosen=int(record["chosen"]),
            propensity=float(record["propensity"]),
            score=float(record["score"]),
            ranked=bool(record["ranked"]),
            personalized=bool(record["personalized"]),
        )


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
            "tiles": [tile.to_record() for tile in self.tiles],
        }

    @classmethod
    def from_record(cls, record: dict, viewer_dim: int, context_dim: int) -> PageImpression:
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
            tiles=tuple(TileDecision.from_record(tile) for tile in record["tiles"]),
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
