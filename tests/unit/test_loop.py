"""`keyart loop`: train on the dataset's last days, judge against the serving model on one
holdout, publish only a winner (the rule, numbers and decision in the card and the line)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from cli.loop import run_once
from common.features import SCHEMA_VERSION
from common.model_contract import card_location, card_path
from common.models_pointer import model_file, read_pointer
from common.storage import Location
from learning import bilinear
from learning.dataset import BanditData
from learning.estimators import LOW_ESS
from learning.loop import DAY_MS, RULE, Judged, LoopSettings, decide, judge
from learning.parquet_layout import DatasetError
from learning.parquet_writer import create_for, write_bandit_data
from learning.train import TrainingRefused, train
from tests.s3_server import S3Server
from tests.unit.learning_data import synthetic

NOW_MS = int(time.time() * 1000)


def dataset_of(root: Path, data: BanditData, schema: str | None = SCHEMA_VERSION) -> Path:
    info = create_for(Location.local(root), data, schema)
    write_bandit_data(Location.local(root), info, data, [f"d{i}" for i in range(len(data))])
    return root


def spread_over(data: BanditData, days: float, end_ms: int = NOW_MS) -> BanditData:
    """`data` with its decisions spread evenly over the `days` days before `end_ms`."""
    times = end_ms - np.linspace(days * DAY_MS, 0, len(data)).astype(np.int64)
    return replace(data, time_ms=times)


def settings_for(
    dataset: Path, models: Path, days: float = 7.0, ranker_model: Path | None = None
) -> LoopSettings:
    return LoopSettings(
        dataset=Location.local(dataset),
        models=Location.local(models),
        days=days,
        holdout=0.25,
        reward_window_s=1800.0,
        ranker_model=ranker_model or models / "no-ranker-model.onnx",
        fit=bilinear.FitSettings(max_iterations=30),
    )


@pytest.fixture(scope="module")
def explored_log(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, BanditData]:
    """Six days of ε-greedy decisions on quality alone: a model of taste does better."""
    data, _ = synthetic(6_000, 4, seed=5, logging="epsilon")
    data = spread_over(data, days=6)
    return dataset_of(tmp_path_factory.mktemp("loop") / "dataset", data), data


def test_a_better_candidate_is_published_with_the_verdict_in_its_card(
    explored_log: tuple[Path, BanditData], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset, data = explored_log
    models = tmp_path / "models"
    run_once(settings_for(dataset, models), None, 0.0)

    line, published = capsys.readouterr().out.splitlines()
    pointer = read_pointer(Location.local(models))
    assert pointer is not None and pointer.history == ()
    card = json.loads(
        card_location(model_file(Location.local(models), pointer.current)).read_text()
    )
    loop = card["loop"]
    assert loop["rule"] == RULE and loop["publish"] is True
    # Nothing served yet, no ranker model: the baseline is the logged policy on the holdout.
    assert loop["serving"]["name"] == "logged policy"
    held = data.reward[-loop["holdout_decisions"] :]
    assert loop["serving"]["value"] == pytest.approx(held.mean())
    assert loop["holdout_decisions"] == 1_500
    dr = next(e for e in card["holdout_estimates"] if e["estimator"] == "dr")
    assert loop["candidate"]["low"] == dr["low"] > loop["serving"]["value"]
    assert loop["candidate"]["name"] == pointer.current == card["model_version"]
    assert line.startswith(f"loop: candidate={pointer.current} dr={dr['value']:.4f} ")
    assert "serving=logged policy" in line and "holdout=1500 decision=publish" in line
    assert published == f"loop: published {pointer.current} to {models} (was none)"


def test_the_serving_model_itself_is_not_published_again(
    explored_log: tuple[Path, BanditData], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset, _ = explored_log
    models = tmp_path / "models"
    run_once(settings_for(dataset, models), None, 0.0)
    first = read_pointer(Location.local(models))
    capsys.readouterr()

    run_once(settings_for(dataset, models), None, 0.0)  # same data, same seed: the same model

    (line,) = capsys.readouterr().out.splitlines()
    assert first is not None and read_pointer(Location.local(models)) == first
    assert f"({'current.json'})" in line
    assert line.endswith("decision=keep: the candidate is the serving model")


def test_the_loop_publishes_to_and_judges_against_models_on_s3(
    explored_log: tuple[Path, BanditData],
    s3_server: S3Server,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dataset, _ = explored_log
    store = Location.parse(s3_server.url("models"))
    settings = replace(settings_for(dataset, tmp_path / "models"), models=store)
    run_once(settings, None, 0.0)
    first = read_pointer(store)
    assert first is not None
    published = capsys.readouterr().out.splitlines()[-1]
    assert published == f"loop: published {first.current} to {store} (was none)"

    run_once(settings, None, 0.0)  # judged against the model it reads back from the store

    (line,) = capsys.readouterr().out.splitlines()
    assert read_pointer(store) == first
    assert f"serving={first.current} dr=" in line and "(current.json)" in line
    assert line.endswith("decision=keep: the candidate is the serving model")


def test_a_candidate_whose_lower_bound_does_not_beat_the_serving_model_is_kept(
    explored_log: tuple[Path, BanditData], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset, data = explored_log
    models = tmp_path / "models"
    # Serving: a model fitted on all six days. The candidate sees only the last half day.
    served = tmp_path / "served.onnx"
    train(data, served, bilinear.FitSettings(max_iterations=30), 0.25, "all six days")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.main",
            "model",
            "publish",
            str(served),
            "--models",
            str(models),
        ],
        check=True,
        capture_output=True,
    )
    before = read_pointer(Location.local(models))
    out = tmp_path / "candidate.onnx"

    # The window ends when the data do, however long the tests before took.
    verdict = judge(settings_for(dataset, models, days=0.5), out, now_ms=NOW_MS)

    assert before is not None and read_pointer(Location.local(models)) == before  # untouched
    assert verdict.serving.source == "current.json" and verdict.serving.name == before.current
    assert verdict.candidate.name != before.current
    assert verdict.holdout_decisions == round(len(data) / 12 * 0.25)
    assert not verdict.publish
    assert verdict.candidate.low <= verdict.serving.value
    assert verdict.reason == (
        f"lower bound {verdict.candidate.low:.4f} <= serving {verdict.serving.value:.4f}"
    )
    card = json.loads(card_path(out).read_text())
    assert card["loop"]["publish"] is False and card["loop"]["serving"]["source"] == "current.json"


def test_a_winner_resting_on_a_few_heavy_weights_is_kept() -> None:
    serving = Judged("learned-old", "current.json", 0.20, 0.18, 0.22, 900.0)
    winner = Judged("learned-new", "trained", 0.30, 0.25, 0.35, 900.0)
    assert decide(winner, serving) == (True, "lower bound 0.2500 > serving 0.2000")
    publish, reason = decide(replace(winner, ess=LOW_ESS - 1), serving)
    assert not publish and reason.endswith(f"(effective sample size 99 < {LOW_ESS:.0f})")


def test_the_ranker_model_is_the_baseline_before_anything_is_published(
    explored_log: tuple[Path, BanditData], tmp_path: Path
) -> None:
    dataset, data = explored_log
    ranker_model = tmp_path / "image" / "bundled.onnx"
    train(data, ranker_model, bilinear.FitSettings(max_iterations=30), 0.25, "the image's")
    verdict = judge(
        settings_for(dataset, tmp_path / "models", ranker_model=ranker_model),
        tmp_path / "candidate.onnx",
    )
    assert verdict.serving.source == "RANKER_MODEL_PATH"
    assert verdict.serving.name.startswith("learned-")


def test_a_window_with_no_decisions_is_refused(
    explored_log: tuple[Path, BanditData], tmp_path: Path
) -> None:
    dataset, _ = explored_log
    with pytest.raises(DatasetError, match="holds no decisions since"):
        judge(settings_for(dataset, tmp_path), tmp_path / "c.onnx", now_ms=NOW_MS + 30 * DAY_MS)


def test_a_dataset_of_other_features_is_refused(tmp_path: Path) -> None:
    data, _ = synthetic(200, 3, seed=1)
    foreign = replace(data, viewer=data.viewer[:, :3])
    dataset = dataset_of(tmp_path / "dataset", spread_over(foreign, 1), schema=None)
    with pytest.raises(TrainingRefused, match="needs keyart's feature schema"):
        judge(settings_for(dataset, tmp_path), tmp_path / "c.onnx")


def keyart_loop(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "loop", *argv],
        env={**os.environ, **(env or {})},
        check=False,  # the exit status is what the tests look at
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_bad_input_is_one_line_and_exit_status_2(
    explored_log: tuple[Path, BanditData], tmp_path: Path
) -> None:
    dataset, _ = explored_log
    for argv, message in (
        (["--dataset", str(tmp_path / "none")], f"{tmp_path / 'none'}: not a dataset"),
        (["--dataset", str(dataset), "--days", "0"], "--days: expected a positive number"),
        (["--dataset", str(dataset), "--holdout", "1.5"], "--holdout: expected a share"),
        ([], "--dataset (or LOOP_DATASET)"),
    ):
        done = keyart_loop(*argv, "--models", str(tmp_path / "models"))
        assert done.returncode == 2, (argv, done.stderr)
        assert done.stderr.startswith(f"keyart loop: {message}"), done.stderr
        assert len(done.stderr.splitlines()) == 1 and done.stdout == ""
    assert not (tmp_path / "models").exists()
