"""Hot swap: watch a models directory, validate each new model file, swap it in atomically.

A candidate is the newest `*.onnx` file in the directory (names starting with
a dot are writers' temporary files and are skipped), tried once in each form
it takes (modification time and size). It must load, have the ranking
signature and metadata, score a probe batch with finite numbers (all checked
by RankingModel), reach RANKER_MIN_OFFLINE_ESTIMATE when one is set, and pass
the swap rule (RANKER_MODEL_SWAP):

- `better` (default): its model card's offline estimate is at least the
  serving model's. A candidate without an estimate does not replace a model
  that has one; a serving model without one is replaced by any valid model.
- `newest`: every valid candidate is swapped in.

Only then does the servicer switch to it: one reference assignment, so a
request in flight keeps the model it started with and the next one gets the
new model; no request fails because of a swap. A refused file is logged once
with the reason and not tried again until it changes; the old model keeps
serving.

When the serving model's file is deleted, the watcher goes back to the newest
remaining valid model in the directory (swap rule aside: the model it replaced
is gone); with none left it keeps serving the deleted model from memory and
says so.

A published directory (one with `current.json`, common/models_pointer.py) is
followed instead: the candidate is the model the pointer names, `<version>.onnx`,
validated as above and required to carry that version; the swap rule is not
applied, since `keyart model publish` applied it once for every replica and a
rollback is an explicit choice. A pointer that cannot be read, or names a missing
or invalid model, is logged once with the reason and the serving model keeps
serving.

The directory is a Location (common/storage.py): a local path or a filesystem URL
such as `s3://bucket/models?endpoint_override=…`. A model on an object store is read
whole and loaded from its bytes, its card read from beside it; a check's reading and
validating run off the event loop, on a thread of the watcher's own (a store that
hangs holds that one, not the inference threads). A store that cannot be reached
is logged once per outage ("models location unreachable; still serving") and the
serving model keeps serving; once it answers again ("models location reachable
again") the pointer, or the newest file, is tried afresh, so a model the outage
interrupted is not lost.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from common.logging import get_logger
from common.model_contract import CardError, offline_estimate
from common.models_pointer import (
    MODEL_SUFFIX,
    PointerError,
    model_file,
    pointer_path,
    read_pointer,
    version_named,
)
from common.storage import FileStat, Location, StorageError
from services.ranker.model import ModelError, RankingModel, model_at

log = get_logger(__name__)

SWAP_RULES = ("better", "newest")


@dataclass(frozen=True)
class WatchSettings:
    directory: Location
    poll_s: float
    min_offline_estimate: float  # 0: no minimum
    intra_op_threads: int
    swap_rule: str = "better"


@dataclass(frozen=True)
class Candidate:
    """A validated model and its card's offline estimate (None: the card has none)."""

    model: RankingModel
    estimate: float | None


def _estimate(model: Location) -> float | None:
    try:
        return offline_estimate(model)
    except CardError as error:
        raise ModelError(str(error)) from error


def validate_model(
    model: Location, intra_op_threads: int, min_offline_estimate: float
) -> Candidate:
    """The loaded model and its estimate, or ModelError saying why it may not serve
    (`min_offline_estimate` 0: no minimum); StorageError when its store cannot be
    reached. `keyart model publish` checks the same."""
    loaded = model_at(model, intra_op_threads=intra_op_threads)
    estimate = _estimate(model)
    if min_offline_estimate > 0:
        if estimate is None:
            raise ModelError(f"model card of {model} has no offline estimate")
        if estimate < min_offline_estimate:
            raise ModelError(
                f"model {model} has offline estimate {estimate:.5f} "
                f"< minimum {min_offline_estimate:.5f}"
            )
    return Candidate(loaded, estimate)


def rule_refuses(rule: str, estimate: float | None, serving_estimate: float | None) -> bool:
    """Whether swap rule `rule` keeps a model estimated `estimate` from replacing one
    estimated `serving_estimate` (None: the card has no estimate)."""
    if rule == "newest" or serving_estimate is None:
        return False
    return estimate is None or estimate < serving_estimate


def _fmt(estimate: float | None) -> str:
    return "none" if estimate is None else f"{estimate:.5f}"


Chosen = tuple[Location, Candidate]  # a model to swap in: where it is, and it validated


class ModelWatcher:
    """Polls `directory`; hands each validated model to `use_model`."""

    def __init__(
        self,
        settings: WatchSettings,
        use_model: Callable[[RankingModel], None],
        current_version: Callable[[], str],
        serving: Location,
    ) -> None:
        self._settings = settings
        self._use_model = use_model
        self._current_version = current_version
        self._serving = serving
        try:
            self._serving_estimate = offline_estimate(serving)
        except CardError as error:
            log.warning("serving model's card ignored", reason=str(error))
            self._serving_estimate = None
        self._tried: dict[str, FileStat] = {}  # model file path → its form as last tried
        self._orphaned = False  # serving a deleted file, with nothing to go back to
        # (pointer file, named model file) as last tried, so each form is tried once.
        self._pointer_tried: tuple[object, ...] | None = None
        self._in_outage = False  # the location could not be reached at the last check
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-watch")

    def _models(self) -> list[tuple[Location, FileStat]]:
        """Each model file with its modification time and size, newest first."""
        found = [
            (model, stat)
            for model in self._settings.directory.files(MODEL_SUFFIX)
            if (stat := model.stat()) is not None
        ]
        return sorted(found, key=lambda entry: (entry[1].mtime_ns, entry[0].name), reverse=True)

    def newest(self) -> Location | None:
        """The newest model file, if it has not been tried in its present form."""
        models = self._models()
        if not models:
            return None
        model, stat = models[0]
        if self._tried.get(model.path) == stat:
            return None
        self._tried[model.path] = stat
        return model

    def validate(self, model: Location) -> Candidate:
        return validate_model(
            model, self._settings.intra_op_threads, self._settings.min_offline_estimate
        )

    def refusal(self, candidate: Candidate) -> str | None:
        """Why the swap rule keeps `candidate` out, or None if it may replace the serving model."""
        if not rule_refuses(self._settings.swap_rule, candidate.estimate, self._serving_estimate):
            return None
        return (
            f"offline estimate {_fmt(candidate.estimate)} is below the serving model's "
            f"{_fmt(self._serving_estimate)} (RANKER_MODEL_SWAP=better)"
        )

    def _swap(self, model: Location, candidate: Candidate) -> bool:
        previous = self._current_version()
        self._serving, self._serving_estimate = model, candidate.estimate
        self._orphaned = False
        if candidate.model.version == previous:
            return False
        self._use_model(candidate.model)
        log.info(
            "model swapped",
            path=str(model),
            model_version=candidate.model.version,
            previous=previous,
            offline_estimate=candidate.estimate,
        )
        return True

    def _go_back(self) -> Chosen | None:
        """The serving file is gone: the newest remaining valid model."""
        deleted = self._serving
        for model, stat in self._models():
            self._tried[model.path] = stat
            try:
                candidate = self.validate(model)
            except ModelError as error:
                log.warning("model rejected", path=str(model), reason=str(error))
                continue
            log.warning(
                "serving model file deleted; going back", deleted=str(deleted), to=str(model)
            )
            return model, candidate
        if not self._orphaned:
            self._orphaned = True
            log.error(
                "serving model file deleted and no other valid model to go back to; "
                "still serving it from memory",
                deleted=str(deleted),
                directory=str(self._settings.directory),
            )
        return None

    def _pointed(self, pointer_state: FileStat) -> Location | None:
        """The model `current.json` names, if the pointer or that file changed since last
        tried; raises PointerError when the pointer cannot be read."""
        directory = self._settings.directory
        try:
            pointer = read_pointer(directory)
        except PointerError:
            self._pointer_tried = (pointer_state,)
            raise
        if pointer is None:
            return None
        model = model_file(directory, pointer.current)
        key = (pointer_state, pointer.current, model.stat())
        if key == self._pointer_tried:
            return None
        self._pointer_tried = key
        return model

    def _validate_pointed(self, model: Location) -> Candidate:
        candidate = self.validate(model)
        if candidate.model.version != version_named(model):
            raise ModelError(
                f"model file {model} carries version {candidate.model.version!r}, "
                f"not the {version_named(model)!r} its name and current.json give"
            )
        return candidate

    def _follow_pointer(self, pointer_state: FileStat) -> Chosen | None:
        """What current.json names, once validated."""
        previous_try = self._pointer_tried
        try:
            model = self._pointed(pointer_state)
        except PointerError as error:
            if self._pointer_tried != previous_try:
                log.warning("models pointer rejected; still serving", reason=str(error))
            return None
        if model is None:
            return None
        try:
            return model, self._validate_pointed(model)
        except ModelError as error:
            log.warning(
                "model rejected; still serving",
                path=str(model),
                reason=str(error),
                serving=self._current_version(),
            )
            return None

    def _choose(self) -> Chosen | None:
        """The model to swap in, if any: what the pointer names, or the newest new file
        (blocking: it reads the location)."""
        pointer_state = pointer_path(self._settings.directory).stat()
        if pointer_state is not None:
            return self._follow_pointer(pointer_state)
        if not self._serving.exists():
            return self._go_back()
        model = self.newest()
        if model is None:
            return None
        try:
            candidate = self.validate(model)
        except ModelError as error:
            log.warning("model rejected", path=str(model), reason=str(error))
            return None
        reason = self.refusal(candidate)
        if reason is not None:
            log.warning(
                "model not swapped in",
                path=str(model),
                reason=reason,
                offline_estimate=candidate.estimate,
                serving_path=str(self._serving),
                serving_offline_estimate=self._serving_estimate,
            )
            return None
        return model, candidate

    def _unreachable(self, error: StorageError) -> None:
        """Logs the outage once; forgets what was tried, which it may have cut short."""
        if not self._in_outage:
            log.warning(
                "models location unreachable; still serving",
                directory=str(self._settings.directory),
                reason=str(error),
                serving=self._current_version(),
            )
        self._in_outage = True
        self._tried.clear()
        self._pointer_tried = None

    async def check_once(self) -> bool:
        """Follows the pointer, or tries the newest new file; True when a model was swapped in."""
        try:
            chosen = await asyncio.get_running_loop().run_in_executor(self._reader, self._choose)
        except StorageError as error:
            self._unreachable(error)
            return False
        if self._in_outage:
            self._in_outage = False
            log.info("models location reachable again", directory=str(self._settings.directory))
        return chosen is not None and self._swap(*chosen)

    async def run(self, stop: asyncio.Event) -> None:
        """Checks every `poll_s` until `stop` is set."""
        log.info(
            "watching models",
            directory=str(self._settings.directory),
            swap_rule=self._settings.swap_rule,
        )
        while not stop.is_set():
            await self.check_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._settings.poll_s)
        self._reader.shutdown(wait=False)
