"""Checks the bandit-log readers share: a bad value is refused in one line, `PLACE: field: problem`.

PLACE is `FILE:LINE` for a text file (lines count from 1), `FILE: row N` for
an array file (rows count from 0, as numpy does), or `FILE` for the whole
file. Types are strict: a boolean or a string is not a number, 3.7 is not an
index, and NaN or infinity (which Python's json reads) is refused wherever it
appears.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.log_schema import LogFormatError

# The largest integer a float holds (a larger one would be infinity once it is a feature).
_LARGEST = int(np.finfo(np.float64).max)


class _NotFinite(Exception):
    """Raised by json.loads's number hooks: the line holds NaN, infinity or a number too large."""


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotFinite
    return value


def _finite_int(text: str) -> int:
    value = int(text)
    if abs(value) > _LARGEST:
        raise _NotFinite
    return value


def _not_a_number(text: str) -> float:
    raise _NotFinite


class InputError(LogFormatError):
    """A file keyart refuses, with where and why in one line."""


@dataclass(frozen=True)
class Place:
    path: Path
    line: int | None = None
    row: int | None = None

    def __str__(self) -> str:
        if self.line is not None:
            return f"{self.path}:{self.line}"
        if self.row is not None:
            return f"{self.path}: row {self.row}"
        return str(self.path)

    def error(self, field: str, problem: str) -> InputError:
        return InputError(f"{self}: {field}: {problem}")


def json_objects(path: Path) -> Iterator[tuple[Place, dict]]:
    """Each line of a JSON-lines file as an object, refusing blank, torn and non-finite lines."""
    try:
        lines = path.open(encoding="utf-8")
    except OSError as error:
        raise Place(path).error("file", error.strerror or str(error)) from None
    with lines:
        number = 0
        try:
            for number, text in enumerate(lines, start=1):
                yield _json_object(Place(path, number), text)
        except UnicodeDecodeError:
            raise Place(path, number + 1).error("line", "not UTF-8 text") from None


def _json_object(place: Place, text: str) -> tuple[Place, dict]:
    """One line as an object; a non-finite number found by the hooks is then looked for value by
    value, to name its field (walking every clean line would double the cost of reading it)."""
    if not text.strip():
        raise place.error("line", "blank line")
    text = text.rstrip("\r\n")
    try:
        record = json.loads(
            text, parse_float=_finite_float, parse_int=_finite_int, parse_constant=_not_a_number
        )
    except _NotFinite:
        record = json.loads(text, parse_constant=float, parse_int=float)
        raise place.error(non_finite(record) or "line", "NaN or infinity is not a number") from None
    except json.JSONDecodeError as error:
        raise place.error("line", f"not JSON ({error.msg}: column {error.colno})") from None
    except ValueError as error:  # an integer of more digits than Python converts
        raise place.error("line", f"not JSON ({error})") from None
    if not isinstance(record, dict):
        raise place.error("line", f"a JSON {type(record).__name__}, expected an object")
    return place, record


def non_finite(value: object, at: str = "") -> str | None:
    """The path of the first NaN or infinity inside `value`, or None."""
    if isinstance(value, float):
        return None if math.isfinite(value) else at
    if isinstance(value, dict):
        items = ((f"{at}.{key}" if at else str(key), item) for key, item in value.items())
    elif isinstance(value, list):
        items = ((f"{at}[{i}]", item) for i, item in enumerate(value))
    else:
        return None
    for where, item in items:
        found = non_finite(item, where)
        if found is not None:
            return found
    return None


def require(place: Place, record: dict, field: str) -> object:
    if field not in record:
        raise place.error(field, "missing")
    return record[field]


def number(place: Place, field: str, value: object) -> float:
    """A finite JSON number (json_objects has refused NaN and infinity already)."""
    if isinstance(value, bool):
        raise place.error(field, f"{json.dumps(value)} is a boolean, not a number")
    if isinstance(value, str):
        raise place.error(field, f"{json.dumps(value)} is a string, not a number")
    if not isinstance(value, int | float):
        raise place.error(field, f"{json.dumps(value)} is not a number")
    return float(value)


def probability(place: Place, field: str, value: object) -> float:
    """A propensity: in (0, 1] (0 would make the importance weight infinite)."""
    p = number(place, field, value)
    if not 0 < p <= 1:
        raise place.error(field, f"{p:g} is outside (0, 1]")
    return p


def in_range(
    place: Place, field: str, value: float, bounds: tuple[float, float], shown: str = ""
) -> float:
    """A reward inside the declared range; `shown` says what the value is when not the field's."""
    low, high = bounds
    if not low <= value <= high:
        where = f"the declared reward range [{low:g}, {high:g}]"
        raise place.error(field, f"{shown or f'{value:g}'} is outside {where}")
    return value


def index(place: Place, field: str, value: object, size: int, base: int = 0) -> int:
    """An integer in [base, base + size): 3.7 and true are refused, not rounded."""
    if isinstance(value, bool) or not isinstance(value, int):
        shown = json.dumps(value)
        raise place.error(field, f"{shown} is not an integer")
    if not base <= value < base + size:
        raise place.error(field, f"{value} is outside [{base}, {base + size - 1}]")
    return value


def vector(place: Place, field: str, value: object, width: int) -> np.ndarray:
    """A list of exactly `width` numbers as float32."""
    if not isinstance(value, list):
        raise place.error(field, f"expected a list of {width} numbers")
    if len(value) != width:
        raise place.error(field, f"{len(value)} numbers, expected {width}")
    for i, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, int | float):
            number(place, f"{field}[{i}]", item)
    return np.array(value, dtype=np.float32)


def reward_range(text: str) -> tuple[float, float]:
    """`LO,HI` (the --reward-range option) as finite bounds with LO < HI."""
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"{text!r}: expected LO,HI (two numbers)") from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"{text!r}: expected finite LO < HI")
    return low, high
