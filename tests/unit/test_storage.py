"""common/storage.py on a local directory and on a real S3-compatible server over loopback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest

from common.storage import Location, StorageError
from tests.s3_server import S3Server


@pytest.fixture(params=["local", "s3"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], Location]:
    if request.param == "local":
        return lambda name: Location.parse(tmp_path / name)
    server: S3Server = request.getfixturevalue("s3_server")
    return lambda name: Location.parse(server.url(name))


def test_a_written_file_reads_back_and_lists_without_dot_names(
    location: Callable[[str], Location],
) -> None:
    root = location("root")
    assert not root.exists()
    (root / "a" / "one.json").write_bytes(b'{"a": 1}')
    (root / "a" / ".half.json").write_bytes(b"{")
    (root / "b.json").write_bytes(b"[]")
    (root / "c.txt").write_bytes(b"c")
    assert (root / "a" / "one.json").read_text() == '{"a": 1}'
    assert [f.path for f in root.files(".json", recursive=True)] == [
        (root / "a" / "one.json").path,
        (root / "b.json").path,
    ]
    assert [f.name for f in root.files(".json")] == ["b.json"]
    stat = (root / "b.json").stat()
    assert stat is not None and stat.size == 2
    assert (root / "missing").stat() is None


def test_a_missing_file_raises_file_not_found(location: Callable[[str], Location]) -> None:
    with pytest.raises(FileNotFoundError):
        (location("empty") / "none.json").read_bytes()


def test_parquet_written_through_write_with_reads_back(
    location: Callable[[str], Location],
) -> None:
    part = location("ds") / "decisions" / "date=2026-12-03" / "p.parquet"
    part.write_with(lambda out: pq.write_table(pa.table({"x": [1, 2, 3]}), out))
    with part.open_input() as source:
        assert pq.read_table(source).column("x").to_pylist() == [1, 2, 3]


def test_a_failed_write_leaves_no_file(location: Callable[[str], Location]) -> None:
    target = location("failed") / "f.bin"

    def fail(out: BinaryIO) -> None:
        out.write(b"half")
        raise RuntimeError("the writer failed")

    with pytest.raises(RuntimeError):
        target.write_with(fail)
    assert not target.exists()
    assert target.parent().files() == []


def test_move_and_delete(location: Callable[[str], Location]) -> None:
    root = location("moves")
    (root / "staged" / "x.bin").write_bytes(b"x")
    (root / "staged" / "x.bin").move_to(root / "final" / "x.bin")
    assert (root / "final" / "x.bin").read_bytes() == b"x"
    assert not (root / "staged" / "x.bin").exists()
    (root / "final").delete()
    assert root.files(recursive=True) == []


def test_bad_locations_are_refused_naming_them() -> None:
    with pytest.raises(StorageError, match="ftp://host/x: not a location"):
        Location.parse("ftp://host/x")
    with pytest.raises(StorageError, match="empty location"):
        Location.parse("")


def test_the_shown_name_drops_the_query_options(s3_server: S3Server) -> None:
    location = Location.parse(s3_server.url("shown"))
    assert str(location).startswith("s3://keyart-") and "?" not in str(location)
    assert str(location / "x.json").endswith("/shown/x.json")


def test_children_are_the_entries_directly_here_dot_named_too(
    location: Callable[[str], Location],
) -> None:
    root = location("tree")
    (root / ".staging" / "batch-1" / "p.parquet").write_bytes(b"p")
    (root / ".staging" / "batch-2" / "q.parquet").write_bytes(b"q")
    (root / ".staging" / "lock").write_bytes(b"")
    assert [entry.name for entry in (root / ".staging").children()] == [
        "batch-1",
        "batch-2",
        "lock",
    ]
    assert (root / "missing").children() == []
