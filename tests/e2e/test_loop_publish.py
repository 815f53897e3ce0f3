"""`keyart loop --every` against two real rankers watching the models location: what the loop
publishes is what every ranker serves, and SIGTERM stops it cleanly between runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from cli.run import ensure_model
from common.model_contract import build_model, card_location, save_model
from common.models_pointer import model_file, read_pointer
from common.storage import Location
from services.ranker.model import RankingModel
from services.ranker.model_recipe import bundled_weights
from tests.e2e.replicas import running_replicas
from tests.e2e.test_models_location import keyart_model, ranker_env, served, wait_until_served
from tests.unit.learning_data import synthetic
from tests.unit.test_loop import dataset_of, keyart_loop, spread_over

LOOP = [sys.executable, "-m", "cli.main", "loop"]


def contrarian_model(path: Path) -> str:
    """The bundled model's weights negated: it shows each viewer the artwork least like them."""
    weights = bundled_weights()
    model = build_model(replace(weights, wv=-weights.wv, q=-weights.q), name="contrarian")
    save_model(model, path)
    return RankingModel(path).version


def test_the_rankers_serve_what_the_loop_publishes(tmp_path: Path) -> None:
    bundled = tmp_path / "image" / "bundled.onnx"
    bundled.parent.mkdir()
    ensure_model(bundled)
    data, _ = synthetic(6_000, 4, seed=5, logging="epsilon")
    dataset = dataset_of(tmp_path / "dataset", spread_over(data, days=3))
    models = tmp_path / "models"
    serving = contrarian_model(tmp_path / "contrarian.onnx")
    done = keyart_model("publish", str(tmp_path / "contrarian.onnx"), "--models", str(models))
    assert done.returncode == 0, done.stderr
    with running_replicas("ranker", ranker_env(bundled, models), tmp_path) as rankers:
        assert [served(address) for address in rankers] == [(serving, serving)] * 2

        loop = subprocess.Popen(
            [*LOOP, "--every", "0.5", "--dataset", str(dataset), "--models", str(models)],
            env={**os.environ, "RANKER_MODEL_PATH": str(bundled)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert loop.stdout is not None
        first, published = loop.stdout.readline(), loop.stdout.readline()
        second = loop.stdout.readline()  # the next run: the same data gives the same model
        loop.send_signal(signal.SIGTERM)
        rest, errors = loop.communicate(timeout=60)

        assert loop.returncode == 0, errors
        assert errors == ""
        assert f"serving={serving} dr=" in first and "(current.json)" in first
        assert "decision=publish" in first, first
        pointer = read_pointer(Location.local(models))
        assert pointer is not None and pointer.history == (serving,)
        assert published == f"loop: published {pointer.current} to {models} (was {serving})\n"
        assert second.endswith("decision=keep: the candidate is the serving model\n"), second
        assert f"serving={pointer.current} dr=" in second and "(current.json)" in second
        assert all(
            line.endswith("the candidate is the serving model") for line in rest.split("\n")[:-1]
        )
        card = json.loads(
            card_location(model_file(Location.local(models), pointer.current)).read_text()
        )
        assert card["loop"]["serving"]["name"] == serving
        wait_until_served(rankers, pointer.current)


def test_before_anything_is_published_the_rankers_own_model_is_the_baseline(
    tmp_path: Path,
) -> None:
    """On these data the bundled model is already good: the candidate does not beat it."""
    bundled = tmp_path / "bundled.onnx"
    ensure_model(bundled)
    data, _ = synthetic(6_000, 4, seed=5, logging="epsilon")
    dataset = dataset_of(tmp_path / "dataset", spread_over(data, days=3))
    done = keyart_loop(
        "--dataset",
        str(dataset),
        "--models",
        str(tmp_path / "models"),
        env={"RANKER_MODEL_PATH": str(bundled)},
    )
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    version = RankingModel(bundled).version
    assert f"serving={version} dr=" in line and "(RANKER_MODEL_PATH)" in line, line
    assert "decision=keep: lower bound" in line, line
    assert not (tmp_path / "models" / "current.json").exists()
