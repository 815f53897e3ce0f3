"""`keyart dataset compact` on a log the gateway's writer wrote: the dataset reads back what the
log reads (decisions, propensities, rewards), once, however often or wherever it was stopped."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import numpy as np
import pyarrow.dataset as pads  # type: ignore[import-untyped]  # pyarrow ships no type hints
import pytest
from keyart.gateway.v1.gateway_service_pb2 import DeviceType

from cli.main import main
from common.features import SCHEMA_VERSION
from common.log_schema import FEEDBACK, IMPRESSIONS
from common.segment_log import segments
from common.storage import Location
from gateway.impressions import LearningLogs
from learning import compact as compaction
from learning.compact import compact, read_manifest
from learning.dataset import BanditData, load, read_pages
from learning.parquet_layout import ACTION_SETS, DECISIONS, table_dataset
from learning.parquet_layout import FEEDBACK as FEEDBACK_TABLE
from learning.parquet_reader import load_dataset
from learning.parquet_writer import create_for
from tests.unit.gateway_log import DEVICES, UNSNAPSHOTTED_VERSION, config, write_gateway_log
from tests.unit.learning_data import synthetic

FIELDS = ("viewer", "context", "artwork", "counts", "chosen", "propensity", "reward", "time_ms")


def assert_same(back: BanditData, logged: BanditData) -> None:
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(back, name), getattr(logged, name), err_msg=name)


def table(root: Location, name: str) -> pads.Dataset:
    return table_dataset(root, name)


def test_the_dataset_holds_what_the_log_holds_and_a_second_run_adds_nothing(
    tmp_path: Path,
) -> None:
    logs, root = tmp_path / "logs", Location.local(tmp_path / "dataset")
    write_gateway_log(logs)
    assert len(segments(logs, IMPRESSIONS)) > 3 and len(segments(logs, FEEDBACK)) > 3  # rolled

    summary = compact(logs, root)

    logged = load(logs)
    assert len(logged) == 150 * 5  # cat-2's decision on each page has no snapshot
    assert_same(load_dataset(root), logged)
    assert logged.reward.sum() > 10 and (logged.propensity < 1).sum() > 100
    added = summary.added
    assert (added.decisions, added.skipped) == (750, 150)
    assert added.segments == len(segments(logs, IMPRESSIONS)) + len(segments(logs, FEEDBACK))
    assert added.feedback == 153  # a row per logged event, the three retries too
    names = table(root, ACTION_SETS).to_table().column("action_set").to_pylist()
    assert len(names) == len(set(names)) == added.action_sets  # each set once
    assert all(name.startswith("cat-1/title-") for name in names)
    assert summary.unresolved_versions == {UNSNAPSHOTTED_VERSION}

    decisions = table(root, DECISIONS).to_table()
    pages = list(read_pages(logs))
    assert decisions.column("decision_id").to_pylist()[:5] == [
        f"{pages[0].page_id}/{i}" for i in range(5)
    ]
    assert set(decisions.column("device_type").to_pylist()) == {
        DeviceType.Name(device) for device in DEVICES
    }
    assert decisions.column("reward").null_count == 750  # joined from feedback when read
    policies = decisions.column("policy").to_pylist()
    assert policies.count("default_fallback") == 15 * 5  # every tenth page: ranker down
    assert set(policies) == {"epsilon_greedy(epsilon=0.3)", "default_fallback"}

    directory = tmp_path / "dataset"
    files = {path: path.read_bytes() for path in directory.rglob("*") if path.is_file()}
    again = compact(logs, root)
    assert (again.added.segments, again.added.decisions, again.added.feedback) == (0, 0, 0)
    assert {path: path.read_bytes() for path in directory.rglob("*") if path.is_file()} == files


@pytest.mark.parametrize("crash_at", [1, 3])  # the first segment adds every action set
def test_a_crash_between_parts_and_manifest_adds_no_row_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crash_at: int
) -> None:
    logs, root = tmp_path / "logs", Location.local(tmp_path / "dataset")
    write_gateway_log(logs, pages=80, seed=1)
    real_write = compaction._write_manifest
    calls = 0

    def crash(root: Location, compacted: dict) -> None:
        nonlocal calls
        calls += 1
        if calls == crash_at:
            raise KeyboardInterrupt  # this segment's parts are written, not recorded
        real_write(root, compacted)

    monkeypatch.setattr(compaction, "_write_manifest", crash)
    with pytest.raises(KeyboardInterrupt):
        compact(logs, root)
    assert len(read_manifest(root)) == crash_at - 1
    monkeypatch.setattr(compaction, "_write_manifest", real_write)

    rerun = compact(logs, root)

    closed = len(segments(logs, IMPRESSIONS) + segments(logs, FEEDBACK))
    assert rerun.added.segments == closed - (crash_at - 1)
    assert_same(load_dataset(root), load(logs))
    assert table(root, FEEDBACK_TABLE).count_rows() == 80 + 3
    names = table(root, ACTION_SETS).to_table().column("action_set").to_pylist()
    assert len(names) == len(set(names))


def test_the_segment_being_written_waits_for_a_later_run(tmp_path: Path) -> None:
    logs, root = tmp_path / "logs", Location.local(tmp_path / "dataset")
    running = LearningLogs(config(logs))
    running.start()
    write_gateway_log(logs, pages=60, seed=2, logs=running)
    deadline = time.monotonic() + 10
    while sum(1 for _ in read_pages(logs)) < 60:  # the impression writer does not block pages
        assert time.monotonic() < deadline, "the pages were not written within 10 s"
        time.sleep(0.05)

    while_open = compact(logs, root)

    assert while_open.open_segments == 2  # the newest impression and feedback segments
    asyncio.run(running.close())
    after = compact(logs, root)
    assert (after.added.segments, after.open_segments) == (2, 0)
    assert_same(load_dataset(root), load(logs))


def test_train_from_the_log_and_from_its_dataset_makes_the_same_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    logs, root = tmp_path / "logs", tmp_path / "dataset"
    write_gateway_log(logs)
    assert main(["dataset", "compact", "--logs", str(logs), "--dataset", str(root)]) == 0
    closed = len(segments(logs, IMPRESSIONS) + segments(logs, FEEDBACK))
    assert capsys.readouterr().out.splitlines()[-1] == (  # the log goes to stdout before it
        f"compacted {closed} segments: 750 decisions, 153 feedback rows, 12 action sets added; "
        "150 decisions skipped (no catalog snapshot); 0 open segments left for a later run"
    )
    cards = []
    for source in (["--log", str(logs)], ["--dataset", str(root)]):
        out = tmp_path / f"{source[0][2:]}.onnx"
        common = ["--out", str(out), "--max-iterations", "20", "--artwork-target", ""]
        assert main(["train", *source, *common]) == 0
        cards.append(json.loads(out.with_suffix(".card.json").read_text()))
    from_log, from_dataset = cards
    assert from_dataset["data"]["source"] == str(root)
    assert from_dataset["model_version"] == from_log["model_version"]
    assert from_dataset["holdout_estimates"] == from_log["holdout_estimates"]


def test_a_dataset_of_other_features_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, _ = synthetic(50, 3, seed=5)
    create_for(Location.local(tmp_path / "foreign"), data, None)
    out = tmp_path / "m.onnx"

    code = main(["train", "--dataset", str(tmp_path / "foreign"), "--out", str(out)])

    assert code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"keyart train: {tmp_path / 'foreign'}: a servable keyart model needs")
    assert "this dataset has feature schema None" in line
    assert not out.exists()


def test_compacting_into_a_dataset_of_other_features_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, _ = synthetic(50, 3, seed=5)
    create_for(Location.local(tmp_path / "foreign"), data, None)
    (tmp_path / "logs").mkdir()
    argv = ["dataset", "compact", "--logs", str(tmp_path / "logs")]

    assert main([*argv, "--dataset", str(tmp_path / "foreign")]) == 2
    assert main(["dataset", "compact", "--logs", str(tmp_path / "none"), "--dataset", "x"]) == 2
    first, second = capsys.readouterr().err.splitlines()
    assert first.startswith(f"keyart dataset compact: {tmp_path / 'foreign'}: holds a dataset of")
    assert second == f"keyart dataset compact: --logs {tmp_path / 'none'}: no such directory"


def test_a_segment_of_other_features_or_damaged_is_refused_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    logs = tmp_path / "logs"
    write_gateway_log(logs, pages=30)
    impressions, feedback = segments(logs, IMPRESSIONS)[0], segments(logs, FEEDBACK)[0]
    header, rest = impressions.read_bytes().split(b"\n", 1)
    other = json.loads(header) | {"feature_schema": "features-v0"}
    impressions.write_bytes(json.dumps(other).encode() + b"\n" + rest)
    argv = ["dataset", "compact", "--logs", str(logs), "--dataset"]

    assert main([*argv, str(tmp_path / "a")]) == 2
    impressions.write_bytes(header + b"\n" + rest)
    feedback.write_bytes(feedback.read_bytes().replace(b"\n", b"\n{torn\n", 1))
    assert main([*argv, str(tmp_path / "b")]) == 2

    refusals = [line for line in capsys.readouterr().err.splitlines() if "keyart" in line]
    assert refusals == [
        f"keyart dataset compact: {impressions}: feature schema 'features-v0', "
        f"but this keyart's is {SCHEMA_VERSION!r}",
        f"keyart dataset compact: log segment {feedback} line 2 is not a JSON record",
    ]
