"""`keyart evaluate --dataset`: the same estimates as in memory, in batches, for built-in and
outside policies, with the effective sample size and what is left out said."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type hints
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest

from common.features import SCHEMA_VERSION
from common.storage import Location
from learning import targets
from learning.dataset import BanditData
from learning.estimators import LOW_ESS, Estimate, doubly_robust, ips, snips
from learning.evaluate import evaluate, evaluate_dataset, format_report, report_json
from learning.evaluation import EvaluationRefused, Report
from learning.parquet_writer import create_for, write_bandit_data
from tests.unit.learning_data import epsilon_greedy_log, synthetic, true_value

K = 4


def written(root: Path, data: BanditData, schema: str | None = SCHEMA_VERSION, **extra) -> Path:
    info = create_for(Location.local(root), data, schema)
    write_bandit_data(
        Location.local(root), info, data, [f"d{i}" for i in range(len(data))], **extra
    )
    return root


def by_estimator(report: Report, policy: str) -> dict[str, Estimate]:
    return {e.estimator: e for e in report.policies[policy]}


def assert_same(found: Estimate, expected: Estimate) -> None:
    for name in ("value", "low", "high", "ess", "max_weight"):
        assert getattr(found, name) == pytest.approx(getattr(expected, name), rel=1e-9), name


@pytest.fixture(scope="module")
def logged() -> BanditData:
    return synthetic(1_500, K, seed=7, logging="epsilon")[0]


@pytest.fixture(scope="module")
def dataset(logged: BanditData, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return written(tmp_path_factory.mktemp("dataset"), logged)


def test_the_dataset_gives_the_in_memory_estimates_whatever_the_batch_size(
    logged: BanditData, dataset: Path
) -> None:
    predicted = targets.reward_predictions(logged)
    whole = evaluate_dataset(Location.local(dataset), [], batch_size=4096)
    small = evaluate_dataset(Location.local(dataset), [], batch_size=97)
    for policy, target in (
        ("random", targets.uniform(logged)),
        ("default", targets.catalog_default(logged)),
    ):
        expected = {
            "ips": ips(logged, target),
            "snips": snips(logged, target),
            "dr": doubly_robust(logged, target, predicted),
        }
        for report in (whole, small):
            found = by_estimator(report, policy)
            assert sorted(found) == ["dr", "ips", "snips"]  # an ε-greedy log: no replay
            for name, estimate in expected.items():
                assert_same(found[name], estimate)
    assert by_estimator(whole, "logged policy")["logged"].value == pytest.approx(
        logged.reward.mean(), rel=1e-12
    )


def probabilities_file(path: Path, data: BanditData, target: np.ndarray) -> Path:
    with path.open("w") as out:
        for i, start in enumerate(data.starts):
            row = target[start : start + data.counts[i]].tolist()
            out.write(json.dumps({"decision_id": f"d{i}", "probabilities": row}) + "\n")
    return path


def test_a_file_giving_the_uniform_policy_equals_the_built_in_random(
    logged: BanditData, dataset: Path, tmp_path: Path
) -> None:
    path = probabilities_file(tmp_path / "uniform.jsonl", logged, targets.uniform(logged))
    report = evaluate_dataset(Location.local(dataset), [], policy_file=path, batch_size=500)
    found, random = (
        by_estimator(report, "policy file (uniform.jsonl)"),
        by_estimator(report, "random"),
    )
    for name in ("ips", "snips", "dr"):
        assert_same(found[name], random[name])


def logging_probabilities(data: BanditData) -> np.ndarray:
    """(N,) the ε-greedy logging policy of learning_data.synthetic: ε/k, plus 1 − ε on the best."""
    quality = data.artwork[:, -2].reshape(len(data), K)
    probabilities = np.full((len(data), K), 0.5 / K)
    probabilities[np.arange(len(data)), quality.argmax(axis=1)] += 0.5
    return probabilities.ravel()


def test_the_logging_policy_given_as_a_parquet_file_has_ips_equal_to_the_logged_mean(
    logged: BanditData, dataset: Path, tmp_path: Path
) -> None:
    target = logging_probabilities(logged)
    np.testing.assert_allclose(target[logged.starts + logged.chosen], logged.propensity)
    path = tmp_path / "logging.parquet"
    rows = [target[s : s + K].tolist() for s in logged.starts]
    pq.write_table(
        pa.table({"decision_id": [f"d{i}" for i in range(len(logged))], "probabilities": rows}),
        path,
    )
    found = by_estimator(
        evaluate_dataset(Location.local(dataset), [], policy_file=path),
        "policy file (logging.parquet)",
    )
    assert found["ips"].value == pytest.approx(logged.reward.mean(), rel=1e-9)
    assert found["ips"].ess == pytest.approx(len(logged), rel=1e-6)  # every weight 1


def test_the_target_probabilities_column_is_an_outside_policy(
    logged: BanditData, tmp_path: Path
) -> None:
    uniform = targets.uniform(logged)
    rows = [uniform[s : s + K].tolist() for s in logged.starts]
    report = evaluate_dataset(
        Location.local(written(tmp_path, logged, target_probabilities=rows)), []
    )
    found, random = (
        by_estimator(report, "target_probabilities column"),
        by_estimator(report, "random"),
    )
    for name in ("ips", "snips", "dr"):
        assert_same(found[name], random[name])


def test_one_heavy_weight_is_flagged_in_the_table_and_in_json(tmp_path: Path) -> None:
    """ε = 0.01 and a target that never picks the logging policy's greedy candidate: it agrees
    only with explored decisions, each of weight k/ε = 400, about 2.5 in 1,000."""
    data, target, _ = epsilon_greedy_log(np.random.default_rng(3), 1_000, K, 0.01, 0.0, 0.2)
    root = written(tmp_path / "dataset", data)
    path = probabilities_file(tmp_path / "heavy.jsonl", data, target)
    report = evaluate_dataset(Location.local(root), [], policy_file=path)
    heavy = report.policies["policy file (heavy.jsonl)"]
    assert heavy and all(e.low_ess and e.ess < LOW_ESS for e in heavy)
    assert heavy[0].max_weight == pytest.approx(K / 0.01)
    assert not report.policies["logged policy"][0].low_ess  # every weight 1: ESS = n
    table = format_report(report).splitlines()
    row = next(line for line in table if line.startswith("policy file"))
    assert row.count("*") == len(heavy)
    assert any(line.startswith("* effective sample size under 100") for line in table)
    listed = json.loads(report_json(report))["policies"]["policy file (heavy.jsonl)"]
    assert all(e["low_ess"] and e["ess"] < 100 and e["max_weight"] == 400 for e in listed)
    assert not json.loads(report_json(report))["policies"]["logged policy"][0]["low_ess"]


def test_default_is_left_out_with_a_note_on_foreign_features(
    logged: BanditData, tmp_path: Path
) -> None:
    report = evaluate_dataset(Location.local(written(tmp_path, logged, schema=None)), [])
    assert "default" not in report.policies and "random" in report.policies
    table = format_report(report)
    assert "left out: default: the dataset's features are not keyart's" in table
    gone = json.loads(report_json(report))["left_out"]
    assert [g["policy"] for g in gone] == ["default"] and gone[0]["estimator"] is None


def test_dr_on_other_widths_uses_a_linear_reward_model_and_covers_the_truth(
    tmp_path: Path,
) -> None:
    """An imported log of other widths (DSJSON, OBP): keyart's bilinear reward model cannot be
    fitted, so DR's r̂ is learning/linear_reward.py's logistic regression; DR stays unbiased
    and, as r̂ explains part of the reward, its interval is narrower than IPS's."""
    data, truth = synthetic(8_000, K, seed=3, logging="epsilon")
    other = BanditData(
        data.viewer,
        data.context[:, :3],  # a context of another width: not keyart's layout
        data.artwork,
        data.counts,
        data.chosen,
        data.propensity,
        data.reward,
        data.time_ms,
    )
    report = evaluate_dataset(Location.local(written(tmp_path, other, schema=None)), [])
    found = by_estimator(report, "random")
    assert {"ips", "snips", "dr"} <= set(found)
    assert not [gone for gone in report.left_out if gone.estimator == "dr"]
    assert found["dr"].covers(true_value(targets.uniform(other), truth, other.counts))
    assert found["dr"].high - found["dr"].low < found["ips"].high - found["ips"].low
    assert_same(found["ips"], ips(other, targets.uniform(other)))


def test_the_log_path_leaves_default_out_when_candidates_have_no_quality_features(
    logged: BanditData,
) -> None:
    flat = logged.artwork.copy()
    flat[:, -2:] = 0.0
    report = evaluate(BanditData(**{**logged.__dict__, "artwork": flat}), [])
    assert "default" not in report.policies
    assert [g.policy for g in report.left_out] == ["default"]
    assert all(e.computable for found in report.policies.values() for e in found)


def keyart_evaluate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "evaluate", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


BAD_FILES = {
    "sum": (
        '{"decision_id": "d0", "probabilities": [0.5, 0.2, 0.2]}',
        ":1: probabilities: sums to",
    ),
    "nan": (
        '{"decision_id": "d0", "probabilities": [NaN, 0.5, 0.5]}',
        ":1: probabilities[0]: nan is not in [0, 1]",
    ),
    "negative": (
        '{"decision_id": "d0", "probabilities": [-0.5, 1.0, 0.5]}',
        ":1: probabilities[0]: -0.5 is not in [0, 1]",
    ),
    "string": (
        '{"decision_id": "d0", "probabilities": ["0.5", 0.25, 0.25]}',
        ":1: probabilities[0]: '0.5' is not a number",
    ),
    "torn": ('{"decision_id": "d0", "probabilities": [0.5', ":1: not a JSON object"),
    "no id": (
        '{"probabilities": [0.5, 0.25, 0.25]}',
        ":1: decision_id: expected a non-empty string",
    ),
    "length": (
        '{"decision_id": "d0", "probabilities": [0.5, 0.5]}',
        ":1: probabilities: 2 probabilities, but decision 'd0' has 3 candidates",
    ),
    "missing": (
        '{"decision_id": "d0", "probabilities": [0.5, 0.25, 0.25]}',
        ": decision_id: 'd1' (row 2 of",
    ),
    "empty": ("", ": no decisions in the file"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_bad_probabilities_file_is_refused_in_one_line(case: str, tmp_path: Path) -> None:
    data = synthetic(2, 3, seed=4)[0]
    root = written(tmp_path / "dataset", data)
    text, expected = BAD_FILES[case]
    path = tmp_path / "bad.jsonl"
    path.write_text(text + "\n" if text else "")
    done = keyart_evaluate("--dataset", str(root), "--policy-probabilities", str(path))
    assert done.returncode == 2, done.stderr
    assert done.stdout == "" and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"keyart evaluate: {path}"), done.stderr
    assert expected in done.stderr, done.stderr


def test_a_model_is_refused_on_foreign_features(logged: BanditData, tmp_path: Path) -> None:
    root = written(tmp_path, logged, schema=None)
    with pytest.raises(EvaluationRefused, match="--model needs keyart's feature schema"):
        evaluate_dataset(Location.local(root), [tmp_path / "any.onnx"])


def test_an_empty_log_is_refused_not_printed_as_nan(logged: BanditData) -> None:
    with pytest.raises(EvaluationRefused, match="holds no decisions"):
        evaluate(logged.subset(np.zeros(len(logged), dtype=bool)), [])
