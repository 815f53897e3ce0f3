"""`python -m demo.catalog_seed`: the demo catalog into an empty artwork database, once."""

from __future__ import annotations

from pathlib import Path

import pytest

from demo.catalog import demo_titles
from demo.catalog_seed import main
from services.artwork.store import ArtworkStore


def test_seeds_an_empty_database_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "catalog.db"
    assert main([str(db)]) == 0
    assert capsys.readouterr().out == f"demo catalog: {len(demo_titles())} titles written\n"
    assert main([str(db)]) == 0
    assert capsys.readouterr().out == "demo catalog: already there\n"
    assert ArtworkStore(db).title_count() == len(demo_titles())


def test_a_damaged_database_is_one_line_naming_it_and_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "catalog.db"
    db.write_bytes(b"not a database\n" * 300)
    assert main([str(db)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and str(db) in err and "Traceback" not in err
    assert db.read_bytes() == b"not a database\n" * 300
