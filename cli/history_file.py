"""A viewer history file's columns, read through the shared import-file reader (cli/table_file)."""

from __future__ import annotations

from pathlib import Path

from cli.table_file import BadLine, Row, Rows
from cli.table_file import read_rows as read_table

COLUMNS = ("event_id", "user_id", "title_id", "artwork_id", "page_id", "kind", "occurred_at")
OPTIONAL = frozenset({"artwork_id", "page_id"})
FORMATS = (".jsonl", ".csv", ".parquet")

__all__ = ["COLUMNS", "FORMATS", "OPTIONAL", "BadLine", "Row", "read_rows"]


def read_rows(path: Path) -> Rows:
    """(where, row) for every event row of `path`; BadLine for what is unreadable."""
    return read_table(path, COLUMNS, FORMATS, "event")
