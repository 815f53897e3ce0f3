"""`keyart events import` against the real suite: formats, every kind of bad line, dry run,
re-runs after an interruption, and the Good Will Hunting story from imported histories."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type hints
import pyarrow.parquet as pq  # type: ignore[import-untyped]  # pyarrow ships no type hints
import pytest
from keyart.gateway.v1 import gateway_service_pb2 as gateway_pb
from keyart.profile.v1 import profile_service_pb2 as pb
from keyart.profile.v1 import profile_service_pb2_grpc

from cli.main import main
from demo.catalog import titles_by_genre
from demo.pages import demo_page
from suite.client import PageClient
from suite.supervisor import Suite, SuiteConfig

Rows = list[dict[str, Any]]
Import = Callable[..., tuple[int, str, str]]


def history(user_id: str, title_ids: list[str], kind: str = "qualified-play") -> Rows:
    return [
        {
            "event_id": f"{user_id}-{i}",
            "user_id": user_id,
            "title_id": title_id,
            "kind": kind,
            "occurred_at": f"2026-11-{1 + i % 28:02d}T20:00:00+01:00",
        }
        for i, title_id in enumerate(title_ids)
    ]


def write_jsonl(path: Path, rows: Rows) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def write_csv(path: Path, rows: Rows) -> Path:
    columns = ["event_id", "user_id", "title_id", "artwork_id", "page_id", "kind", "occurred_at"]
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_parquet(path: Path, rows: Rows) -> Path:
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


WRITERS = {"jsonl": write_jsonl, "csv": write_csv, "parquet": write_parquet}


@pytest.fixture(scope="module")
def profile(
    suite: Suite, suite_config: SuiteConfig
) -> Iterator[profile_service_pb2_grpc.ProfileServiceStub]:
    with grpc.insecure_channel(suite_config.addresses["profile"]) as channel:
        yield profile_service_pb2_grpc.ProfileServiceStub(channel)


def event_count(profile: profile_service_pb2_grpc.ProfileServiceStub, user_id: str) -> int:
    request = pb.GetViewerFeaturesRequest(user_id=user_id)
    return int(profile.GetViewerFeatures(request).event_count)


@pytest.fixture
def run_import(
    suite: Suite, suite_config: SuiteConfig, capsys: pytest.CaptureFixture[str]
) -> Import:
    """Runs `keyart events import FILE ARGS…` in-process against the suite: (status, out, err)."""

    def run(path: Path, *args: str) -> tuple[int, str, str]:
        status = main(
            [
                "events",
                "import",
                str(path),
                "--target",
                suite_config.addresses["profile"],
                "--artwork-target",
                suite_config.addresses["artwork"],
                *args,
            ]
        )
        out, err = capsys.readouterr()
        return status, out.strip(), err.strip()

    return run


@pytest.fixture
def viewer() -> str:
    return f"importer-{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_each_format_imports_every_event_once(
    fmt: str, tmp_path: Path, run_import: Import, profile: Any, viewer: str
) -> None:
    rows = history(viewer, titles_by_genre("comedy")[:5])
    rows[0]["artwork_id"] = ""  # optional columns may be left empty (CSV) or out
    path = WRITERS[fmt](tmp_path / f"history.{fmt}", rows)
    assert run_import(path) == (
        0,
        "applied: 5, duplicates: 0, viewers touched: 1",
        "5/5 events sent",
    )
    assert event_count(profile, viewer) == 5


def test_an_interrupted_import_run_again_doubles_nothing(
    tmp_path: Path, run_import: Import, profile: Any, viewer: str
) -> None:
    rows = history(viewer, titles_by_genre("romance")[:6]) + history(
        viewer + "-b", titles_by_genre("comedy")[:6]
    )
    first_half = write_jsonl(tmp_path / "first.jsonl", rows[:5])
    whole = write_jsonl(tmp_path / "whole.jsonl", rows)
    assert run_import(first_half, "--batch", "2")[:2] == (
        0,
        "applied: 5, duplicates: 0, viewers touched: 1",
    )
    assert run_import(whole, "--batch", "3")[:2] == (
        0,
        "applied: 7, duplicates: 5, viewers touched: 2",
    )
    assert run_import(whole)[:2] == (0, "applied: 0, duplicates: 12, viewers touched: 0")
    assert (event_count(profile, viewer), event_count(profile, viewer + "-b")) == (6, 6)


def test_dry_run_checks_the_file_and_applies_nothing(
    tmp_path: Path, run_import: Import, profile: Any, viewer: str
) -> None:
    path = write_jsonl(tmp_path / "h.jsonl", history(viewer, titles_by_genre("comedy")[:3]))
    assert run_import(path, "--dry-run") == (
        0,
        "valid: 3 events for 1 viewers (dry run: none sent)",
        "",
    )
    assert event_count(profile, viewer) == 0


def good_row(**changes: Any) -> dict[str, Any]:
    row = history("bad-line-viewer", titles_by_genre("comedy")[:1])[0]
    return {key: value for key, value in {**row, **changes}.items() if value is not None}


BAD_JSONL_LINES = {
    "bad JSON": ('{"event_id": "e1",', "h.jsonl:2: not valid UTF-8 JSON (Expecting"),
    "not an object": ("[1, 2]", "h.jsonl:2: expected a JSON object, one event a line"),
    "missing field": (good_row(user_id=None), "h.jsonl:2: user_id: missing"),
    "unknown column": (
        good_row(artwork="x"),
        "h.jsonl:2: artwork: unknown column; expected event_id, user_id, title_id, "
        "artwork_id, page_id, kind, occurred_at",
    ),
    "unknown kind": (
        good_row(kind="watched"),
        "h.jsonl:2: kind: 'watched' is not one of click, impression, play-start, qualified-play",
    ),
    "kind as a number": (good_row(kind=4), "h.jsonl:2: kind: must be a string, not int 4"),
    "bad timestamp": (
        good_row(occurred_at="yesterday"),
        "h.jsonl:2: occurred_at: 'yesterday' is not an ISO-8601 time",
    ),
    "timestamp without a zone": (
        good_row(occurred_at="2026-11-01T20:00:00"),
        "h.jsonl:2: occurred_at: 2026-11-01T20:00:00 has no time zone; add one (Z, +01:00)",
    ),
    "timestamp as a number": (
        good_row(occurred_at=1780000000),
        "h.jsonl:2: occurred_at: must be ISO-8601 text, not 1780000000",
    ),
    "id as a number": (good_row(user_id=42), "h.jsonl:2: user_id: must be a string, not int 42"),
    "bad id": (
        good_row(title_id="../etc"),
        "h.jsonl:2: title_id: '../etc' has an empty, '.' or '..' segment between its '/'s",
    ),
    "empty id": (good_row(event_id=""), "h.jsonl:2: event_id: must not be empty"),
    "unknown title": (
        good_row(title_id="no-such-title"),
        "h.jsonl:2: title_id: 'no-such-title' is not in the catalog",
    ),
    "unknown artwork": (
        good_row(artwork_id="good-will-hunting/damon-driver"),
        f"h.jsonl:2: artwork_id: 'good-will-hunting/damon-driver' is not a candidate of "
        f"{titles_by_genre('comedy')[0]!r}",
    ),
    "a reused event id in the file": (
        good_row(event_id="first", kind="click"),
        "h.jsonl:2: event_id: 'first' is also at h.jsonl:1, with other content",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_JSONL_LINES))
def test_a_bad_line_is_named_and_nothing_is_applied(
    case: str, tmp_path: Path, run_import: Import, profile: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    line, message = BAD_JSONL_LINES[case]
    text = line if isinstance(line, str) else json.dumps(line)
    Path("h.jsonl").write_text(json.dumps(good_row(event_id="first")) + "\n" + text + "\n")
    status, out, err = run_import(Path("h.jsonl"))
    assert (status, out) == (2, "")
    assert err.startswith(f"keyart: {message}")
    assert len(err.splitlines()) == 1
    assert event_count(profile, "bad-line-viewer") == 0


def test_a_string_of_digits_is_a_fine_id_in_csv(
    tmp_path: Path, run_import: Import, profile: Any, viewer: str
) -> None:
    """CSV cells are text: a numeric viewer id is the string id, as elsewhere in keyart."""
    numeric = str(uuid.uuid4().int)[:12]
    path = write_csv(tmp_path / "h.csv", history(numeric, titles_by_genre("comedy")[:2]))
    assert run_import(path)[:2] == (0, "applied: 2, duplicates: 0, viewers touched: 1")
    assert event_count(profile, numeric) == 2


def test_bad_csv_and_parquet_rows_are_named(
    tmp_path: Path, run_import: Import, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    rows = [good_row(), good_row(event_id="e2", kind="rewind")]
    expected = "kind: 'rewind' is not one of click, impression, play-start, qualified-play"
    write_csv(Path("h.csv"), rows)
    assert run_import(Path("h.csv")) == (2, "", f"keyart: h.csv:3: {expected}")
    write_parquet(Path("h.parquet"), rows)
    assert run_import(Path("h.parquet")) == (2, "", f"keyart: h.parquet: row 2: {expected}")
    pq.write_table(pa.Table.from_pylist([{**good_row(), "user_id": 7}]), "n.parquet")
    assert run_import(Path("n.parquet")) == (
        2,
        "",
        "keyart: n.parquet: row 1: user_id: must be a string, not int 7",
    )


def test_an_empty_file_or_an_unknown_extension_is_refused(
    tmp_path: Path, run_import: Import, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("empty.jsonl").write_text("")
    assert run_import(Path("empty.jsonl")) == (2, "", "keyart: empty.jsonl: holds no events")
    Path("h.txt").write_text("x")
    assert run_import(Path("h.txt")) == (
        2,
        "",
        "keyart: h.txt: unknown extension '.txt'; expected one of .jsonl, .csv, .parquet",
    )


def test_an_event_id_recorded_with_other_content_names_its_line(
    tmp_path: Path, run_import: Import, profile: Any, viewer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    rows = history(viewer, titles_by_genre("comedy")[:4])
    write_jsonl(Path("first.jsonl"), rows[3:])
    assert run_import(Path("first.jsonl"))[0] == 0
    rows[3]["kind"] = "click"
    write_jsonl(Path("again.jsonl"), rows)
    status, out, err = run_import(Path("again.jsonl"), "--batch", "2")
    assert (status, out) == (2, "")
    assert err.splitlines()[-1].startswith(
        f"keyart: again.jsonl:4: event_id: '{viewer}-3' was already recorded for another user"
    )
    assert event_count(profile, viewer) == 3  # the batch before the refused one was applied


def test_the_command_exits_2_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text("not json\n")
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "events", "import", str(path), "--dry-run"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith(f"keyart: {path}:1: not valid UTF-8 JSON")
    assert "Traceback" not in done.stderr


def test_imported_histories_personalize_good_will_hunting(
    tmp_path: Path, run_import: Import, client: PageClient, viewer: str
) -> None:
    romance, comedy = f"{viewer}-romance", f"{viewer}-comedy"
    path = write_parquet(
        tmp_path / "viewers.parquet",
        history(romance, titles_by_genre("romance")[:12])
        + history(comedy, titles_by_genre("comedy")[:12]),
    )
    assert run_import(path)[:2] == (0, "applied: 24, duplicates: 0, viewers touched: 2")
    for user_id, artwork_id in (
        (romance, "good-will-hunting/damon-driver"),
        (comedy, "good-will-hunting/robin-williams"),
    ):
        response = client.render_page(user_id, demo_page())
        tile = next(
            tile
            for row in response.rows
            for tile in row.tiles
            if tile.title_id == "good-will-hunting"
        )
        assert (tile.artwork_id, tile.personalized) == (artwork_id, True)
        assert tile.fallback_reason == gateway_pb.FALLBACK_REASON_UNSPECIFIED


def test_a_refused_batch_is_told_before_a_bad_event_in_the_next(profile: Any, viewer: str) -> None:
    """The profile checks a batch while storing the one before: a reused id in batch 1 is
    still the answer when batch 2 holds a bad event, and nothing after it is applied."""

    def request(event_id: str, kind: int = 4, user_id: str = viewer) -> pb.ApplyEventRequest:
        return pb.ApplyEventRequest(
            event_id=event_id,
            user_id=user_id,
            title_id="good-will-hunting",
            kind=kind,
            occurred_at_unix_ms=1_780_000_000_000,
            genres=["drama"],
        )

    profile.ApplyEvents(iter([pb.ApplyEventsRequest(events=[request(f"{viewer}-0")])]))
    stream = [
        pb.ApplyEventsRequest(events=[request(f"{viewer}-1"), request(f"{viewer}-0", kind=2)]),
        pb.ApplyEventsRequest(events=[request(f"{viewer}-2", kind=99)]),
        pb.ApplyEventsRequest(events=[request(f"{viewer}-3")]),
    ]
    with pytest.raises(grpc.RpcError) as refused:
        profile.ApplyEvents(iter(stream))
    assert refused.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert (refused.value.details() or "").startswith(f"events[1].event_id: '{viewer}-0'")
    assert event_count(profile, viewer) == 1
