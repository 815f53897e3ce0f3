"""Reading a viewer history file (JSON Lines, CSV or Parquet) into located rows.

Each row comes with where it stands, for error messages: `FILE:LINE` for JSON Lines
and CSV (a CSV's header is line 1, as in an editor), `FILE: row N` for Parquet
(rows counted from 1). Nothing here knows what the columns mean.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

COLUMNS = ("event_id", "user_id", "title_id", "artwork_id", "page_id", "kind", "occurred_at")
OPTIONAL = frozenset({"artwork_id", "page_id"})
FORMATS = (".jsonl", ".csv", ".parquet")

Row = dict[str, Any]


class BadLine(Exception):
    """A line of the file that cannot be imported; the message names file, line and field."""

    def __init__(self, where: str, field: str, problem: str) -> None:
        super().__init__(f"{where}: {field}: {problem}" if field else f"{where}: {problem}")


def read_rows(path: Path) -> Iterator[tuple[str, Row]]:
    """(where, row) for every row of `path`, by its extension; BadLine for what is unreadable."""
    readers = {".jsonl": _jsonl_rows, ".csv": _csv_rows, ".parquet": _parquet_rows}
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise BadLine(
            str(path),
            "",
            f"unknown extension {path.suffix!r}; expected one of {', '.join(FORMATS)}",
        )
    if not path.is_file():
        raise BadLine(str(path), "", "no such file")
    return reader(path)


def _unknown_columns(where: str, names: Iterable[str]) -> None:
    unknown = sorted(set(names) - set(COLUMNS))
    if unknown:
        raise BadLine(where, unknown[0], f"unknown column; expected {', '.join(COLUMNS)}")


def _jsonl_rows(path: Path) -> Iterator[tuple[str, Row]]:
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            where = f"{path}:{number}"
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as error:
                raise BadLine(where, "", f"not valid UTF-8 JSON ({error})") from None
            if not isinstance(row, dict):
                raise BadLine(where, "", "expected a JSON object, one event a line")
            _unknown_columns(where, row)
            yield where, row


def _csv_rows(path: Path) -> Iterator[tuple[str, Row]]:
    with path.open(encoding="utf-8", newline="") as text:
        reader = csv.DictReader(text)
        try:
            if reader.fieldnames is None:
                return
            _unknown_columns(f"{path}:1", reader.fieldnames)
            for row in reader:
                where = f"{path}:{reader.line_num}"
                if None in row:
                    raise BadLine(where, "", "more values than the header's columns")
                # An empty cell is a value left out.
                yield where, {name: value for name, value in row.items() if value not in ("", None)}
        except (UnicodeDecodeError, csv.Error) as error:
            raise BadLine(
                f"{path}:{reader.line_num + 1}", "", f"not readable CSV ({error})"
            ) from None


def _parquet_rows(path: Path) -> Iterator[tuple[str, Row]]:
    # Imported here: only Parquet files need pyarrow (and its start-up time). No type hints.
    import pyarrow.parquet as pq  # type: ignore[import-untyped]  # pyarrow ships no type hints

    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as error:
        raise BadLine(str(path), "", f"not a readable Parquet file ({error})") from None
    _unknown_columns(f"{path}: schema", table.column_names)
    for number, row in enumerate(table.to_pylist(), start=1):
        yield (
            f"{path}: row {number}",
            {name: value for name, value in row.items() if value is not None},
        )
