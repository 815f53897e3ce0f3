"""The Open Bandit Dataset conversion script that docs/interchange.md shows runs, and its output
imports with the values the estimators' formulas give (on a synthetic log of OBD's columns)."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cli.main import main
from common.storage import Location
from learning.estimators import ips, snips
from learning.parquet_reader import load_dataset
from learning.targets import uniform

DOCS = Path(__file__).resolve().parents[2] / "docs" / "interchange.md"
ITEMS = 3


def _docs_script() -> str:
    text = DOCS.read_text()
    after = text[text.index("This script converts it") :]
    found = re.search(r"```python\n(.*?)```", after, re.DOTALL)
    assert found, "docs/interchange.md lost its conversion script"
    return found.group(1)


def _obd_like(directory: Path, rows: int) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    """An OBD campaign's two CSVs (same columns, made-up values), its clicks and propensities."""
    rng = np.random.default_rng(5)
    items = directory / "item_context.csv"
    with items.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["", "item_id", *(f"item_feature_{j}" for j in range(4))])
        for i in range(ITEMS):
            writer.writerow(
                [i, i, rng.normal(), *(f"{rng.integers(2**62):032x}" for _ in range(3))]
            )
    clicks = (rng.random(rows) < 0.3).astype(int)
    propensity = rng.choice([0.2, 0.5], rows)
    log = directory / "men.csv"
    with log.open("w", newline="") as out:
        writer = csv.writer(out)
        affinity = [f"user-item_affinity_{j}" for j in range(ITEMS)]
        writer.writerow(
            ["", "timestamp", "item_id", "position", "click", "propensity_score"]
            + [f"user_feature_{j}" for j in range(4)]
            + affinity
        )
        for i in range(rows):
            writer.writerow(
                [i, f"2019-11-24 00:03:{i % 60:02d}.442536+00:00", rng.integers(ITEMS), 1 + i % 3]
                + [clicks[i], propensity[i]]
                + [f"{rng.integers(4):032x}" for _ in range(4)]
                + list(rng.random(ITEMS).round(3))
            )
    return log, items, clicks, propensity


def test_the_documented_obd_conversion_imports_with_the_formulas_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "obd_to_dsjson.py"
    script.write_text(_docs_script())
    log, items, clicks, propensity = _obd_like(tmp_path, rows=60)
    converted = tmp_path / "men.dsjson"
    subprocess.run(
        [sys.executable, str(script), str(log), str(items), str(converted)], check=True, timeout=60
    )
    dataset = tmp_path / "obd"
    argv = ["dataset", "import", "--format", "dsjson", str(converted), "--dataset", str(dataset)]
    assert main([*argv, "--viewer-namespace", "user"]) == 0
    assert capsys.readouterr().out == f"imported 60 decisions from {converted} into {dataset}\n"
    data = load_dataset(Location.local(dataset))
    assert data.counts.tolist() == [ITEMS] * 60
    weights = (1 / ITEMS) / propensity
    assert ips(data, uniform(data)).value == pytest.approx(np.mean(weights * clicks))
    assert snips(data, uniform(data)).value == pytest.approx(
        np.sum(weights * clicks) / np.sum(weights)
    )
    assert main(["evaluate", "--dataset", str(dataset), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    found = {e["estimator"]: e for e in report["policies"]["random"]}
    assert found["ips"]["value"] == pytest.approx(np.mean(weights * clicks))
    assert found["ips"]["low"] < found["ips"]["value"] < found["ips"]["high"]
    ess = np.sum(weights) ** 2 / np.sum(weights**2)
    assert found["snips"]["ess"] == pytest.approx(ess)
    # DR with the linear reward model of other widths (learning/linear_reward.py).
    assert found["dr"]["low"] <= found["dr"]["value"] <= found["dr"]["high"]
