"""Reading an import file (JSON Lines, CSV or Parquet) into located rows.

Shared by the viewer-history and catalog imports. Each row comes with where it
stands, for error messages: `FILE:LINE` for JSON Lines and CSV (a CSV's header is
line 1, as in an editor), `FILE: row N` for Parquet (rows counted from 1). Nothing
here knows what the columns mean, only which top-level names a row may have.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

Row = dict[str, Any]
Rows = Iterator[tuple[str, Row]]


class BadLine(Exception):
    """A line of the file that cannot be imported; the message names file, line and field."""

    def __init__(self, where: str, field: str, problem: str) -> None:
        super().__init__(f"{where}: {field}: {problem}" if field else f"{where}: {problem}")


def read_rows(path: Path, columns: Sequence[str], formats: Sequence[str], noun: str) -> Rows:
    """(where, row) for every row of `path`, by its extension (one of `formats`); BadLine for
    what is unreadable or has a column outside `columns`. `noun` names what a line holds."""
    readers: dict[str, Callable[[Path, Sequence[str], str], Rows]] = {
        ".jsonl": _jsonl_rows,
        ".csv": _csv_rows,
        ".parquet": _parquet_rows,
    }
    suffix = path.suffix.lower()
    if suffix not in formats:
        raise BadLine(
            str(path),
            "",
            f"unknown extension {path.suffix!r}; expected one of {', '.join(formats)}",
        )
    if not path.is_file():
        raise BadLine(str(path), "", "no such file")
    return readers[suffix](path, columns, noun)


def _unknown_columns(where: str, names: Iterable[str], columns: Sequence[str]) -> None:
    unknown = sorted(set(names) - set(columns))
    if unknown:
        raise BadLine(where, unknown[0], f"unknown column; expected {', '.join(columns)}")


def _jsonl_rows(path: Path, columns: Sequence[str], noun: str) -> Rows:
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            where = f"{path}:{number}"
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as error:
                if not line.endswith(b"\n"):
                    raise BadLine(
                        where, "", f"torn last line: no newline and not valid JSON ({error})"
                    ) from None
                raise BadLine(where, "", f"not valid UTF-8 JSON ({error})") from None
            if not isinstance(row, dict):
                raise BadLine(where, "", f"expected a JSON object, one {noun} a line")
            _unknown_columns(where, row, columns)
            yield where, row


def _csv_rows(path: Path, columns: Sequence[str], noun: str) -> Rows:
    with path.open(encoding="utf-8", newline="") as text:
        reader = csv.DictReader(text)
        try:
            if reader.fieldnames is None:
                return
            _unknown_columns(f"{path}:1", reader.fieldnames, columns)
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


def _parquet_rows(path: Path, columns: Sequence[str], noun: str) -> Rows:
    # Imported here: only Parquet files need pyarrow (and its start-up time). No type hints.
    import pyarrow.parquet as pq  # type: ignore[import-untyped]  # pyarrow ships no type hints

    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as error:
        raise BadLine(str(path), "", f"not a readable Parquet file ({error})") from None
    _unknown_columns(f"{path}: schema", table.column_names, columns)
    for number, row in enumerate(table.to_pylist(), start=1):
        yield (
            f"{path}: row {number}",
            {name: value for name, value in row.items() if value is not None},
        )
