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
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common.logging import get_logger
from common.model_contract import CardError, offline_estimate
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
        """The loaded model and its estimate, or ModelError saying why it may not serve."""
        model = RankingModel(path, intra_op_threads=self._settings.intra_op_threads)
        estimate = _estimate(path)
        minimum = self._settings.min_offline_estimate
        if minimum > 0:
            if estimate is None:
                raise ModelError(f"model card of {path} has no offline estimate")
            if estimate < minimum:
                raise ModelError(
                    f"model {path} has offline estimate {estimate:.5f} < minimum {minimum:.5f}"
                )
        return Candidate(model, estimate)

    def refusal(self, candidate: Candidate) -> str | None:
        """Why the swap rule keeps `candidate` out, or None if it may replace the serving model."""
        if self._settings.swap_rule == "newest" or self._serving_estimate is None:
            return None
        if candidate.estimate is not None and candidate.estimate >= self._serving_estimate:
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

    async def check_once(self) -> bool:
        """Tries the newest new file; True when a model was swapped in."""
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
