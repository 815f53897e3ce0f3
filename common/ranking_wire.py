"""RankPageResponse's per-title decisions as packed little-endian arrays, one per field.

A reference page ranks 1,600 titles; repeated proto fields cost a Python
number per title on both sides (tolist, extend, tuple), where one array
each is a single copy.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

CHOSEN = np.dtype("<u4")
SCORE = np.dtype("<f4")
PROPENSITY = np.dtype("<f4")


class RankedArrays(NamedTuple):
    """Per title, in request order: chosen index within its group, its score, its propensity."""

    chosen: np.ndarray
    scores: np.ndarray
    propensities: np.ndarray


def pack(chosen: np.ndarray, scores: np.ndarray, propensities: np.ndarray) -> dict[str, bytes]:
    """The RankPageResponse fields holding the three arrays."""
    return {
        "chosen_indices": np.asarray(chosen, dtype=CHOSEN).tobytes(),
        "scores": np.asarray(scores, dtype=SCORE).tobytes(),
        "propensities": np.asarray(propensities, dtype=PROPENSITY).tobytes(),
    }


def unpack(chosen_indices: bytes, scores: bytes, propensities: bytes) -> RankedArrays:
    """Read-only views of the three fields; ValueError naming the field that is not whole
    values or not as long as the others."""
    arrays = []
    for field, data, dtype in (
        ("chosen_indices", chosen_indices, CHOSEN),
        ("scores", scores, SCORE),
        ("propensities", propensities, PROPENSITY),
    ):
        if len(data) % dtype.itemsize:
            raise ValueError(f"{field}: {len(data)} bytes is not whole {dtype.str} values")
        arrays.append(np.frombuffer(data, dtype=dtype))
    if not arrays[0].size == arrays[1].size == arrays[2].size:
        raise ValueError(
            f"chosen_indices, scores, propensities: {[a.size for a in arrays]} values, not equal"
        )
    return RankedArrays(*arrays)
