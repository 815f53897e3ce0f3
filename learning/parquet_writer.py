"""BanditData into the Parquet dataset: each distinct action set stored once, named by its digest."""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type hints

from common.storage import Location
from learning.dataset import BanditData
from learning.parquet_layout import (
    TARGET_PROBABILITIES,
    DatasetInfo,
    action_sets_schema,
    create,
    decisions_schema,
    write_action_sets,
    write_decisions,
)


def action_set_id(features: np.ndarray) -> str:
    """A name for a set of candidates: the digest of their float32 features, in order."""
    block = np.ascontiguousarray(features, dtype="<f4")
    return "sha256:" + hashlib.sha256(block.tobytes()).hexdigest()[:32]


def import_part(number: int) -> str:
    """The part name of an import's `number`th batch: in write order, so one file imported
    anywhere, any number of times, reads back in the same order (the same bootstrap draws)."""
    return f"import-{number:06d}"


def fixed_lists(matrix: np.ndarray, width: int) -> pa.FixedSizeListArray:
    flat = pa.array(np.ascontiguousarray(matrix, dtype=np.float32).ravel(), pa.float32())
    return pa.FixedSizeListArray.from_arrays(flat, width)


def write_bandit_data(
    root: Location,
    info: DatasetInfo,
    data: BanditData,
    decision_ids: list[str],
    known: set[str] | None = None,
    position: np.ndarray | None = None,
    target_probabilities: list[list[float] | None] | None = None,
    part_name: str | None = None,
) -> set[str]:
    """Appends `data`'s decisions (rewards given; `position` null when None) and the action
    sets not in `known` (the names already in the dataset); returns the names now known.
    `target_probabilities`, one list (or None) per decision, fills the optional column of
    that name. `part_name` names the part files (None: unique names); readers take parts in
    name order, so names in write order keep the decisions in that order."""
    known = set() if known is None else set(known)
    starts = data.starts
    names: list[str] = []
    new_names: list[str] = []
    new_features: list[np.ndarray] = []
    for i, start in enumerate(starts):
        block = data.artwork[start : start + data.counts[i]]
        name = action_set_id(block)
        names.append(name)
        if name not in known:
            known.add(name)
            new_names.append(name)
            new_features.append(block)
    if new_names:
        write_action_sets(
            root,
            pa.table(
                {
                    "action_set": new_names,
                    "candidate_ids": [[str(j) for j in range(len(f))] for f in new_features],
                    "features": [f.tolist() for f in new_features],
                },
                schema=action_sets_schema(info),
            ),
            part_name,
        )
    n = len(data)
    empty = [""] * n
    optional = (
        {} if target_probabilities is None else {TARGET_PROBABILITIES.name: target_probabilities}
    )
    write_decisions(
        root,
        pa.table(
            {
                "decision_id": decision_ids,
                "page_id": empty,
                "time_ms": data.time_ms,
                "viewer_id": empty,
                "title_id": empty,
                "viewer": fixed_lists(data.viewer, info.viewer_dim),
                "context": fixed_lists(data.context, info.context_dim),
                "action_set": names,
                "chosen": data.chosen.astype(np.int32),
                "propensity": data.propensity,
                "score": pa.nulls(n, pa.float32()),
                "reward": data.reward,
                "model_version": empty,
                "policy": empty,
                "experiment": empty,
                "cell": empty,
                "device_type": pa.nulls(n, pa.string()),
                "position": pa.nulls(n, pa.int32())
                if position is None
                else pa.array(position, pa.int32()),
                **optional,
            },
            schema=decisions_schema(info, target_probabilities=bool(optional)),
        ),
        part_name,
    )
    return known


def create_for(root: Location, data: BanditData, feature_schema: str | None) -> DatasetInfo:
    """Creates (or checks) the dataset at `root` for data of `data`'s widths."""
    info = DatasetInfo(
        viewer_dim=data.viewer.shape[1],
        context_dim=data.context.shape[1],
        action_dim=data.artwork.shape[1],
        feature_schema=feature_schema,
    )
    create(root, info)
    return info
