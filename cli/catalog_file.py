"""Catalog files (JSON Lines or Parquet, one title a line or row): reading rows, writing them.

The format is docs/catalog.md's; cli/catalog_rows.py says what a row may hold.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from cli.catalog_rows import TITLE_KEYS, TitleLine, title_from_row
from cli.table_file import BadLine, read_rows
from common.atomic_files import write_atomically

FORMATS = (".jsonl", ".parquet")


def read_titles(path: Path) -> Iterator[TitleLine]:
    """Every title of the file, types checked; BadLine for the first line that is not."""
    empty = True
    for where, row in read_rows(path, TITLE_KEYS, FORMATS, "title"):
        empty = False
        yield title_from_row(where, row)
    if empty:
        raise BadLine(str(path), "", "holds no titles")


def _parquet_schema() -> Any:
    import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type hints

    names = pa.list_(pa.string())
    artwork = pa.struct(
        [
            ("artwork_id", pa.string()),
            ("image", pa.string()),
            ("cast", names),
            ("tones", names),
            ("visual_quality", pa.float64()),
            ("composition", pa.float64()),
            ("faces", pa.list_(pa.list_(pa.float64()))),
        ]
    )
    return pa.schema(
        [
            ("title_id", pa.string()),
            ("name", pa.string()),
            ("genres", names),
            ("cast", names),
            ("artworks", pa.list_(artwork)),
        ]
    )


def write_titles(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Writes the rows in the format the extension names, atomically (no half file)."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        write_atomically(path, text.encode())
    elif suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq  # type: ignore[import-untyped]  # pyarrow ships no type hints

        sink = pa.BufferOutputStream()
        pq.write_table(pa.Table.from_pylist(list(rows), schema=_parquet_schema()), sink)
        write_atomically(path, sink.getvalue().to_pybytes())
    else:
        raise BadLine(
            str(path),
            "",
            f"unknown extension {path.suffix!r}; expected one of {', '.join(FORMATS)}",
        )
