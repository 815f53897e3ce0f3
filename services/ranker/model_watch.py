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
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common.logging import get_logger
from common.model_contract import CardError, offline_estimate
from common.models_pointer import PointerError, model_file, pointer_path, read_pointer
from services.ranker.model import ModelError, RankingModel

log = get_logger(__name__)

SWAP_RULES = ("better", "newest")


@dataclass(frozen=True)
class WatchSettings:
    directory: Path
    poll_s: float
    min_offline_estimate: float  # 0: no minimum
    intra_op_threads: int
    swap_rule: str = "better"


@dataclass(frozen=True)
class Candidate:
    """A validated model and its card's offline estimate (None: the card has none)."""

    model: RankingModel
    estimate: float | None


def _estimate(path: Path) -> float | None:
    try:
        return offline_estimate(path)
    except CardError as error:
        raise ModelError(str(error)) from error


def validate_model(path: Path, intra_op_threads: int, min_offline_estimate: float) -> Candidate:
    """The loaded model and its estimate, or ModelError saying why it may not serve
    (`min_offline_estimate` 0: no minimum). `keyart model publish` checks the same."""
    model = RankingModel(path, intra_op_threads=intra_op_threads)
    estimate = _estimate(path)
    if min_offline_estimate > 0:
        if estimate is None:
            raise ModelError(f"model card of {path} has no offline estimate")
        if estimate < min_offline_estimate:
            raise ModelError(
                f"model {path} has offline estimate {estimate:.5f} "
                f"< minimum {min_offline_estimate:.5f}"
            )
    return Candidate(model, estimate)


def _stat(path: Path) -> tuple[int, int] | None:
    """(mtime, size) of `path`, None when it does not exist."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_mtime_ns, stat.st_size


def rule_refuses(rule: str, estimate: float | None, serving_estimate: float | None) -> bool:
    """Whether swap rule `rule` keeps a model estimated `estimate` from replacing one
    estimated `serving_estimate` (None: the card has no estimate)."""
    if rule == "newest" or serving_estimate is None:
        return False
    return estimate is None or estimate < serving_estimate


def _fmt(estimate: float | None) -> str:
    return "none" if estimate is None else f"{estimate:.5f}"


class ModelWatcher:
    """Polls `directory`; hands each validated model to `use_model`."""

    def __init__(
        self,
        settings: WatchSettings,
        use_model: Callable[[RankingModel], None],
        current_version: Callable[[], str],
        serving_path: Path,
    ) -> None:
        self._settings = settings
        self._use_model = use_model
        self._current_version = current_version
        self._serving_path = serving_path
        try:
            self._serving_estimate = offline_estimate(serving_path)
        except CardError as error:
            log.warning("serving model's card ignored", reason=str(error))
            self._serving_estimate = None
        self._tried: dict[Path, tuple[int, int]] = {}
        self._orphaned = False  # serving a deleted file, with nothing to go back to
        # (pointer file, named model file) as last tried, so each form is tried once.
        self._pointer_tried: tuple[object, ...] | None = None

    def _models(self) -> list[tuple[int, str, Path, int]]:
        """(mtime, name, path, size) of each model file, newest first."""
        found = []
        for path in self._settings.directory.glob("*.onnx"):
            if path.name.startswith("."):
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            found.append((stat.st_mtime_ns, path.name, path, stat.st_size))
        return sorted(found, reverse=True)

    def newest(self) -> Path | None:
        """The newest model file, if it has not been tried in its present form."""
        models = self._models()
        if not models:
            return None
        mtime, _, path, size = models[0]
        if self._tried.get(path) == (mtime, size):
            return None
        self._tried[path] = (mtime, size)
        return path

    def validate(self, path: Path) -> Candidate:
        return validate_model(
            path, self._settings.intra_op_threads, self._settings.min_offline_estimate
        )

    def refusal(self, candidate: Candidate) -> str | None:
        """Why the swap rule keeps `candidate` out, or None if it may replace the serving model."""
        if not rule_refuses(self._settings.swap_rule, candidate.estimate, self._serving_estimate):
            return None
        return (
            f"offline estimate {_fmt(candidate.estimate)} is below the serving model's "
            f"{_fmt(self._serving_estimate)} (RANKER_MODEL_SWAP=better)"
        )

    def _swap(self, path: Path, candidate: Candidate) -> bool:
        previous = self._current_version()
        self._serving_path, self._serving_estimate = path, candidate.estimate
        self._orphaned = False
        if candidate.model.version == previous:
            return False
        self._use_model(candidate.model)
        log.info(
            "model swapped",
            path=str(path),
            model_version=candidate.model.version,
            previous=previous,
            offline_estimate=candidate.estimate,
        )
        return True

    async def _go_back(self) -> bool:
        """The serving file is gone: serve the newest remaining valid model."""
        deleted = self._serving_path
        for mtime, _, path, size in self._models():
            self._tried[path] = (mtime, size)
            try:
                candidate = await asyncio.to_thread(self.validate, path)
            except ModelError as error:
                log.warning("model rejected", path=str(path), reason=str(error))
                continue
            log.warning(
                "serving model file deleted; going back", deleted=str(deleted), to=str(path)
            )
            return self._swap(path, candidate)
        if not self._orphaned:
            self._orphaned = True
            log.error(
                "serving model file deleted and no other valid model to go back to; "
                "still serving it from memory",
                deleted=str(deleted),
                directory=str(self._settings.directory),
            )
        return False

    def _pointed(self) -> Path | None:
        """The model `current.json` names, if the pointer or that file changed since last
        tried; raises PointerError when the pointer cannot be read."""
        directory = self._settings.directory
        pointer_state = _stat(pointer_path(directory))
        try:
            pointer = read_pointer(directory)
        except PointerError:
            self._pointer_tried = (pointer_state,)
            raise
        if pointer is None:
            return None
        path = model_file(directory, pointer.current)
        key = (pointer_state, pointer.current, _stat(path))
        if key == self._pointer_tried:
            return None
        self._pointer_tried = key
        return path

    def _validate_pointed(self, path: Path) -> Candidate:
        candidate = self.validate(path)
        if candidate.model.version != path.stem:
            raise ModelError(
                f"model file {path} carries version {candidate.model.version!r}, "
                f"not the {path.stem!r} its name and current.json give"
            )
        return candidate

    async def _follow_pointer(self) -> bool:
        """Serves what current.json names; True when a model was swapped in."""
        previous_try = self._pointer_tried
        try:
            path = self._pointed()
        except PointerError as error:
            if self._pointer_tried != previous_try:
                log.warning("models pointer rejected; still serving", reason=str(error))
            return False
        if path is None:
            return False
        try:
            candidate = await asyncio.to_thread(self._validate_pointed, path)
        except ModelError as error:
            log.warning(
                "model rejected; still serving",
                path=str(path),
                reason=str(error),
                serving=self._current_version(),
            )
            return False
        return self._swap(path, candidate)

    async def check_once(self) -> bool:
        """Follows the pointer, or tries the newest new file; True when a model was swapped in."""
        if pointer_path(self._settings.directory).exists():
            return await self._follow_pointer()
        if not self._serving_path.exists():
            return await self._go_back()
        path = self.newest()
        if path is None:
            return False
        try:
            candidate = await asyncio.to_thread(self.validate, path)
        except ModelError as error:
            log.warning("model rejected", path=str(path), reason=str(error))
            return False
        reason = self.refusal(candidate)
        if reason is not None:
            log.warning(
                "model not swapped in",
                path=str(path),
                reason=reason,
                offline_estimate=candidate.estimate,
                serving_path=str(self._serving_path),
                serving_offline_estimate=self._serving_estimate,
            )
            return False
        return self._swap(path, candidate)

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
