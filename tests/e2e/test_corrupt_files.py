"""Corrupt or truncated files on disk stop the process that would serve them, naming the file.

Each case starts the real server process on a damaged file and expects it to
exit with status 1, the log naming the file, and the file left as it was.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from cli.run import ensure_model
from demo.catalog import demo_titles
from services.artwork.store import ArtworkStore
from services.profile.sqlite_store import SqliteProfileStore
from services.profile.taste import Decay
from suite.supervisor import ServiceProcess, SuiteConfig, local_suite_config


def garbage(path: Path) -> None:
    path.write_bytes(b"this is not what the service wrote\n" * 200)


def truncated(path: Path) -> None:
    """Keeps the first 4 KiB page (a valid header) and drops the rest."""
    path.write_bytes(path.read_bytes()[:4096])


def real_catalog(path: Path) -> None:
    ArtworkStore(path).upsert_titles(demo_titles())


def real_profiles(path: Path) -> None:
    """A profile DB with a few pages of rows, so truncation cuts through data."""
    SqliteProfileStore(str(path), Decay(90.0)).close()
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO viewers (user_id, event_count) VALUES (?, ?)",
            [(f"viewer-{i:05}", i) for i in range(2000)],
        )
    sqlite3.connect(path).execute("PRAGMA wal_checkpoint(TRUNCATE)").close()


def real_model(path: Path) -> None:
    ensure_model(path)


CASES: dict[str, tuple[str, str, Callable[[Path], None]]] = {
    # case: (service, file name in the data dir, how the real file is made)
    "catalog": ("artwork", "catalog.db", real_catalog),
    "profile": ("profile", "profile.db", real_profiles),
    "model": ("ranker", "models/bundled.onnx", real_model),
}


@pytest.mark.parametrize("damage", [garbage, truncated], ids=["garbage", "truncated"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_damaged_file_stops_the_service_naming_the_file(
    tmp_path: Path, case: str, damage: Callable[[Path], None]
) -> None:
    service, name, make = CASES[case]
    config: SuiteConfig = local_suite_config(tmp_path, tmp_path / "models" / "bundled.onnx")
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    make(path)
    damage(path)
    damaged = path.read_bytes()
    log_path = tmp_path / f"{service}.log"
    with open(log_path, "wb") as log:
        process = ServiceProcess(service, config, log)
        process.start()
        assert process.process is not None
        code = process.process.wait(60)
    log_text = log_path.read_text()
    assert code == 1, log_text
    assert '"event": "cannot start"' in log_text
    assert str(path) in log_text
    assert "Traceback" not in log_text
    assert path.read_bytes() == damaged  # nothing repaired or re-seeded behind the operator's back
