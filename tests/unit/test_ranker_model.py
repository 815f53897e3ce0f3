"""The bundled model's recipe and the loader that guards the feature schema."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnx
import pytest

from common.features import (
    ARTWORK_DIM,
    CONTEXT_DIM,
    SCHEMA_VERSION,
    VIEWER_DIM,
    aesthetic_score,
    artwork_vector,
    cold_start_vector,
    context_vector,
    viewer_vector,
)
from common.model_contract import RecipeWeights, build_model, save_model
from services.ranker.model import ModelError, RankingModel
from services.ranker.model_recipe import bundled_weights, main


@pytest.fixture
def model_path(tmp_path: Path) -> Path:
    return save_model(build_model(bundled_weights()), tmp_path / "bundled.onnx")


def reference_scores(
    weights: RecipeWeights, viewer: np.ndarray, context: np.ndarray, artwork: np.ndarray
) -> np.ndarray:
    eff = viewer.astype(np.float64) @ weights.wv + context @ weights.wc + weights.q
    return 1.0 / (1.0 + np.exp(-(artwork @ eff.T + weights.bias)[:, 0]))


def random_weights(rng: np.random.Generator) -> RecipeWeights:
    return RecipeWeights(
        wv=rng.normal(size=(VIEWER_DIM, ARTWORK_DIM)).astype(np.float32),
        wc=rng.normal(size=(CONTEXT_DIM, ARTWORK_DIM)).astype(np.float32),
        q=rng.normal(size=(1, ARTWORK_DIM)).astype(np.float32),
        bias=0.5,
    )


@pytest.mark.parametrize(
    "weights_from", [lambda _: bundled_weights(), random_weights], ids=["bundled", "random"]
)
def test_onnx_scores_equal_the_numpy_recipe(tmp_path: Path, weights_from) -> None:
    rng = np.random.default_rng(1)
    weights = weights_from(rng)
    model = RankingModel(save_model(build_model(weights), tmp_path / "m.onnx"))
    viewer = rng.uniform(-1, 1, size=(1, VIEWER_DIM)).astype(np.float32)
    context = rng.uniform(0, 1, size=(1, CONTEXT_DIM)).astype(np.float32)
    artwork = rng.uniform(0, 0.2, size=(257, ARTWORK_DIM)).astype(np.float32)

    scores = model.score(viewer, context, artwork)

    assert scores.shape == (257,) and scores.dtype == np.float32
    expected = reference_scores(weights, viewer, context, artwork)
    np.testing.assert_allclose(scores, expected, atol=1e-5)


def test_bundled_model_ignores_context(model_path: Path) -> None:
    model = RankingModel(model_path)
    viewer = viewer_vector({"drama": 1.0}, {"Uma Thurman": 1.0})[None]
    artwork = np.stack([artwork_vector(["drama"], ["Uma Thurman"], 0.5, 0.5)] * 2)
    phone_at_night = context_vector(device_type=2, local_hour=23, day_of_week=6)[None]
    unknown = context_vector(device_type=0, local_hour=None, day_of_week=0)[None]
    np.testing.assert_array_equal(
        model.score(viewer, phone_at_night, artwork), model.score(viewer, unknown, artwork)
    )


def test_cold_start_viewer_gets_candidates_ordered_by_aesthetic_score(model_path: Path) -> None:
    quality = [(0.2, 0.9), (0.9, 0.1), (0.5, 0.5), (0.7, 0.8), (0.1, 0.1)]
    artwork = np.stack(
        [
            artwork_vector([tone], [name], vq, comp)
            for (vq, comp), tone, name in zip(
                quality, ["romance", "comedy", "horror", "drama", "action"], "ABCDE", strict=True
            )
        ]
    )
    scores = RankingModel(model_path).score(
        cold_start_vector()[None], np.zeros((1, CONTEXT_DIM), np.float32), artwork
    )
    aesthetic = [aesthetic_score(vq, comp) for vq, comp in quality]
    assert list(np.argsort(-scores)) == list(np.argsort(aesthetic)[::-1])  # [3, 1, 2, 0, 4]


def test_taste_beats_aesthetics_good_will_hunting(model_path: Path) -> None:
    model = RankingModel(model_path)
    context = np.zeros((1, CONTEXT_DIM), np.float32)
    romantic = artwork_vector(["romance", "drama"], ["Matt Damon", "Minnie Driver"], 0.6, 0.5)
    funny = artwork_vector(["comedy"], ["Robin Williams"], 0.9, 0.8)  # the prettier still
    artwork = np.stack([romantic, funny])

    def pick(viewer: np.ndarray) -> int:
        return int(np.argmax(model.score(viewer[None], context, artwork)))

    assert pick(viewer_vector({"romance": 1.0, "drama": 0.4}, {})) == 0
    assert pick(viewer_vector({"comedy": 1.0}, {})) == 1
    assert pick(cold_start_vector()) == 1


def test_cast_taste_pulp_fiction(model_path: Path) -> None:
    model = RankingModel(model_path)
    context = np.zeros((1, CONTEXT_DIM), np.float32)
    artwork = np.stack(
        [
            artwork_vector(["crime"], ["Uma Thurman"], 0.7, 0.7),
            artwork_vector(["crime"], ["John Travolta"], 0.7, 0.7),
        ]
    )
    for fan_of, expected in (("Uma Thurman", 0), ("John Travolta", 1)):
        viewer = viewer_vector({"crime": 1.0}, {fan_of: 1.0})[None]
        assert int(np.argmax(model.score(viewer, context, artwork))) == expected


def test_version_identifies_weights_and_schema(model_path: Path, tmp_path: Path) -> None:
    model = RankingModel(model_path)
    metadata = {prop.key: prop.value for prop in onnx.load(model_path).metadata_props}
    assert metadata["feature_schema"] == SCHEMA_VERSION
    assert model.version == metadata["version"]
    assert model.version.startswith("bundled-")
    assert build_model(bundled_weights()) == onnx.load(model_path)  # reproducible
    other = save_model(build_model(random_weights(np.random.default_rng(2))), tmp_path / "o.onnx")
    assert RankingModel(other).version != model.version


def test_cli_creates_parent_directories_and_leaves_no_temp_files(tmp_path: Path) -> None:
    out = tmp_path / "var" / "models" / "bundled.onnx"
    main(["--out", str(out)])
    main(["--out", str(out)])  # replaces in place
    assert [p.name for p in out.parent.iterdir()] == ["bundled.onnx"]
    assert RankingModel(out).version.startswith("bundled-")


def test_missing_model_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.onnx"
    with pytest.raises(ModelError, match=re.escape(str(path))):
        RankingModel(path)


def test_corrupt_model_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.onnx"
    path.write_bytes(b"\x08\x07not an onnx model at all")
    with pytest.raises(ModelError, match=re.escape(str(path))):
        RankingModel(path)


def test_model_for_another_feature_schema_is_refused(tmp_path: Path) -> None:
    model = build_model(bundled_weights())
    onnx.helper.set_model_props(model, {"version": "old", "feature_schema": "features-v0-deadbeef"})
    path = save_model(model, tmp_path / "old.onnx")
    with pytest.raises(ModelError, match=f"{re.escape(str(path))}.*features-v0-deadbeef"):
        RankingModel(path)


def test_model_with_other_inputs_is_refused(tmp_path: Path) -> None:
    model = build_model(bundled_weights())
    model.graph.input[0].name = "taste_vector"
    model.graph.node[0].input[0] = "taste_vector"
    path = save_model(model, tmp_path / "renamed.onnx")
    with pytest.raises(ModelError, match=f"{re.escape(str(path))} has inputs"):
        RankingModel(path)


def test_model_giving_non_finite_scores_is_refused(tmp_path: Path) -> None:
    weights = bundled_weights()
    broken = RecipeWeights(wv=weights.wv, wc=weights.wc, q=weights.q, bias=float("nan"))
    path = save_model(build_model(broken), tmp_path / "nan.onnx")
    with pytest.raises(ModelError, match=f"{re.escape(str(path))} gives"):
        RankingModel(path)
