"""RankPageResponse's per-title decisions as packed little-endian arrays, one per field.

A reference page ranks 1,600 titles; repeated proto fields cost a Python
number per title on both sides (tolist, extend, tuple), where one array
each is a single copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

CHOSEN = np.dtype("<u4")
SCORE = np.dtype("<f4")
PROPENSITY = np.dtype("<f4")
TITLE = np.dtype("<u4")


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


def pack_unscored(unscored: np.ndarray | Sequence[int]) -> bytes:
    """RankPageResponse.unscored_titles: the titles the model scored NaN or infinity
    (ascending indexes), which got no choice."""
    return np.asarray(unscored, dtype=TITLE).tobytes()


def _view(field: str, data: bytes, dtype: np.dtype) -> np.ndarray:
    if len(data) % dtype.itemsize:
        raise ValueError(f"{field}: {len(data)} bytes is not whole {dtype.str} values")
    return np.frombuffer(data, dtype=dtype)


def unpack(chosen_indices: bytes, scores: bytes, propensities: bytes) -> RankedArrays:
    """Read-only views of the three fields; ValueError naming the field that is not whole
    values or not as long as the others."""
    arrays = [
        _view("chosen_indices", chosen_indices, CHOSEN),
        _view("scores", scores, SCORE),
        _view("propensities", propensities, PROPENSITY),
    ]
    if not arrays[0].size == arrays[1].size == arrays[2].size:
        raise ValueError(
            f"chosen_indices, scores, propensities: {[a.size for a in arrays]} values, not equal"
        )
    return RankedArrays(*arrays)


def unpack_unscored(unscored_titles: bytes, titles: int) -> np.ndarray:
    """A read-only view of unscored_titles; ValueError when it is not ascending indexes of
    the page's `titles` titles."""
    unscored = _view("unscored_titles", unscored_titles, TITLE)
    if unscored.size and not (unscored[-1] < titles and (unscored[1:] > unscored[:-1]).all()):
        raise ValueError(f"unscored_titles: not ascending indexes of the {titles} titles")
    return unscored
