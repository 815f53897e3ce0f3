"""`keyart train|evaluate --dataset --engine`: what each refuses, in one line with exit status 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.main import main
from common.storage import Location
from learning.parquet_writer import create_for, write_bandit_data
from tests.unit.learning_data import synthetic


def foreign_dataset(root: Path) -> Path:
    """A dataset whose features are not keyart's (feature_schema None)."""
    data, _ = synthetic(200, 4, seed=1, logging="epsilon")
    info = create_for(Location.local(root), data, None)
    write_bandit_data(Location.local(root), info, data, [f"d{i}" for i in range(len(data))])
    return root


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["evaluate", "--log", "logs", "--engine", "spark"], "--engine spark reads a dataset"),
        (["train", "--log", "logs", "--out", "m.onnx", "--engine", "spark"], "reads a dataset"),
        (["evaluate", "--dataset", "nowhere"], "nowhere: not a dataset (no dataset.json)"),
    ],
)
def test_a_command_line_without_one_source_is_refused(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1, error


def test_train_refuses_features_that_are_not_keyart_s(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = foreign_dataset(tmp_path / "data")
    out = tmp_path / "m.onnx"
    assert main(["train", "--dataset", str(root), "--out", str(out), "--engine", "spark"]) == 2
    error = capsys.readouterr().err
    assert "a servable keyart model needs keyart's feature schema" in error, error
    assert error.count("\n") == 1, error
    assert not out.exists()


def test_evaluate_a_foreign_dataset_leaves_the_default_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = foreign_dataset(tmp_path / "data")
    assert main(["evaluate", "--dataset", str(root), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert sorted(report["policies"]) == ["logged policy", "random"]
    assert [e["estimator"] for e in report["policies"]["random"]] == ["ips", "snips", "dr"]
    assert all(e["decisions"] == 200 for e in report["policies"]["random"])
    assert [gone["policy"] for gone in report["left_out"]] == ["default"]
