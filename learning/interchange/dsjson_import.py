"""`keyart dataset import --format dsjson`: a decision-service JSON log into the dataset.

One JSON object per line, as Azure Personalizer logs and `vw --dsjson` reads:
`_label_cost` (reward = −cost, inside the declared reward range),
`_label_probability` (the chosen action's propensity, in (0, 1]),
`_labelIndex` (0-based index into `c._multi`) and/or `_label_Action` (the same,
1-based; both must agree), `c` (shared features; `c._multi`: one object of
features per action), and optionally `a` (the action ids, 1-based, ranked),
`p` (their probabilities), `EventId` (the decision id) and `Timestamp` (ISO
8601). `a` and `p` are checked, not stored: the dataset keeps the chosen
action's probability only.

Two passes over the file: the first checks every line and finds the feature
slots (learning/interchange/slots.py: shared features → context, a namespace
named by `viewer_namespace` → viewer, per-action features → action), so a bad
file writes nothing; the second writes the decisions in bounded batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import numpy as np

from common.storage import Location
from learning import input_checks as checks
from learning.dataset import BanditData
from learning.interchange import slots
from learning.interchange.target import new_dataset
from learning.parquet_layout import DatasetInfo
from learning.parquet_writer import import_part, write_bandit_data

BATCH = 4096  # decisions a part file holds at most


@dataclass(frozen=True)
class Options:
    reward_range: tuple[float, float] = (0.0, 1.0)
    viewer_namespace: str | None = None


@dataclass(frozen=True)
class Decision:
    decision_id: str
    time_ms: int
    viewer: slots.Features
    context: slots.Features
    actions_key: str  # repr of c._multi: equal keys, equal actions
    actions: list[slots.Features]
    chosen: int
    propensity: float
    reward: float


class SameActions:
    """The last line's candidates, flattened and as a matrix: a log that offers the same
    candidates on line after line (keyed by their repr, 4× cheaper than flattening) does that
    work once, not once a line."""

    def __init__(self) -> None:
        self.key = ""
        self.features: list[slots.Features] = []
        self.matrix: np.ndarray | None = None

    def flatten(self, place: checks.Place, multi: list) -> tuple[str, list[slots.Features]]:
        key = repr(multi)
        if key != self.key:
            found = [slots.flatten(place, f"c._multi[{i}]", a) for i, a in enumerate(multi)]
            self.key, self.features, self.matrix = key, found, None
        return key, self.features

    def as_matrix(self, decision: Decision, positions: dict[slots.Slot, int]) -> np.ndarray:
        if decision.actions_key != self.key or self.matrix is None:
            self.matrix = np.stack([slots.to_vector(a, positions) for a in decision.actions])
            self.key = decision.actions_key
        return self.matrix


def read_decision(
    place: checks.Place, record: dict, options: Options, same: SameActions
) -> Decision:
    shared = checks.require(place, record, "c")
    if not isinstance(shared, dict):
        raise place.error("c", "expected an object of shared features and _multi")
    if "_slots" in shared:
        raise place.error("c._slots", "slates (conditional contextual bandit) are not supported")
    if "_multi" not in shared:
        raise place.error("c._multi", "missing")
    multi = shared["_multi"]
    if not isinstance(multi, list) or not multi or not all(isinstance(a, dict) for a in multi):
        raise place.error("c._multi", "expected a non-empty list of action objects")
    chosen = _chosen(place, record, len(multi))
    _check_ranking(place, record, len(multi))
    cost = checks.number(place, "_label_cost", checks.require(place, record, "_label_cost"))
    shown = f"cost {cost:g} (reward {-cost:g})"
    checks.in_range(place, "_label_cost", -cost, options.reward_range, shown)
    features = slots.flatten(place, "c", {k: v for k, v in shared.items() if k != "_multi"})
    actions_key, actions = same.flatten(place, multi)
    viewer = options.viewer_namespace
    return Decision(
        decision_id=_decision_id(place, record),
        time_ms=_time_ms(place, record),
        viewer={slot: v for slot, v in features.items() if slot[0][:1] == (viewer,)},
        context={slot: v for slot, v in features.items() if slot[0][:1] != (viewer,)},
        actions_key=actions_key,
        actions=actions,
        chosen=chosen,
        propensity=checks.probability(
            place, "_label_probability", checks.require(place, record, "_label_probability")
        ),
        reward=-cost,
    )


def _chosen(place: checks.Place, record: dict, actions: int) -> int:
    if "_labelIndex" not in record and "_label_Action" not in record:
        raise place.error("_labelIndex", "missing (and no _label_Action)")
    if "_label_Action" not in record:
        return checks.index(place, "_labelIndex", record["_labelIndex"], actions)
    chosen = checks.index(place, "_label_Action", record["_label_Action"], actions, base=1) - 1
    if "_labelIndex" in record:
        index = checks.index(place, "_labelIndex", record["_labelIndex"], actions)
        if index != chosen:
            raise place.error("_label_Action", f"{chosen + 1} disagrees with _labelIndex {index}")
    return chosen


def _check_ranking(place: checks.Place, record: dict, actions: int) -> None:
    ranked, probabilities = record.get("a"), record.get("p")
    if ranked is not None:
        if not isinstance(ranked, list) or len(ranked) != actions:
            raise place.error("a", f"expected a list of the {actions} action ids")
        ids = [checks.index(place, f"a[{i}]", a, actions, base=1) for i, a in enumerate(ranked)]
        if len(set(ids)) != len(ids):
            raise place.error("a", "an action id is listed twice")
    if probabilities is not None:
        if not isinstance(probabilities, list) or len(probabilities) != actions:
            raise place.error("p", f"expected a list of {actions} probabilities")
        for i, p in enumerate(probabilities):
            if not 0 <= checks.number(place, f"p[{i}]", p) <= 1:
                raise place.error(f"p[{i}]", f"{p:g} is outside [0, 1]")


def _decision_id(place: checks.Place, record: dict) -> str:
    event_id = record.get("EventId", f"line-{place.line}")
    if not isinstance(event_id, str) or not event_id:
        raise place.error("EventId", "expected a non-empty string")
    return event_id


def _time_ms(place: checks.Place, record: dict) -> int:
    stamp = record.get("Timestamp")
    if stamp is None:
        return 0
    try:
        if not isinstance(stamp, str):
            raise ValueError
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        raise place.error("Timestamp", f"{stamp!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _decisions(
    path: Path, options: Options, same: SameActions
) -> Iterator[tuple[checks.Place, Decision]]:
    for place, record in checks.json_objects(path):
        yield place, read_decision(place, record, options, same)


def _survey(path: Path, options: Options) -> DatasetInfo:
    """The first pass: every line checked, every slot found."""
    found: dict[str, set[slots.Slot]] = {"viewer": set(), "context": set(), "action": set()}
    seen: set[str] = set()
    for place, decision in _decisions(path, options, SameActions()):
        if decision.decision_id in seen:
            raise place.error("EventId", f"{decision.decision_id!r} is on an earlier line too")
        seen.add(decision.decision_id)
        found["viewer"].update(decision.viewer)
        found["context"].update(decision.context)
        for action in decision.actions:
            found["action"].update(action)
    if not seen:
        raise checks.Place(path).error("file", "no decisions")
    names = {vector: slots.ordered(found[vector]) for vector in found}
    for vector, ordered in names.items():
        name = slots.clash(ordered)
        if name is not None:
            where = "c._multi[…]." if vector == "action" else "c."
            raise checks.Place(path).error(
                where + name, "a number on some lines, a string or an object on others"
            )
    return DatasetInfo(
        viewer_dim=len(names["viewer"]),
        context_dim=len(names["context"]),
        action_dim=len(names["action"]),
        feature_schema=None,
        reward_min=options.reward_range[0],
        reward_max=options.reward_range[1],
        feature_names={vector: slots.to_names(names[vector]) for vector in names},
    )


class Vectors(NamedTuple):
    """A decision with its features in their slots (what a batch holds: no dicts of names)."""

    decision_id: str
    time_ms: int
    viewer: np.ndarray
    context: np.ndarray
    actions: np.ndarray
    chosen: int
    propensity: float
    reward: float


Positions = dict[str, dict[slots.Slot, int]]


def _vectors(decision: Decision, positions: Positions, same: SameActions) -> Vectors:
    return Vectors(
        decision.decision_id,
        decision.time_ms,
        slots.to_vector(decision.viewer, positions["viewer"]),
        slots.to_vector(decision.context, positions["context"]),
        same.as_matrix(decision, positions["action"]),
        decision.chosen,
        decision.propensity,
        decision.reward,
    )


def import_dsjson(path: Path, root: Location, options: Options) -> int:
    """Writes the file's decisions into a new dataset at `root`; returns how many."""
    info = _survey(path, options)
    assert info.feature_names is not None
    new_dataset(root, info)
    positions = {
        vector: {slot: i for i, slot in enumerate(slots.from_names(names))}
        for vector, names in info.feature_names.items()
    }
    known: set[str] = set()
    batch: list[Vectors] = []
    written = 0
    same = SameActions()
    for _, decision in _decisions(path, options, same):
        batch.append(_vectors(decision, positions, same))
        if len(batch) == BATCH:
            known = _write(root, info, batch, known, written // BATCH)
            written, batch = written + len(batch), []
    if batch:
        _write(root, info, batch, known, written // BATCH)
    return written + len(batch)


def _write(
    root: Location, info: DatasetInfo, batch: list[Vectors], known: set[str], number: int
) -> set[str]:
    data = BanditData(
        np.stack([d.viewer for d in batch]),
        np.stack([d.context for d in batch]),
        np.concatenate([d.actions for d in batch]),
        np.array([len(d.actions) for d in batch], dtype=np.int64),
        np.array([d.chosen for d in batch], dtype=np.int64),
        np.array([d.propensity for d in batch], dtype=np.float64),
        np.array([d.reward for d in batch], dtype=np.float64),
        np.array([d.time_ms for d in batch], dtype=np.int64),
    )
    ids = [d.decision_id for d in batch]
    return write_bandit_data(root, info, data, ids, known, part_name=import_part(number))
