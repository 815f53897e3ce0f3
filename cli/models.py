"""`keyart model publish|list|rollback`: the models location every ranker replica watches.

A published directory holds `<version>.onnx`, `<version>.card.json` and
`current.json` (common/models_pointer.py); `--models` is a local directory or a
filesystem URL (`s3://bucket/models?…`, common/storage.py). Publishing validates
the model with the ranker's own checks and swap rule, copies the card and then the
model in (each an atomic whole-file or whole-object write), and only then moves
the pointer, so a ranker that reads the pointer finds both files. On a local
directory writers take a lock (`.lock`, flock) so two publishes or rollbacks do not
lose each other's history; an object store has no such lock, so its writers must
take turns (the loop's CronJob runs one at a time). Input that cannot be used, or
a location that cannot be reached, is answered by one line on stderr and exit
status 2.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import grpc
from keyart.ranker.v1 import ranker_service_pb2, ranker_service_pb2_grpc

from common.config import env_choice, env_float, env_str
from common.model_contract import CardError, card_location, card_path, offline_estimate
from common.models_pointer import (
    MODEL_SUFFIX,
    Pointer,
    PointerError,
    model_file,
    read_pointer,
    valid_version,
    version_named,
    write_pointer,
)
from common.storage import Location, StorageError
from services.ranker.model import ModelError
from services.ranker.model_watch import SWAP_RULES, Candidate, rule_refuses, validate_model

RANKER_TIMEOUT_S = 5.0


class ModelsRefused(Exception):
    """The command cannot do what was asked; the message says why."""


def _directory(location: Location, create: bool = False) -> Location:
    """The --models location; a local one must be (or, with `create`, become) a directory."""
    local = location.local_path
    if local is None:  # an object store has no directories to make or check
        return location
    if create and not local.exists():
        local.mkdir(parents=True)
    if not local.is_dir():
        raise ModelsRefused(f"--models: {location} is not a directory")
    return location


@contextmanager
def _locked(directory: Location) -> Iterator[None]:
    local = directory.local_path
    if local is None:  # no lock on an object store: see the module docstring
        yield
        return
    with open(local / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _validated(model: Location, min_offline_estimate: float) -> Candidate:
    try:
        return validate_model(model, 1, min_offline_estimate)
    except ModelError as error:
        raise ModelsRefused(str(error)) from error


def _estimate_or_none(model: Location) -> float | None:
    try:
        return offline_estimate(model)
    except CardError:
        return None


def _swap_refusal(candidate: Candidate, serving: Location, rule: str) -> str | None:
    """The ranker's swap rule (RANKER_MODEL_SWAP), applied once here for every replica."""
    serving_estimate = _estimate_or_none(serving)
    if serving_estimate is None or not rule_refuses(rule, candidate.estimate, serving_estimate):
        return None
    shown = "none" if candidate.estimate is None else f"{candidate.estimate:.5f}"
    return (
        f"offline estimate {shown} is below the current model's {serving_estimate:.5f} "
        f"({version_named(serving)}; --rule better): pass --rule newest to publish it anyway"
    )


def _copy_in(source: Path, directory: Location, version: str) -> None:
    """Card first, then the model: a reader that sees the model sees its card."""
    target = model_file(directory, version)
    card = card_path(source)
    if card.exists():
        card_location(target).write_bytes(card.read_bytes())
    with open(source, "rb") as model:
        target.write_with(lambda out: shutil.copyfileobj(model, out))


def publish_file(file: Path, models: Location, rule: str, min_offline_estimate: float) -> str:
    """Validates `file` and makes it current in `models` (a directory or a filesystem URL);
    returns what was done, in one line. Raises ModelsRefused, PointerError or StorageError
    when it cannot."""
    if not file.is_file():
        raise ModelsRefused(f"{file}: no such model file")
    candidate = _validated(Location.local(file), min_offline_estimate)
    version = candidate.model.version
    if not valid_version(version):
        raise ModelsRefused(
            f"{file}: version {version!r} cannot name a file "
            "(letters, digits, '.', '-', '_'; at most 128)"
        )
    directory = _directory(models, create=True)
    with _locked(directory):
        pointer = read_pointer(directory)
        if pointer is not None and pointer.current == version:
            return f"{version} is already current in {directory}"
        if pointer is not None:
            reason = _swap_refusal(candidate, model_file(directory, pointer.current), rule)
            if reason is not None:
                raise ModelsRefused(f"{file}: {reason}")
        _copy_in(file, directory, version)
        write_pointer(
            directory, Pointer(version) if pointer is None else pointer.published(version)
        )
    return f"published {version} to {directory} (was {pointer.current if pointer else 'none'})"


def publish(args: argparse.Namespace) -> int:
    print(
        publish_file(args.file, Location.parse(args.models), args.rule, args.min_offline_estimate)
    )
    return 0


def rollback(args: argparse.Namespace) -> int:
    directory = _directory(Location.parse(args.models))
    with _locked(directory):
        pointer = read_pointer(directory)
        if pointer is None:
            raise ModelsRefused(f"{directory}: no current.json; nothing was published here")
        previous = pointer.rolled_back()
        _validated(model_file(directory, previous.current), args.min_offline_estimate)
        write_pointer(directory, previous)
    print(f"rolled back {directory} from {pointer.current} to {previous.current}")
    return 0


def _created(card: Location) -> str:
    try:
        created_ms = json.loads(card.read_text())["created_at_ms"]
        return datetime.fromtimestamp(created_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OSError, ValueError, KeyError, TypeError, StorageError):
        return "-"


def _state(version: str, pointer: Pointer | None) -> str:
    if pointer is None:
        return ""
    if version == pointer.current:
        return "current"
    if version in pointer.history:
        return f"previous {pointer.history.index(version) + 1}"
    return ""


def _served(address: str) -> str:
    with grpc.insecure_channel(address) as channel:
        stub = ranker_service_pb2_grpc.RankerServiceStub(channel)
        response = stub.ListModels(ranker_service_pb2.ListModelsRequest(), timeout=RANKER_TIMEOUT_S)
    return response.production_model_version


def list_models(args: argparse.Namespace) -> int:
    directory = _directory(Location.parse(args.models))
    pointer = read_pointer(directory)
    print(f"{'VERSION':<28} {'CREATED':<20} {'ESTIMATE':>9}  STATE")
    for model in directory.files(MODEL_SUFFIX):
        estimate = _estimate_or_none(model)
        shown = "-" if estimate is None else f"{estimate:.5f}"
        version = version_named(model)
        print(
            f"{version:<28} {_created(card_location(model)):<20} {shown:>9}  "
            f"{_state(version, pointer)}".rstrip()
        )
    unreachable = 0
    for address in args.ranker:
        try:
            print(f"ranker {address} serves {_served(address)}")
        except grpc.RpcError as error:
            unreachable += 1
            print(f"ranker {address}: {error.code().name}: {error.details()}")
    return 1 if unreachable else 0


def _refusing(handler: Callable[[argparse.Namespace], int]) -> Callable[..., int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except (ModelsRefused, PointerError, StorageError) as error:
            print(f"keyart model {args.model_command}: {error}", file=sys.stderr)
            return 2

    return run


def add_commands(commands: argparse._SubParsersAction) -> None:
    model = commands.add_parser("model", help="publish, list and roll back served models")
    actions = model.add_subparsers(dest="model_command", required=True)
    publish_parser = actions.add_parser("publish", help="validate a model and serve it")
    publish_parser.add_argument("file", type=Path, help="the .onnx model (its card beside it)")
    publish_parser.add_argument(
        "--rule",
        choices=SWAP_RULES,
        default=env_choice("RANKER_MODEL_SWAP", "better", SWAP_RULES),
        help="better: refuse a model whose card estimate is below the current one's "
        "(default: $RANKER_MODEL_SWAP or better)",
    )
    list_parser = actions.add_parser("list", help="what is published and what rankers serve")
    list_parser.add_argument(
        "--ranker", action="append", default=[], metavar="ADDR", help="a ranker to ask (repeat)"
    )
    rollback_parser = actions.add_parser("rollback", help="serve the previous model again")
    for sub, handler in (
        (publish_parser, publish),
        (list_parser, list_models),
        (rollback_parser, rollback),
    ):
        sub.add_argument(
            "--models",
            default=env_str("RANKER_MODEL_DIR", "var/models"),
            help="the models directory or filesystem URL, such as s3://bucket/models "
            "(default: $RANKER_MODEL_DIR or var/models)",
        )
        sub.set_defaults(handler=_refusing(handler), min_offline_estimate=0.0)
    for sub in (publish_parser, rollback_parser):
        sub.add_argument(
            "--min-offline-estimate",
            type=float,
            default=env_float("RANKER_MIN_OFFLINE_ESTIMATE", 0.0, minimum=0.0),
            help="the rankers' minimum card estimate (default: $RANKER_MIN_OFFLINE_ESTIMATE or 0)",
        )
