"""The models location's pointer: `current.json`, naming the version every ranker serves.

A published models directory holds `<version>.onnx` and `<version>.card.json` per
model, plus `current.json`:

    {"schema": "keyart-models/1", "current": "<version>", "history": ["<older>", …]}

`history` lists the versions served before, newest first (at most HISTORY_LIMIT),
so a rollback knows what to serve again. The directory is a Location
(common/storage.py): a local path or a filesystem URL such as `s3://bucket/models`.
The pointer is written as one atomic whole-object write: a ranker reads the old
pointer or the whole new one.
The ranker (services/ranker/model_watch.py) and `keyart model` (cli/models.py)
share this module.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TypeGuard

from common.storage import Location

POINTER_NAME = "current.json"
POINTER_SCHEMA = "keyart-models/1"
HISTORY_LIMIT = 20
MODEL_SUFFIX = ".onnx"
# A version names a file: letters, digits, dot, dash, underscore; no path separators.
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class PointerError(ValueError):
    """The pointer cannot be read, or cannot move as asked; the message says why."""


def valid_version(version: object) -> TypeGuard[str]:
    return isinstance(version, str) and _VERSION.fullmatch(version) is not None


def pointer_path(directory: Location) -> Location:
    return directory / POINTER_NAME


def model_file(directory: Location, version: str) -> Location:
    """Where the model of `version` lives in a published directory."""
    return directory / f"{version}{MODEL_SUFFIX}"


def version_named(model: Location) -> str:
    """The version a published model file's name gives (`model_file`'s inverse)."""
    return model.name.removesuffix(MODEL_SUFFIX)


@dataclass(frozen=True)
class Pointer:
    current: str
    history: tuple[str, ...] = ()

    def published(self, version: str) -> Pointer:
        """`version` served next; the present one becomes the newest of the history."""
        older = [self.current, *self.history]
        return Pointer(version, tuple(v for v in older if v != version)[:HISTORY_LIMIT])

    def rolled_back(self) -> Pointer:
        """The previous version served again; the present one leaves the history."""
        if not self.history:
            raise PointerError(f"no previous model to roll back to (only {self.current} served)")
        return Pointer(self.history[0], self.history[1:])

    def to_json(self) -> bytes:
        body = {"schema": POINTER_SCHEMA, "current": self.current, "history": list(self.history)}
        return (json.dumps(body, indent=2) + "\n").encode()


def _refuse(path: Location, line: int, field: str, problem: str) -> PointerError:
    return PointerError(f"{path}:{line}: {field}: {problem}")


def read_pointer(directory: Location) -> Pointer | None:
    """The directory's pointer; None when it has none (the legacy, newest-file layout).
    StorageError when the store cannot be reached."""
    path = pointer_path(directory)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise _refuse(path, 1, "current.json", f"cannot be read: {error}") from error
    try:
        body = json.loads(text)
    except json.JSONDecodeError as error:
        raise _refuse(path, error.lineno, "current.json", f"not JSON: {error.msg}") from error
    if not isinstance(body, dict):
        raise _refuse(path, 1, "current.json", "expected a JSON object")
    if body.get("schema") != POINTER_SCHEMA:
        raise _refuse(path, 1, "schema", f"expected {POINTER_SCHEMA!r}, got {body.get('schema')!r}")
    current, history = body.get("current"), body.get("history", [])
    if not valid_version(current):
        raise _refuse(path, 1, "current", f"expected a model version, got {current!r}")
    if not isinstance(history, list) or not all(valid_version(v) for v in history):
        raise _refuse(path, 1, "history", "expected a list of model versions")
    return Pointer(current, tuple(history))


def write_pointer(directory: Location, pointer: Pointer) -> Location:
    return pointer_path(directory).write_bytes(pointer.to_json())
