"""The learning dataset on disk: Parquet tables any tool reads, layout `keyart-dataset/1`.

    DATASET/
      dataset.json                         what the data is (DatasetInfo)
      decisions/date=YYYY-MM-DD/*.parquet  one row per decision (DECISIONS)
      action_sets/*.parquet                each action set once (ACTION_SETS)
      feedback/date=YYYY-MM-DD/*.parquet   one row per viewer event (FEEDBACK)

A decision is one choice among an action set's candidates: for keyart's own
logs a title on a page (its action set is the title's candidates in one
catalog version, `<catalog version>/<title id>`); for an imported log one
logged line (its action set named by a digest of its candidates' features, so
a log that offers the same candidates on every line stores them once).
Candidate features live only in the action sets, never once per decision.

A decision's `reward` is given (imported logs) or null (keyart's logs): then
it is 1 when a qualified play of that title on that page is in the feedback
table within the reward window (learning/dataset.py), else 0.

A decisions part may also carry the optional column `target_probabilities`
(TARGET_PROBABILITIES): an outside policy's probability of each of the
decision's candidates, in the action set's order, for `keyart evaluate`.
Parts without it read as all null, so writers that do not know it stay valid.

DATASET is a Location (common/storage.py): a local directory or a filesystem
URL (`s3://bucket/prefix`, …). Part files are written whole (on a local disk
under a dot-name and renamed in; on an object store in one upload), so a
reader never sees half a file; the tables are hive-partitioned by date, so
DuckDB's `read_parquet('DATASET/decisions/*/*.parquet', hive_partitioning = true)`
and pyarrow.dataset read them as they are.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type hints
import pyarrow.dataset as pads  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from common.storage import Location

FORMAT = "keyart-dataset/1"
INFO_FILE = "dataset.json"
DECISIONS, ACTION_SETS, FEEDBACK = "decisions", "action_sets", "feedback"


class DatasetError(ValueError):
    """A dataset that is missing, of another format, or whose parts disagree with it."""


@dataclass(frozen=True)
class DatasetInfo:
    """The widths every row has; `feature_schema` is keyart's feature schema version when the
    features are keyart's own (only then can a trained model serve), else None."""

    viewer_dim: int
    context_dim: int
    action_dim: int
    feature_schema: str | None
    reward_min: float = 0.0
    reward_max: float = 1.0
    format: str = FORMAT
    # Imported features' names by vector ("viewer", "context", "action"), one per slot, so an
    # export can write them back (learning/interchange/slots.py); None for keyart's own.
    feature_names: dict[str, list[dict]] | None = None

    def __post_init__(self) -> None:
        # Parquet cannot round-trip a fixed-size list of width 0: importers pad such a vector.
        if min(self.viewer_dim, self.context_dim, self.action_dim) < 1:
            raise DatasetError(f"feature widths must be at least 1, not {self.widths}")

    @property
    def widths(self) -> tuple[int, int, int]:
        return self.viewer_dim, self.context_dim, self.action_dim


TARGET_PROBABILITIES = pa.field("target_probabilities", pa.list_(pa.float64()), nullable=True)


def decisions_schema(info: DatasetInfo, target_probabilities: bool = False) -> pa.Schema:
    """The decisions table's columns; with `target_probabilities`, the optional column too."""
    schema = pa.schema(
        [
            ("decision_id", pa.string()),  # unique in the dataset
            ("page_id", pa.string()),  # "" when the source has no pages
            ("time_ms", pa.int64()),  # Unix ms, 0 when unknown
            ("viewer_id", pa.string()),
            ("title_id", pa.string()),  # "" for imported logs
            ("viewer", pa.list_(pa.float32(), info.viewer_dim)),
            ("context", pa.list_(pa.float32(), info.context_dim)),
            ("action_set", pa.string()),  # ACTION_SETS.action_set
            ("chosen", pa.int32()),  # index into the action set's candidates
            ("propensity", pa.float64()),  # the logging policy's probability of `chosen`
            ("score", pa.float32()),  # the model's score of `chosen`; null when unknown
            ("reward", pa.float64()),  # null: from the feedback table (module docstring)
            ("model_version", pa.string()),
            ("policy", pa.string()),
            ("experiment", pa.string()),
            ("cell", pa.string()),
            ("device_type", pa.string()),  # the page's DeviceType name; null when unknown
            ("position", pa.int32()),  # the slot the choice was shown in (OBP); null when none
        ]
    )
    return schema.append(TARGET_PROBABILITIES) if target_probabilities else schema


def action_sets_schema(info: DatasetInfo) -> pa.Schema:
    return pa.schema(
        [
            ("action_set", pa.string()),
            ("candidate_ids", pa.list_(pa.string())),
            ("features", pa.list_(pa.list_(pa.float32(), info.action_dim))),
        ]
    )


FEEDBACK_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),  # readers keep the first row of each
        ("viewer_id", pa.string()),
        ("page_id", pa.string()),
        ("title_id", pa.string()),
        ("artwork_id", pa.string()),
        ("kind", pa.string()),  # EventKind name without its prefix, e.g. QUALIFIED_PLAY
        ("time_ms", pa.int64()),
    ]
)


def date_of(time_ms: int) -> str:
    return datetime.fromtimestamp(time_ms / 1000, UTC).strftime("%Y-%m-%d")


def create(root: Location, info: DatasetInfo) -> None:
    """Makes `root` a dataset of `info`; an existing one must have the same info."""
    if (root / INFO_FILE).exists():
        found = read_info(root)
        if found != info:
            raise DatasetError(f"{root}: holds a dataset of {asdict(found)}, not {asdict(info)}")
        return
    (root / INFO_FILE).write_bytes((json.dumps(asdict(info), indent=2) + "\n").encode())


def read_info(root: Location) -> DatasetInfo:
    path = root / INFO_FILE
    try:
        fields = json.loads(path.read_text())
    except FileNotFoundError:
        raise DatasetError(f"{root}: not a dataset (no {INFO_FILE})") from None
    except (OSError, ValueError) as error:
        raise DatasetError(f"{path}: unreadable ({error})") from None
    if not isinstance(fields, dict) or fields.get("format") != FORMAT:
        raise DatasetError(f"{path}: format {fields.get('format')!r}, this reader knows {FORMAT!r}")
    try:
        return DatasetInfo(**fields)
    except TypeError as error:
        raise DatasetError(f"{path}: {error}") from None


# The writers' `name`: the part's file name (without .parquet). A part written under a
# name replaces the one written under it before, so writing the same input again under
# the same name (a rerun after a crash) adds nothing; None: a new unique name.


def _write_part(directory: Location, table: pa.Table, name: str | None) -> Location:
    path = directory / f"{name or 'part-' + uuid.uuid4().hex}.parquet"
    return path.write_with(lambda out: pq.write_table(table, out))


def write_decisions(root: Location, table: pa.Table, name: str | None = None) -> list[Location]:
    """One part file per date the rows' `time_ms` fall on."""
    return _by_date(root / DECISIONS, table, name)


def write_feedback(root: Location, table: pa.Table, name: str | None = None) -> list[Location]:
    return _by_date(root / FEEDBACK, table, name)


def write_action_sets(root: Location, table: pa.Table, name: str | None = None) -> Location:
    return _write_part(root / ACTION_SETS, table, name)


def _by_date(directory: Location, table: pa.Table, name: str | None) -> list[Location]:
    if table.num_rows == 0:
        return []
    dates = np.array([date_of(t) for t in table.column("time_ms").to_numpy()])
    written = []
    for date in sorted(set(dates.tolist())):
        part = table.filter(pa.array(dates == date))
        written.append(_write_part(directory / f"date={date}", part, name))
    return written


def parts(root: Location, table: str) -> list[Location]:
    """The table's part files in a stable order (dot-named ones are being written)."""
    return (root / table).files(".parquet", recursive=True)


def table_dataset(root: Location, table: str) -> pads.Dataset:
    """The table's parts as one pyarrow dataset (to read some columns of all of them)."""
    return pads.dataset([part.path for part in parts(root, table)], filesystem=root.filesystem)


def read_part(part: Location, columns: list[str] | None = None) -> pa.Table:
    """A part file's table (or those of its columns)."""
    with part.open_input() as source:
        return pq.read_table(source, columns=columns)


def part_file(part: Location) -> pq.ParquetFile:
    """A part file opened for its metadata and batches (read as they are asked for)."""
    return pq.ParquetFile(part.open_input())
