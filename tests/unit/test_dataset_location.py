"""`--dataset` as a filesystem URL: the same commands on a real S3-compatible server over
loopback give what they give on a local directory; a location that cannot be used is one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.main import main
from common.features import SCHEMA_VERSION
from common.models_pointer import read_pointer
from common.storage import Location
from learning.parquet_writer import create_for, write_bandit_data
from tests.s3_server import S3Server
from tests.unit.gateway_log import write_gateway_log
from tests.unit.learning_data import synthetic
from tests.unit.test_loop import spread_over

# Nothing listens on port 9 (discard) on loopback: the store cannot be reached.
UNREACHABLE = "s3://keyart-none/dataset?endpoint_override=127.0.0.1:9&scheme=http"


def keyart(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Runs the command (it must succeed); the last line of its standard output (a warning
    logged before it goes there too)."""
    capsys.readouterr()
    assert main(list(argv)) == 0, capsys.readouterr().err
    return capsys.readouterr().out.splitlines()[-1]


def test_a_dataset_on_s3_trains_and_evaluates_as_the_same_data_locally(
    s3_server: S3Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    logs = tmp_path / "logs"
    write_gateway_log(logs, pages=80)
    local, remote = str(tmp_path / "dataset"), s3_server.url("dataset")
    compacted = [
        keyart(capsys, "dataset", "compact", "--logs", str(logs), "--dataset", where)
        for where in (local, remote)
    ]
    assert compacted[0] == compacted[1] and ": 400 decisions, " in compacted[0]
    cards, reports = [], []
    for name, where in (("local", local), ("s3", remote)):
        out = tmp_path / f"{name}.onnx"
        keyart(capsys, "train", "--dataset", where, "--out", str(out), "--max-iterations", "20")
        cards.append(json.loads(out.with_suffix(".card.json").read_text()))
        reports.append(json.loads(keyart(capsys, "evaluate", "--dataset", where, "--json")))
    assert cards[1]["model_version"] == cards[0]["model_version"]
    assert cards[1]["holdout_estimates"] == cards[0]["holdout_estimates"]
    assert cards[1]["data"]["source"] == remote.split("?")[0]  # the endpoint is not repeated
    assert reports[1] == reports[0] and reports[0]["decisions"] == 400


def test_export_from_and_import_into_s3_give_what_they_give_locally(
    s3_server: S3Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    logs = tmp_path / "logs"
    write_gateway_log(logs, pages=30)
    exported: dict[str, list[str]] = {}
    for name, compacted, imported in (
        ("local", str(tmp_path / "compacted"), str(tmp_path / "imported")),
        ("s3", s3_server.url("compacted"), s3_server.url("imported")),
    ):
        first, again = tmp_path / f"{name}.dsjson", tmp_path / f"{name}-again.dsjson"
        keyart(capsys, "dataset", "compact", "--logs", str(logs), "--dataset", compacted)
        keyart(
            capsys, "dataset", "export", "--format", "dsjson", "--dataset", compacted, str(first)
        )
        shown = keyart(
            capsys, "dataset", "import", "--format", "dsjson", str(first), "--dataset", imported
        )
        assert shown == f"imported 150 decisions from {first} into {imported.split('?')[0]}"
        keyart(capsys, "dataset", "export", "--format", "dsjson", "--dataset", imported, str(again))
        exported[name] = first.read_text().splitlines() + again.read_text().splitlines()
    assert len(exported["local"]) == 300 and exported["s3"] == exported["local"]


def test_the_loop_trains_on_an_s3_dataset_and_publishes_a_winner_to_s3_models(
    s3_server: S3Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Nothing published and no bundled model: the candidate is judged against the logged policy.
    monkeypatch.setenv("RANKER_MODEL_PATH", str(tmp_path / "none.onnx"))
    data, _ = synthetic(6_000, 4, seed=5, logging="epsilon")
    data = spread_over(data, days=6)
    dataset = s3_server.url("dataset")
    root = Location.parse(dataset)
    write_bandit_data(
        root, create_for(root, data, SCHEMA_VERSION), data, [f"d{i}" for i in range(len(data))]
    )
    models = s3_server.url("models")
    capsys.readouterr()
    assert main(["loop", "--dataset", dataset, "--models", models, "--days", "7"]) == 0
    verdict, published = capsys.readouterr().out.splitlines()[-2:]
    assert "decision=publish" in verdict, verdict
    pointer = read_pointer(Location.parse(models))
    assert pointer is not None and pointer.current in published


@pytest.mark.parametrize(
    "argv",
    [
        ["evaluate", "--dataset"],
        ["train", "--out", "m.onnx", "--dataset"],
        ["dataset", "compact", "--logs", ".", "--dataset"],
        ["dataset", "export", "--format", "dsjson", "out.dsjson", "--dataset"],
        ["loop", "--models", "models", "--dataset"],
        ["collect", "--status", "--nats", "nats://127.0.0.1:4222", "--dataset"],
    ],
    ids=lambda argv: " ".join(argv[:2]),
)
@pytest.mark.parametrize("location", ["ftp://x/dataset", UNREACHABLE])
def test_a_location_that_cannot_be_used_is_one_line_naming_it_and_status_2(
    argv: list[str], location: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*argv, location]) == 2
    captured = capsys.readouterr()
    named = location.split("?")[0]
    assert captured.err.count("\n") == 1 and named in captured.err, captured.err
    assert "Traceback" not in captured.err and captured.out == ""


def test_spark_refuses_an_object_store_in_one_line(
    s3_server: S3Server, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = s3_server.url("dataset")
    for argv in (["evaluate"], ["train", "--out", "m.onnx"]):
        assert main([*argv, "--engine", "spark", "--dataset", dataset]) == 2
        error = capsys.readouterr().err
        assert error.count("\n") == 1, error
        assert "Spark reads object stores only through Hadoop's connectors (s3a" in error
