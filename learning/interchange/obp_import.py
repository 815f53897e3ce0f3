"""`keyart dataset import --format obp`: Open Bandit Pipeline's `bandit_feedback` into the dataset.

The file is an `.npz` archive (numpy.savez) with OBP's keys: `n_rounds`,
`n_actions`, `action` (n,) integers in [0, n_actions), `reward` (n,) inside
the declared reward range, `pscore` (n,) in (0, 1], `context` (n, d),
`action_context` (n_actions, d_a), and optionally `position` (n,) integers
≥ 0, kept in the decisions' `position` column. Pickled arrays are never
loaded (allow_pickle=False): an archive is data, not code. Every decision
offers the same n_actions candidates, stored as one action set; `context`
becomes the context vector (`context.f0`, …), the viewer vector is one padding slot.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from common.storage import Location
from learning import input_checks as checks
from learning.dataset import BanditData
from learning.interchange import slots
from learning.interchange.target import new_dataset
from learning.parquet_layout import DatasetInfo
from learning.parquet_writer import import_part, write_bandit_data

BATCH = 65536
REQUIRED = ("n_rounds", "n_actions", "action", "reward", "pscore", "context", "action_context")


def read_feedback(path: Path) -> dict[str, np.ndarray]:
    """The archive's arrays, refusing anything that is not OBP's `bandit_feedback` of numbers."""
    place = checks.Place(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise place.error("file", f"not an .npz archive of numeric arrays ({error})") from None
    if not isinstance(arrays, dict):
        raise place.error("file", "a single array, expected an .npz archive")
    for key in REQUIRED:
        if key not in arrays:
            raise place.error(key, "missing")
    for key, array in arrays.items():
        if array.dtype.kind in "USO":
            raise place.error(key, f"{array.dtype} (strings), expected numbers")
        if array.dtype.kind not in "iuf":
            raise place.error(key, f"{array.dtype}, expected numbers")
        _finite(path, key, array)
    n_rounds = _count(place, "n_rounds", arrays["n_rounds"])
    n_actions = _count(place, "n_actions", arrays["n_actions"])
    if n_rounds == 0:
        raise place.error("n_rounds", "0: no decisions")
    for key, rows in (("action", 1), ("reward", 1), ("pscore", 1), ("context", 2)):
        _shape(place, key, arrays[key], rows, n_rounds)
    _shape(place, "action_context", arrays["action_context"], 2, n_actions)
    if "position" in arrays:
        _shape(place, "position", arrays["position"], 1, n_rounds)
    return arrays


def _finite(path: Path, key: str, array: np.ndarray) -> None:
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        bad = np.argwhere(~np.isfinite(array))[0]
        field = key if array.ndim < 2 else f"{key}[{bad[1]}]"
        raise checks.Place(path, row=int(bad[0]) if array.ndim else None).error(
            field, f"{array[tuple(bad)]} is not a finite number"
        )


def _count(place: checks.Place, key: str, array: np.ndarray) -> int:
    if array.shape != () or array.dtype.kind not in "iu":
        raise place.error(key, f"expected one integer, found {array.dtype} of shape {array.shape}")
    return int(array)


def _shape(place: checks.Place, key: str, array: np.ndarray, ndim: int, rows: int) -> None:
    if array.ndim != ndim or len(array) != rows or (ndim == 2 and array.shape[1] == 0):
        expected = f"({rows},)" if ndim == 1 else f"({rows}, d ≥ 1)"
        raise place.error(key, f"shape {array.shape}, expected {expected}")


def _integers(path: Path, key: str, array: np.ndarray, low: int, high: int) -> np.ndarray:
    """Integer values in [low, high): a float array is refused at its first non-integer row."""
    if array.dtype.kind not in "iu":
        fractional = np.flatnonzero(array != np.round(array))
        row = int(fractional[0]) if fractional.size else 0
        shown = array[row].item()
        raise checks.Place(path, row=row).error(key, f"{shown!r} is not an integer ({array.dtype})")
    outside = np.flatnonzero((array < low) | (array >= high))
    if outside.size:
        row = int(outside[0])
        raise checks.Place(path, row=row).error(key, f"{array[row]} is outside [{low}, {high - 1}]")
    return array.astype(np.int64)


def _first_outside(path: Path, key: str, array: np.ndarray, inside: np.ndarray, what: str) -> None:
    outside = np.flatnonzero(~inside)
    if outside.size:
        row = int(outside[0])
        raise checks.Place(path, row=row).error(key, f"{array[row]:g} is outside {what}")


def import_obp(path: Path, root: Location, reward_range: tuple[float, float]) -> int:
    """Writes the archive's decisions into a new dataset at `root`; returns how many."""
    arrays = read_feedback(path)
    n_actions = int(arrays["n_actions"])
    chosen = _integers(path, "action", arrays["action"], 0, n_actions)
    position = (
        _integers(path, "position", arrays["position"], 0, 2**31 - 1)
        if "position" in arrays
        else None
    )
    reward = arrays["reward"].astype(np.float64)
    low, high = reward_range
    _first_outside(
        path,
        "reward",
        reward,
        (reward >= low) & (reward <= high),
        f"the declared reward range [{low:g}, {high:g}]",
    )
    pscore = arrays["pscore"].astype(np.float64)
    _first_outside(path, "pscore", pscore, (pscore > 0) & (pscore <= 1), "(0, 1]")
    context = arrays["context"].astype(np.float32)
    action_context = arrays["action_context"].astype(np.float32)
    names = {
        "viewer": [slots.PADDING],
        "context": slots.default_names("context", context.shape[1]),
        "action": slots.default_names("action", action_context.shape[1]),
    }
    info = DatasetInfo(
        viewer_dim=1,
        context_dim=context.shape[1],
        action_dim=action_context.shape[1],
        feature_schema=None,
        reward_min=low,
        reward_max=high,
        feature_names={vector: slots.to_names(found) for vector, found in names.items()},
    )
    new_dataset(root, info)
    known: set[str] = set()
    for start in range(0, len(chosen), BATCH):
        rows = slice(start, start + BATCH)
        n = len(chosen[rows])
        data = BanditData(
            np.zeros((n, 1), np.float32),
            context[rows],
            np.tile(action_context, (n, 1)),
            np.full(n, n_actions, dtype=np.int64),
            chosen[rows],
            pscore[rows],
            reward[rows],
            np.zeros(n, dtype=np.int64),
        )
        ids = [str(i) for i in range(start, start + n)]
        known = write_bandit_data(
            root,
            info,
            data,
            ids,
            known,
            None if position is None else position[rows],
            part_name=import_part(start // BATCH),
        )
    return len(chosen)
