"""Named features ↔ fixed-width float vectors: how a foreign log's features get a slot each.

A feature is a path of JSON keys (a Vowpal Wabbit namespace, nested objects
inside it, the feature's key) and, for a string value, that string: VW reads
`{"ns": {"color": "red"}}` as the categorical feature `color` = `red` with
value 1, and `{"ns": {"age": 31}}` as `age` with value 31. So a number fills
its path's slot with its value, a string fills the slot of (path, string)
with 1, a boolean fills its path's slot with 1 or 0, and a feature a line
lacks is 0. Keys starting with `_` are VW's own (`_tag`, `_text`, …) and are
not features; an array of objects adds each object's features to its
namespace, an array of numbers gives the slots `[0]`, `[1]`, ….

Slots are sorted by (path, string), so the same features give the same
vectors whatever order lines name them in; the names are kept in
dataset.json (`feature_names`) as `{"path": [...]}` or
`{"path": [...], "value": "red"}`, and `{"path": []}` is a padding slot
(always 0) for a vector the source has no features for (a dataset's widths
are at least 1).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import numpy as np

from learning.input_checks import Place

Slot = tuple[tuple[str, ...], str | None]  # (path, the string value of a categorical, or None)
Features = dict[Slot, float]
PADDING: Slot = ((), None)


def flatten(place: Place, field: str, value: object, path: tuple[str, ...] = ()) -> Features:
    """The features of a VW JSON namespace object (or array) `value`, found at `field`."""
    found: Features = {}
    if isinstance(value, dict):
        for key, item in value.items():
            if not key.startswith("_"):
                found.update(flatten(place, f"{field}.{key}", item, (*path, key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            inner = path if isinstance(item, dict) else (*path, f"[{i}]")
            found.update(flatten(place, f"{field}[{i}]", item, inner))
    elif isinstance(value, int | float):  # a boolean too: true is 1
        found[(path, None)] = float(value)
    elif isinstance(value, str):
        found[(path, value)] = 1.0
    elif value is not None:
        raise place.error(field, f"a {type(value).__name__} is not a feature value")
    return found


def ordered(slots: Iterable[Slot]) -> list[Slot]:
    """The slots in their vector order; a padding slot when there are none."""
    return sorted(set(slots), key=lambda slot: (slot[0], slot[1] or "")) or [PADDING]


def clash(ordered_slots: list[Slot]) -> str | None:
    """A name that is a number on some lines and a string or a namespace on others (an export
    could not write both back), or None. A path sorts just before its extensions."""
    for (path, category), (next_path, next_category) in itertools.pairwise(ordered_slots):
        mixed = path == next_path and (category is None) != (next_category is None)
        if mixed or (len(next_path) > len(path) and next_path[: len(path)] == path):
            return ".".join(path)
    return None


def to_vector(features: Features, positions: dict[Slot, int]) -> np.ndarray:
    vector = np.zeros(len(positions), dtype=np.float32)
    for slot, value in features.items():
        vector[positions[slot]] = value
    return vector


def nest(slots: list[Slot], vector: np.ndarray, into: dict | None = None) -> dict:
    """`vector` written back as VW JSON objects (the inverse of `flatten` on its slots):
    numbers always (0 included, so a re-import finds every slot), strings where set."""
    into = {} if into is None else into
    for (path, category), value in zip(slots, vector.tolist(), strict=True):
        if not path or (category is not None and value == 0):
            continue
        parent = into
        for key in path[:-1]:
            parent = parent.setdefault(key, {})
        parent[path[-1]] = value if category is None else category
    return into


def to_names(slots: list[Slot]) -> list[dict]:
    return [
        {"path": list(path)} if category is None else {"path": list(path), "value": category}
        for path, category in slots
    ]


def from_names(names: list[dict]) -> list[Slot]:
    return [(tuple(name["path"]), name.get("value")) for name in names]


def default_names(vector: str, width: int) -> list[Slot]:
    """Names for a vector imported without any (keyart's own features): `vector.f00`, …."""
    digits = len(str(width - 1))
    return [((vector, f"f{i:0{digits}d}"), None) for i in range(width)]
