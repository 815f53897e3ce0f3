"""The recipe for the bundled ranking model: a bilinear content-based affinity.

    eff   = viewer @ Wv + context @ Wc + q            [1, ARTWORK_DIM]
    score = sigmoid(artwork @ effᵀ + bias)            [n]

The bundled weights are written down rather than learned, so `make run` has a
model that already tells the two key-art stories in DESIGN.md:

- Wv maps the viewer's genre slot i to the artwork's tone slot i (TONE_WEIGHT)
  and cast slot j to cast slot j (CAST_WEIGHT). A romance fan's taste meets a
  romance-toned still; an Uma Thurman fan's hashed cast slot meets the still
  she is in (the hash signs multiply out to +1).
- q puts QUALITY_SCALE × AESTHETIC_WEIGHTS on the visual-quality and
  composition slots, the same weighting the catalog uses for a title's default
  artwork. A cold-start viewer (all-zero vector) therefore gets candidates
  ordered by aesthetic score, and the greedy policy picks the catalog default;
  for a viewer with taste, taste × tags (up to 4 + 3) dominates quality (≤ 2.5).
- Wc is zero: the bundled model ignores context; trained models learn it
  through the same input.
- bias = -3 keeps the logits in sigmoid's responsive range: a cold-start
  candidate scores 0.05-0.38, a strong taste match up to about 0.998.

Built with onnx.helper and never committed as a binary: `make model` runs
`python -m services.ranker.model_recipe --out var/models/bundled.onnx`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from common.features import (
    AESTHETIC_WEIGHTS,
    ARTWORK_DIM,
    CAST_BLOCK,
    COMPOSITION_SLOT,
    CONTEXT_DIM,
    GENRE_BLOCK,
    SCHEMA_VERSION,
    VIEWER_DIM,
    VISUAL_QUALITY_SLOT,
)
from common.logging import configure_logging, get_logger

log = get_logger(__name__)

TONE_WEIGHT = 4.0
CAST_WEIGHT = 3.0
QUALITY_SCALE = 2.5
BIAS = -3.0

OPSET = 17
IR_VERSION = 8  # the IR version that goes with opset 17; loadable by older runtimes too


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


def bundled_weights() -> RecipeWeights:
    wv = np.zeros((VIEWER_DIM, ARTWORK_DIM), dtype=np.float32)
    for block, weight in ((GENRE_BLOCK, TONE_WEIGHT), (CAST_BLOCK, CAST_WEIGHT)):
        wv[block, block] = weight * np.eye(block.stop - block.start, dtype=np.float32)
    q = np.zeros((1, ARTWORK_DIM), dtype=np.float32)
    q[0, VISUAL_QUALITY_SLOT] = QUALITY_SCALE * AESTHETIC_WEIGHTS[0]
    q[0, COMPOSITION_SLOT] = QUALITY_SCALE * AESTHETIC_WEIGHTS[1]
    return RecipeWeights(
        wv=wv, wc=np.zeros((CONTEXT_DIM, ARTWORK_DIM), dtype=np.float32), q=q, bias=BIAS
    )


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
        helper.make_node("Reshape", ["probability", "flat"], ["score"]),
    ]
    graph = helper.make_graph(
        nodes,
        "keyart_bilinear_affinity",
        inputs=[
            helper.make_tensor_value_info("viewer", TensorProto.FLOAT, [1, VIEWER_DIM]),
            helper.make_tensor_value_info("context", TensorProto.FLOAT, [1, CONTEXT_DIM]),
            helper.make_tensor_value_info("artwork", TensorProto.FLOAT, ["n", ARTWORK_DIM]),
        ],
        outputs=[helper.make_tensor_value_info("score", TensorProto.FLOAT, ["n"])],
        initializer=initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="keyart.model_recipe",
        doc_string="score = sigmoid(artwork @ (viewer @ Wv + context @ Wc + q)^T + bias)",
    )
    model.ir_version = IR_VERSION
    helper.set_model_props(
        model,
        {
            "version": f"{name}-{weights.digest()}",
            "feature_schema": SCHEMA_VERSION,
        },
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def save_model(model: onnx.ModelProto, out: Path) -> Path:
    """Writes atomically: a reader sees the old file or the whole new one, never half."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as temp:
            os.fchmod(temp.fileno(), 0o644)  # mkstemp's 0600 would hide it from the serving user
            temp.write(model.SerializeToString())
            temp.flush()
            os.fsync(temp.fileno())
        os.replace(temp_name, out)
    except BaseException:
        os.unlink(temp_name)
        raise
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build the bundled keyart ranking model.")
    parser.add_argument("--out", type=Path, required=True, help="where to write the .onnx file")
    args = parser.parse_args(argv)
    configure_logging("model_recipe")
    model = build_model(bundled_weights())
    save_model(model, args.out)
    log.info(
        "model written",
        path=str(args.out),
        **{prop.key: prop.value for prop in model.metadata_props},
    )


if __name__ == "__main__":
    main()
