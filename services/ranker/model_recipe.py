"""The weights of the bundled ranking model, a bilinear content-based affinity (the
graph, its inputs and outputs are the model contract: common/model_contract.py).

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
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from common.features import (
    AESTHETIC_WEIGHTS,
    ARTWORK_DIM,
    CAST_BLOCK,
    COMPOSITION_SLOT,
    CONTEXT_DIM,
    GENRE_BLOCK,
    VIEWER_DIM,
    VISUAL_QUALITY_SLOT,
)
from common.logging import configure_logging, get_logger
from common.model_contract import RecipeWeights, build_model, save_model

log = get_logger(__name__)

TONE_WEIGHT = 4.0
CAST_WEIGHT = 3.0
QUALITY_SCALE = 2.5
BIAS = -3.0


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
