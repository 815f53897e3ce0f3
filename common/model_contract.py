"""The ONNX ranking-model contract shared by the ranker (which serves models) and the
trainer (which writes them): input and output names and shapes, the bilinear graph
and its weights, the atomic export, and the model card beside each model file.

    eff   = viewer @ Wv + context @ Wc + q            [1, ARTWORK_DIM]
    score = sigmoid(artwork @ effᵀ + bias)            [n]

A model card (`<name>.card.json`) describes how a model was trained; its
`offline_estimate` (`{"estimator", "value", "low", "high"}`, or null when the
training log could not support one) is what the ranker's model watcher compares
before it swaps a model in.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from common.atomic_files import write_atomically
from common.features import ARTWORK_DIM, CONTEXT_DIM, SCHEMA_VERSION, VIEWER_DIM
from common.storage import Location, StorageError

# What every ranking model takes: name → shape, with None for the batch axis.
INPUTS: dict[str, tuple[int | None, ...]] = {
    "viewer": (1, VIEWER_DIM),
    "context": (1, CONTEXT_DIM),
    "artwork": (None, ARTWORK_DIM),
}
OUTPUT = "score"  # (n,) float32, one score per artwork row
# Metadata every model carries: its identity, and the feature schema it was built for.
VERSION_KEY = "version"
SCHEMA_KEY = "feature_schema"

OPSET = 17
IR_VERSION = 8  # the IR version that goes with opset 17; loadable by older runtimes too

CARD_SUFFIX = ".card.json"


@dataclass(frozen=True)
class RecipeWeights:
    """Parameters of the bilinear model; shapes as in the module docstring."""

    wv: np.ndarray  # [VIEWER_DIM, ARTWORK_DIM]
    wc: np.ndarray  # [CONTEXT_DIM, ARTWORK_DIM]
    q: np.ndarray  # [1, ARTWORK_DIM]
    bias: float

    def digest(self) -> str:
        """Short hash of the weights and the feature schema: the model's identity."""
        sha = hashlib.sha256(SCHEMA_VERSION.encode())
        for array in (self.wv, self.wc, self.q, np.float32(self.bias)):
            sha.update(np.ascontiguousarray(array, dtype="<f4").tobytes())
        return sha.hexdigest()[:12]


def _input(name: str) -> onnx.ValueInfoProto:
    shape = [("n" if size is None else size) for size in INPUTS[name]]
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def build_model(weights: RecipeWeights, name: str = "bundled") -> onnx.ModelProto:
    """The scoring graph with `weights` baked in; its version is `<name>-<weights digest>`."""
    initializers = [
        numpy_helper.from_array(np.asarray(weights.wv, dtype=np.float32), "Wv"),
        numpy_helper.from_array(np.asarray(weights.wc, dtype=np.float32), "Wc"),
        numpy_helper.from_array(np.asarray(weights.q, dtype=np.float32), "q"),
        numpy_helper.from_array(np.array([weights.bias], dtype=np.float32), "bias"),
        numpy_helper.from_array(np.array([-1], dtype=np.int64), "flat"),
    ]
    nodes = [
        helper.make_node("MatMul", ["viewer", "Wv"], ["taste"]),
        helper.make_node("MatMul", ["context", "Wc"], ["situation"]),
        helper.make_node("Add", ["taste", "situation"], ["personal"]),
        helper.make_node("Add", ["personal", "q"], ["eff"]),
        # eff × artworkᵀ, not artwork × effᵀ: the same numbers, but onnxruntime's
        # one-row kernel reads each artwork row once, about 6× faster for a page.
        helper.make_node("Gemm", ["eff", "artwork", "bias"], ["logit"], transB=1),
        helper.make_node("Sigmoid", ["logit"], ["probability"]),
        helper.make_node("Reshape", ["probability", "flat"], [OUTPUT]),
    ]
    graph = helper.make_graph(
        nodes,
        "keyart_bilinear_affinity",
        inputs=[_input(name) for name in INPUTS],
        outputs=[helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["n"])],
        initializer=initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="keyart.model_contract",
        doc_string="score = sigmoid(artwork @ (viewer @ Wv + context @ Wc + q)^T + bias)",
    )
    model.ir_version = IR_VERSION
    helper.set_model_props(
        model, {VERSION_KEY: f"{name}-{weights.digest()}", SCHEMA_KEY: SCHEMA_VERSION}
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def model_version(model: onnx.ModelProto) -> str:
    return next(prop.value for prop in model.metadata_props if prop.key == VERSION_KEY)


def save_model(model: onnx.ModelProto, out: Path) -> Path:
    """Writes atomically: a reader sees the old file or the whole new one, never half."""
    return write_atomically(out, model.SerializeToString())


class CardError(ValueError):
    """A model card exists but cannot be read."""


def card_path(model_path: Path) -> Path:
    return model_path.with_name(model_path.stem + CARD_SUFFIX)


def write_card(model_path: Path, card: dict) -> Path:
    """The card beside `model_path`, written atomically (before the model, so a
    watcher that sees the model sees its card too)."""
    return write_atomically(card_path(model_path), (json.dumps(card, indent=2) + "\n").encode())


def card_location(model: Location) -> Location:
    """The card beside a model file in a models location (local or an object store)."""
    return model.parent() / (PurePosixPath(model.name).stem + CARD_SUFFIX)


def offline_estimate(model: Path | Location) -> float | None:
    """The card's offline estimate of the model's reward; None when there is no card or
    the card has none (null); CardError when the card cannot be read, StorageError when
    its store cannot be reached."""
    card = card_location(model if isinstance(model, Location) else Location.local(model))
    try:
        body = json.loads(card.read_text())
    except FileNotFoundError:
        return None
    except OSError as error:
        if card.local_path is None:  # the store went away between its listing and this read
            raise StorageError(f"{card}: cannot be read ({error})") from None
        raise CardError(f"model card {card} cannot be read: {error}") from error
    except ValueError as error:
        raise CardError(f"model card {card} cannot be read: {error}") from error
    estimate = body.get("offline_estimate") if isinstance(body, dict) else None
    if estimate is None:
        return None
    try:
        return float(estimate["value"])
    except (KeyError, TypeError, ValueError) as error:
        raise CardError(f"model card {card}: offline_estimate.value is not a number") from error
