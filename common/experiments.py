"""Online experiments: the experiments file, its validation, and the allocation of viewers.

The file is JSON (docs/experiments.md has the format and an example). PyYAML is not
a dependency of the services, so YAML is not read. Validation names the field of the
first problem it finds (`experiments[0].cells[1].weight: ...`), and the caller keeps
the configuration it had.

Allocation (the same on every replica, recomputable offline):

- the viewer's traffic slot is `unit("keyart-traffic\\n" + viewer)`: one slot for all
  experiments, so experiments whose traffic ranges do not overlap take disjoint viewers;
- within an experiment whose `traffic` [from, to) holds the slot, the viewer's cell is the
  first whose cumulative weight exceeds `unit("keyart-cell\\n" + experiment + "\\n" + viewer)`;

where unit(text) is the first 8 bytes of SHA-256 of the UTF-8 text as a big-endian
unsigned integer, shifted right by 11 bits and divided by 2**53: uniform on [0, 1).
The two hashes are of different texts, so a viewer's cell does not depend on its slot.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

WEIGHT_TOLERANCE = 1e-9
MAX_EXPERIMENTS = 32  # with MAX_CELLS, bounds the metric's label values
MAX_CELLS = 16
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # path-safe: no "/", never "." or ".."
EXPLORATION_MODES = ("off", "epsilon_greedy", "softmax")
TEMPERATURE_RANGE = (1e-4, 100.0)  # as RANKER_TEMPERATURE
_UNIT = float(1 << 53)


class ExperimentsError(ValueError):
    """The experiments file cannot take effect; the message names the file and field."""


def unit(text: str) -> float:
    """A uniform number in [0, 1) from SHA-256 of `text` (see the module docstring)."""
    digest = hashlib.sha256(text.encode()).digest()
    return (int.from_bytes(digest[:8], "big") >> 11) / _UNIT


def traffic_slot(user_id: str) -> float:
    return unit(f"keyart-traffic\n{user_id}")


def cell_point(experiment: str, user_id: str) -> float:
    return unit(f"keyart-cell\n{experiment}\n{user_id}")


@dataclass(frozen=True)
class Exploration:
    """The ranker's exploration for a cell: both 0 is greedy (RANKER_EXPLORATION=off)."""

    epsilon: float = 0.0
    temperature: float = 0.0


@dataclass(frozen=True)
class Cell:
    """One cell; its policy is exactly one of: the catalog default (`control`), a model
    version, or exploration settings (with the production model)."""

    name: str
    weight: float
    control: bool = False
    model_version: str = ""
    exploration: Exploration | None = None

    @property
    def policy(self) -> str:
        """The policy as the docs and logs name it."""
        if self.control:
            return "default"
        if self.model_version:
            return f"model_version={self.model_version}"
        return "exploration"


@dataclass(frozen=True)
class Experiment:
    name: str
    start: datetime
    end: datetime
    traffic: tuple[float, float]  # [from, to) of the viewer-hash space [0, 1)
    cells: tuple[Cell, ...]

    def active(self, now: datetime) -> bool:
        return self.start <= now < self.end

    def holds(self, slot: float) -> bool:
        return self.traffic[0] <= slot < self.traffic[1]

    def cell_of(self, user_id: str) -> Cell:
        """The first cell whose cumulative weight exceeds the viewer's point (the last
        cell takes what rounding leaves below 1)."""
        point, total = cell_point(self.name, user_id), 0.0
        for cell in self.cells:
            total += cell.weight
            if point < total:
                return cell
        return self.cells[-1]


@dataclass(frozen=True)
class Assignment:
    experiment: str
    cell: Cell


@dataclass(frozen=True)
class Experiments:
    """A validated experiments file; empty: every viewer gets the production policy."""

    experiments: tuple[Experiment, ...] = ()

    def assign(self, user_id: str, now: datetime) -> Assignment | None:
        """The viewer's experiment and cell at `now`, or None (production)."""
        if not self.experiments:
            return None
        slot = traffic_slot(user_id)
        for experiment in self.experiments:
            if experiment.active(now) and experiment.holds(slot):
                return Assignment(experiment.name, experiment.cell_of(user_id))
        return None

    def model_versions(self) -> dict[str, str]:
        """Each model version a cell names → the field naming it (the first, if several)."""
        named: dict[str, str] = {}
        for e, experiment in enumerate(self.experiments):
            for c, cell in enumerate(experiment.cells):
                if cell.model_version:
                    field = f"experiments[{e}].cells[{c}].policy.model_version"
                    named.setdefault(cell.model_version, field)
        return named

    def check_models(self, held: set[str]) -> None:
        """ExperimentsError unless the ranker holds every model version a cell names."""
        for version, field in self.model_versions().items():
            if version not in held:
                raise ExperimentsError(
                    f"{field}: {version!r} is not held by the ranker "
                    f"(it holds {', '.join(sorted(held)) or 'none'})"
                )


def load(path: Path) -> Experiments:
    """The file's experiments, validated; ExperimentsError naming the file and field."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ExperimentsError(f"{path}: cannot be read ({error})") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ExperimentsError(
            f"{path}: line {error.lineno} column {error.colno}: not JSON ({error.msg})"
        ) from None
    try:
        return parse(document)
    except ExperimentsError as error:
        raise ExperimentsError(f"{path}: {error}") from None


def parse(document: object) -> Experiments:
    """Validates a decoded file (see docs/experiments.md)."""
    top = _object(document, "", {"experiments"})
    items = top.get("experiments")
    if not isinstance(items, list):
        raise ExperimentsError("experiments: expected a list of experiments")
    if len(items) > MAX_EXPERIMENTS:
        raise ExperimentsError(f"experiments: {len(items)} experiments, at most {MAX_EXPERIMENTS}")
    experiments = tuple(_experiment(item, f"experiments[{at}]") for at, item in enumerate(items))
    _check_distinct(experiments)
    return Experiments(experiments)


def _object(value: object, field: str, allowed: set[str]) -> dict:
    where = f"{field}: " if field else ""
    if not isinstance(value, dict):
        raise ExperimentsError(f"{where or 'the file: '}expected a JSON object")
    unknown = sorted(set(value) - allowed)
    if unknown:
        prefix = f"{field}." if field else ""
        raise ExperimentsError(
            f"{prefix}{unknown[0]}: unknown field (expected one of {', '.join(sorted(allowed))})"
        )
    return value


def _name(value: object, field: str) -> str:
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise ExperimentsError(
            f"{field}: {value!r} is not a name (1-64 of A-Z a-z 0-9 _ . -, "
            "starting with a letter or digit)"
        )
    return value


def _number(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ExperimentsError(f"{field}: {value!r} is not a finite number")
    return float(value)


def _time(value: object, field: str) -> datetime:
    if not isinstance(value, str):
        raise ExperimentsError(f"{field}: expected an ISO-8601 time with a zone, got {value!r}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ExperimentsError(f"{field}: {value!r} is not an ISO-8601 time") from None
    if moment.tzinfo is None:
        raise ExperimentsError(f"{field}: {value!r} has no zone (add Z or +hh:mm)")
    return moment


def _experiment(value: object, field: str) -> Experiment:
    item = _object(value, field, {"name", "start", "end", "traffic", "cells"})
    name = _name(item.get("name"), f"{field}.name")
    start = _time(item.get("start"), f"{field}.start")
    end = _time(item.get("end"), f"{field}.end")
    if end <= start:
        raise ExperimentsError(f"{field}.end: {item['end']} is not after start {item['start']}")
    traffic = item.get("traffic")
    if not (isinstance(traffic, list) and len(traffic) == 2):
        raise ExperimentsError(f"{field}.traffic: expected [from, to] within [0, 1]")
    low = _number(traffic[0], f"{field}.traffic[0]")
    high = _number(traffic[1], f"{field}.traffic[1]")
    if not 0.0 <= low < high <= 1.0:
        raise ExperimentsError(f"{field}.traffic: [{low:g}, {high:g}) is not a range in [0, 1]")
    cells_value = item.get("cells")
    if not (isinstance(cells_value, list) and cells_value):
        raise ExperimentsError(f"{field}.cells: expected a non-empty list of cells")
    if len(cells_value) > MAX_CELLS:
        raise ExperimentsError(f"{field}.cells: {len(cells_value)} cells, at most {MAX_CELLS}")
    cells = tuple(_cell(cell, f"{field}.cells[{at}]") for at, cell in enumerate(cells_value))
    names = [cell.name for cell in cells]
    for at, cell_name in enumerate(names):
        if cell_name in names[:at]:
            raise ExperimentsError(f"{field}.cells[{at}].name: {cell_name!r} is used twice")
    total = math.fsum(cell.weight for cell in cells)
    if abs(total - 1.0) > WEIGHT_TOLERANCE:
        raise ExperimentsError(f"{field}.cells: weights sum to {total:.12g}, not 1")
    return Experiment(name, start, end, (low, high), cells)


def _cell(value: object, field: str) -> Cell:
    item = _object(value, field, {"name", "weight", "policy"})
    name = _name(item.get("name"), f"{field}.name")
    weight = _number(item.get("weight"), f"{field}.weight")
    if not 0.0 < weight <= 1.0:
        raise ExperimentsError(f"{field}.weight: {weight:g} is not in (0, 1]")
    policy = item.get("policy")
    where = f"{field}.policy"
    if policy == "default":
        return Cell(name, weight, control=True)
    if isinstance(policy, dict) and len(policy) == 1:
        if "model_version" in policy:
            version = policy["model_version"]
            if not (isinstance(version, str) and version):
                raise ExperimentsError(f"{where}.model_version: expected a model version")
            return Cell(name, weight, model_version=version)
        if "exploration" in policy:
            return Cell(name, weight, exploration=_exploration(policy["exploration"], where))
    raise ExperimentsError(
        f"{where}: {json.dumps(policy)[:80]} is not a policy "
        '(expected "default", {"model_version": "..."} or {"exploration": {...}})'
    )


def _exploration(value: object, field: str) -> Exploration:
    where = f"{field}.exploration"
    item = _object(value, where, {"mode", "epsilon", "temperature"})
    mode = item.get("mode")
    if mode not in EXPLORATION_MODES:
        raise ExperimentsError(
            f"{where}.mode: {mode!r} is not one of {', '.join(EXPLORATION_MODES)}"
        )
    needed = {"off": set(), "epsilon_greedy": {"epsilon"}, "softmax": {"temperature"}}[mode]
    extra = sorted(set(item) - {"mode"} - needed)
    if extra:
        raise ExperimentsError(f"{where}.{extra[0]}: not a setting of mode {mode}")
    if mode == "epsilon_greedy":
        epsilon = _number(item.get("epsilon"), f"{where}.epsilon")
        if not 0.0 < epsilon <= 1.0:
            raise ExperimentsError(f"{where}.epsilon: {epsilon:g} is not in (0, 1]")
        return Exploration(epsilon=epsilon)
    if mode == "softmax":
        temperature = _number(item.get("temperature"), f"{where}.temperature")
        low, high = TEMPERATURE_RANGE
        if not low <= temperature <= high:
            raise ExperimentsError(
                f"{where}.temperature: {temperature:g} is not in [{low:g}, {high:g}]"
            )
        return Exploration(temperature=temperature)
    return Exploration()


def _check_distinct(experiments: tuple[Experiment, ...]) -> None:
    """Names are unique, and no two experiments live at the same time on the same traffic."""
    for later, experiment in enumerate(experiments):
        for earlier, other in enumerate(experiments[:later]):
            if experiment.name == other.name:
                raise ExperimentsError(
                    f"experiments[{later}].name: {experiment.name!r} is used twice"
                )
            meet_in_time = experiment.start < other.end and other.start < experiment.end
            low, high = experiment.traffic
            other_low, other_high = other.traffic
            if meet_in_time and low < other_high and other_low < high:
                raise ExperimentsError(
                    f"experiments[{later}].traffic: two experiments claiming the same traffic "
                    f"({experiment.name!r} [{low:g}, {high:g}) and experiments[{earlier}] "
                    f"{other.name!r} [{other_low:g}, {other_high:g}) overlap in time and traffic)"
                )
