"""Training from a bandit log: the learned policy beats the logging one, and serves as ONNX."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from common.model_contract import card_path
from learning import bilinear, targets
from learning.dataset import write_bandit_file
from learning.train import train
from services.ranker.model import RankingModel
from tests.unit.learning_data import synthetic, true_value


def test_training_improves_on_the_logging_policy_and_the_baselines(tmp_path: Path) -> None:
    data, truth = synthetic(20_000, 5, seed=11, logging="epsilon")
    weights = bilinear.fit(data)
    scores = bilinear.candidate_scores(weights, data)
    learned = true_value(targets.greedy(scores, data), truth, data.counts)
    logged = float(data.reward.mean())
    default = true_value(targets.catalog_default(data), truth, data.counts)
    best = true_value(targets.greedy(truth, data), truth, data.counts)
    random = true_value(targets.uniform(data), truth, data.counts)
    assert learned > default > random
    assert learned > logged + 0.05
    assert (learned - random) / (best - random) > 0.8


def test_train_cli_exports_a_model_the_ranker_serves_and_its_card(tmp_path: Path) -> None:
    data, _ = synthetic(4_000, 4, seed=3, logging="epsilon")
    log = tmp_path / "import.jsonl"
    write_bandit_file(data, log)
    out = tmp_path / "models" / "learned.onnx"

    card = train(data, out, bilinear.FitSettings(max_iterations=20), holdout=0.25, source=str(log))

    model = RankingModel(out)  # loads, signature, metadata and probe checks of the ranker
    assert model.version == card["model_version"]
    assert model.version.startswith("learned-")
    assert json.loads(card_path(out).read_text()) == card
    assert card["data"]["decisions"] == 4_000 and card["data"]["holdout_decisions"] == 1_000
    assert {e["estimator"] for e in card["holdout_estimates"]} == {"ips", "snips", "dr"}
    # The exported graph computes what numpy fitted.
    first = slice(0, data.counts[0])
    scores = model.score(data.viewer[:1], data.context[:1], data.artwork[first])
    weights_scores = bilinear.candidate_scores(_weights_from(out), data)[first]
    np.testing.assert_allclose(scores, weights_scores, rtol=1e-4, atol=1e-6)


def _weights_from(path: Path) -> bilinear.RecipeWeights:
    arrays = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}
    return bilinear.RecipeWeights(arrays["Wv"], arrays["Wc"], arrays["q"], float(arrays["bias"][0]))


def test_train_refuses_a_log_without_explored_decisions(tmp_path: Path) -> None:
    data, _ = synthetic(2_000, 4, seed=3, logging="epsilon")
    log = tmp_path / "greedy.jsonl"
    write_bandit_file(replace(data, propensity=np.ones(len(data))), log)  # exploration off
    out = tmp_path / "learned.onnx"

    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "train", "--log", str(log), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"keyart train: {log}: 0 of 2000 decisions were explored (propensity < 1), 0 of them "
        "among the 400 held out; at least 10 explored held-out decisions are needed to estimate "
        "a model offline. Log pages with exploration on (RANKER_EXPLORATION=epsilon_greedy or "
        "softmax), or pass --allow-unexplored to write a model with no offline estimate"
    ]
    assert not out.exists() and not card_path(out).exists()


def test_allow_unexplored_writes_a_model_whose_card_has_no_offline_estimate(tmp_path: Path) -> None:
    data, _ = synthetic(400, 4, seed=3, logging="epsilon")
    out = tmp_path / "learned.onnx"
    unexplored = replace(data, propensity=np.ones(len(data)))

    card = train(
        unexplored, out, bilinear.FitSettings(max_iterations=5), 0.2, "x", allow_unexplored=True
    )

    assert card["offline_estimate"] is None
    assert card["data"]["explored_decisions"] == 0
    assert json.loads(card_path(out).read_text())["offline_estimate"] is None
    assert RankingModel(out).version == card["model_version"]
