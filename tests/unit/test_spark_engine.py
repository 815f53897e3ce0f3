"""The Spark engine against the numpy one on the same Parquet dataset: the same estimates."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from common.features import SCHEMA_VERSION
from common.storage import Location
from learning import bilinear, reward_model, spark_evaluate, spark_train
from learning.compact import compact
from learning.decision_terms import Policies, report
from learning.estimators import Estimate, estimate_all, logged_value
from learning.evaluate import evaluate_dataset
from learning.parquet_reader import (
    DEFAULT_BATCH,
    DecisionBatch,
    concatenate,
    load_dataset,
    read_batches,
)
from learning.parquet_writer import create_for, write_bandit_data
from learning.poisson_bootstrap import interval
from learning.policy_probabilities import COLUMN_POLICY, PolicyFile, ProbabilitiesRefused
from learning.reward_model import CrossFitted
from learning.spark_session import executor_refusals
from learning.train import train
from services.ranker.model import RankingModel
from tests.spark_session import spark  # noqa: F401  # the module's SparkSession fixture
from tests.unit.gateway_log import write_gateway_log
from tests.unit.learning_data import synthetic

K = 5
# A JVM's start and Spark's first jobs took 100-300 s on the shared 2-core machine under load,
# past the suite's 300 s default (pyproject.toml); at load average 6 the module took about 4 min.
pytestmark = pytest.mark.timeout(900)


def dataset(directory: Path, logging: str, parts: int = 3) -> Location:
    """A 3,000-decision synthetic log with keyart's features, written in `parts` part files."""
    root = Location.local(directory)
    data, _ = synthetic(3_000, K, seed=7, logging=logging)
    info = create_for(root, data, SCHEMA_VERSION)
    known: set[str] = set()
    for part in np.array_split(np.arange(len(data)), parts):
        keep = np.zeros(len(data), bool)
        keep[part] = True
        known = write_bandit_data(root, info, data.subset(keep), [f"d{i}" for i in part], known)
    return root


def in_memory(root: Location) -> tuple[dict[str, list[Estimate]], CrossFitted]:
    """estimators.py on the whole dataset in memory, with the engines' reward model."""
    data = concatenate([batch.data for batch in read_batches(root)])
    model = reward_model.fit([data], len(data))
    predicted = model.predict(data, 0)
    found = {
        name: estimate_all(data, target, predicted)
        for name, target in Policies().targets(DecisionBatch(data, [])).items()
    }
    found["logged policy"] = [logged_value(data.reward)]
    return found, model


def values(policies: dict[str, list[Estimate]]) -> dict[tuple[str, str], tuple[float, float]]:
    """(policy, estimator) → (value, effective sample size)."""
    return {
        (name, e.estimator): (e.value, e.ess) for name, found in policies.items() for e in found
    }


@pytest.mark.parametrize("logging", ["uniform", "epsilon"])
def test_spark_estimates_equal_numpy_to_1e_9(spark: Any, tmp_path: Path, logging: str) -> None:  # noqa: F811
    root = dataset(tmp_path, logging)
    on_spark = spark_evaluate.evaluate(spark, root, Policies())
    on_numpy = evaluate_dataset(root, [], batch_size=700)
    reference, _ = in_memory(root)
    assert on_spark.decisions == on_numpy.decisions == 3_000
    expected = values(reference)
    spark_values, numpy_values = values(on_spark.policies), values(on_numpy.policies)
    if logging == "uniform":
        assert ("random", "replay") in expected
    assert numpy_values.keys() == spark_values.keys() == expected.keys()
    for key, value in expected.items():
        assert spark_values[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
        assert numpy_values[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    for found in on_spark.policies.values():
        for estimate in found:
            assert estimate.low < estimate.value < estimate.high, estimate


def test_spark_intervals_are_the_poisson_bootstrap_the_coverage_test_measures(
    spark: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    """One part file of 3,000 decisions (under DEFAULT_BATCH) is one partition and one record
    batch: Spark's intervals are then partition_sums over the same batch, computed here
    without Spark (tests/unit/test_poisson_bootstrap.py measures that method's coverage)."""
    root = dataset(tmp_path, "epsilon", parts=1)
    on_spark = spark_evaluate.evaluate(spark, root, Policies())
    batches = list(read_batches(root, batch_size=DEFAULT_BATCH))  # Spark's batch size too
    assert len(batches) == 1
    _, model = in_memory(root)
    local = spark_evaluate.partition_sums(
        [spark_evaluate.PositionedBatch(batches[0], np.arange(len(batches[0].data)))],
        Policies(),
        model,
        seed=0,
    )
    assert local is not None
    expected = report(
        local.labels,
        local.uniform,
        local.sums.units,
        lambda c: interval(local.sums, c),
        local.weights,
    ).policies
    assert on_spark.policies.keys() == expected.keys()
    for policy, found in expected.items():
        spark_found = on_spark.policies[policy]
        assert [e.estimator for e in spark_found] == [e.estimator for e in found]
        for spark_estimate, estimate in zip(spark_found, found, strict=True):
            assert (spark_estimate.low, spark_estimate.value, spark_estimate.high) == pytest.approx(
                (estimate.low, estimate.value, estimate.high), rel=1e-9
            ), (policy, estimate)


def test_spark_train_fits_numpy_s_model_and_its_holdout_estimate_is_inside_numpy_s_interval(
    spark: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    root = dataset(tmp_path / "data", "epsilon")
    settings = bilinear.FitSettings()
    numpy_card = train(load_dataset(root), tmp_path / "numpy.onnx", settings, 0.2, str(root))
    spark_card = spark_train.train(spark, root, tmp_path / "spark.onnx", settings, 0.2)
    assert spark_card["data"] == numpy_card["data"]  # the same split: the times are distinct
    numpy_dr, spark_dr = numpy_card["offline_estimate"], spark_card["offline_estimate"]
    print("holdout DR numpy", numpy_dr, "spark", spark_dr)
    assert numpy_dr["low"] <= spark_dr["value"] <= numpy_dr["high"]
    for name in ("train_log_loss", "holdout_log_loss"):
        assert spark_card["training"][name] == pytest.approx(numpy_card["training"][name], rel=1e-4)
    served = [RankingModel(tmp_path / f"{engine}.onnx") for engine in ("numpy", "spark")]
    data, _ = synthetic(50, K, seed=8)
    scores = [m.score(data.viewer[:1], data.context[:1], data.artwork[:K]) for m in served]
    np.testing.assert_allclose(scores[1], scores[0], atol=1e-3)


def outside_policy_dataset(directory: Path) -> tuple[Location, list[list[float]]]:
    """3,000 decisions whose target_probabilities column is an outside policy (ε-greedy on the
    first candidate), written in three parts; the same probabilities are returned."""
    data, _ = synthetic(3_000, K, seed=7, logging="epsilon")
    rows = [[0.6] + [0.4 / (K - 1)] * (K - 1) for _ in range(len(data))]
    root = Location.local(directory)
    info = create_for(root, data, SCHEMA_VERSION)
    known: set[str] = set()
    for part in np.array_split(np.arange(len(data)), 3):
        keep = np.zeros(len(data), bool)
        keep[part] = True
        ids = [f"d{i}" for i in part]
        known = write_bandit_data(
            root,
            info,
            data.subset(keep),
            ids,
            known,
            target_probabilities=[rows[i] for i in part],
        )
    return root, rows


def test_outside_policies_on_spark_equal_numpy_to_1e_9(spark: Any, tmp_path: Path) -> None:  # noqa: F811
    root, rows = outside_policy_dataset(tmp_path / "data")
    policy_file = tmp_path / "outside.jsonl"
    policy_file.write_text(
        "".join(
            json.dumps({"decision_id": f"d{i}", "probabilities": p}) + "\n"
            for i, p in enumerate(reversed(rows))  # the same vectors: any order of lines
        )
    )
    outside = PolicyFile(policy_file)
    on_spark = spark_evaluate.evaluate(spark, root, Policies(outside=outside, column=True))
    outside.check_all_used(on_spark.decisions)
    on_numpy = evaluate_dataset(root, [], policy_file=policy_file, batch_size=700)
    spark_values, numpy_values = values(on_spark.policies), values(on_numpy.policies)
    assert {outside.name, COLUMN_POLICY} <= {policy for policy, _ in spark_values}
    assert spark_values.keys() == numpy_values.keys()
    for key, value in numpy_values.items():
        assert spark_values[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    # The file and the column hold the same policy: the same estimates.
    for estimator in ("ips", "snips", "dr"):
        assert spark_values[(outside.name, estimator)] == pytest.approx(
            spark_values[(COLUMN_POLICY, estimator)], rel=1e-12
        )


def test_an_outside_policy_row_an_executor_refuses_is_one_line_on_the_driver(
    spark: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    root, rows = outside_policy_dataset(tmp_path / "data")
    policy_file = tmp_path / "short.jsonl"
    policy_file.write_text(
        "".join(
            json.dumps({"decision_id": f"d{i}", "probabilities": p}) + "\n"
            for i, p in enumerate(rows[:-1])  # the last decision has none
        )
    )
    with pytest.raises(ProbabilitiesRefused) as refused, executor_refusals():
        spark_evaluate.evaluate(spark, root, Policies(outside=PolicyFile(policy_file)))
    message = str(refused.value)
    assert message.startswith(f"{policy_file}: decision_id: 'd2999' (row ")
    assert message.endswith("is missing; every decision of the dataset needs one")
    assert "\n" not in message


def test_spark_joins_plays_within_the_reward_window_it_is_given(
    spark: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    logs, root = tmp_path / "logs", Location.local(tmp_path / "dataset")
    write_gateway_log(logs)
    compact(logs, root)
    logged = {}
    for window_s in (60.0, 1800.0):
        on_spark = spark_evaluate.evaluate(spark, root, Policies(), reward_window_s=window_s)
        on_numpy = evaluate_dataset(root, [], reward_window_s=window_s)
        logged[window_s] = on_spark.policies["logged policy"][0].value
        assert logged[window_s] == pytest.approx(
            on_numpy.policies["logged policy"][0].value, rel=1e-12
        )
    assert logged[60.0] < logged[1800.0]  # plays 1-30 minutes after their page count only in one


def test_spark_on_features_of_other_widths_equals_numpy_dr_included(
    spark: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    """An imported log's widths: both engines fit the same linear reward model for DR."""
    data, _ = synthetic(2_000, K, seed=9, logging="epsilon")
    narrow = replace(data, context=data.context[:, :3])
    root = Location.local(tmp_path / "data")
    write_bandit_data(
        root,
        create_for(root, narrow, None),
        narrow,
        [f"d{i}" for i in range(2_000)],
    )
    on_spark = spark_evaluate.evaluate(spark, root, Policies(default=False))
    on_numpy = evaluate_dataset(root, [], batch_size=700)
    spark_values, numpy_values = values(on_spark.policies), values(on_numpy.policies)
    assert ("random", "dr") in numpy_values and spark_values.keys() == numpy_values.keys()
    for key, value in numpy_values.items():
        assert spark_values[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key


def test_a_file_url_is_read_as_its_directory(spark: Any, tmp_path: Path) -> None:  # noqa: F811
    """Spark reads a local dataset given as a path or as file://…; other URLs are refused
    before a session starts (tests/unit/test_dataset_location.py)."""
    root = dataset(tmp_path / "data", "epsilon")
    as_url = Location.parse((tmp_path / "data").as_uri())
    assert str(as_url).startswith("file://")
    by_path = spark_evaluate.evaluate(spark, root, Policies())
    by_url = spark_evaluate.evaluate(spark, as_url, Policies())
    assert by_url.decisions == by_path.decisions == 3_000
    assert values(by_url.policies) == values(by_path.policies)
