"""Hot swap: watch a models directory, validate each new model file, swap it in atomically.

A candidate is the newest `*.onnx` file in the directory (names starting with
a dot are writers' temporary files and are skipped). It must load, have the
ranking signature and metadata, score a probe batch with finite numbers
(all checked by RankingModel), and, when a minimum is configured, carry a
model card (`<name>.card.json`) whose offline estimate reaches it. Only then
does the servicer switch to it: one reference assignment, so a request in
flight keeps the model it started with and the next one gets the new model;
no request fails because of a swap. A rejected file is logged with the reason
and not tried again until it changes; the old model keeps serving.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common.logging import get_logger
from services.ranker.model import ModelError, RankingModel

log = get_logger(__name__)

CARD_SUFFIX = ".card.json"


def card_path(model_path: Path) -> Path:
    return model_path.with_name(model_path.stem + CARD_SUFFIX)


def offline_estimate(model_path: Path) -> float:
    """The model card's offline estimate of its policy's reward (ModelError if there is none)."""
    path = card_path(model_path)
    try:
        card = json.loads(path.read_text())
        return float(card["offline_estimate"]["value"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ModelError(f"model card {path} has no offline estimate: {error}") from error


@dataclass(frozen=True)
class WatchSettings:
    directory: Path
    poll_s: float
    min_offline_estimate: float  # 0: no minimum
    intra_op_threads: int


class ModelWatcher:
    """Polls `directory`; hands each validated model to `use_model`."""

    def __init__(
        self,
        settings: WatchSettings,
        use_model: Callable[[RankingModel], None],
        current_version: Callable[[], str],
    ) -> None:
        self._settings = settings
        self._use_model = use_model
        self._current_version = current_version
        self._tried: dict[Path, tuple[int, int]] = {}

    def newest(self) -> Path | None:
        """The newest model file not yet tried in its present form."""
        candidates = []
        for path in self._settings.directory.glob("*.onnx"):
            if path.name.startswith("."):
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            if self._tried.get(path) != (stat.st_mtime_ns, stat.st_size):
                candidates.append((stat.st_mtime_ns, path.name, path, stat.st_size))
        if not candidates:
            return None
        mtime, _, path, size = max(candidates)
        self._tried[path] = (mtime, size)
        return path

    def validate(self, path: Path) -> RankingModel:
        """The loaded model, or ModelError saying why it may not serve."""
        model = RankingModel(path, intra_op_threads=self._settings.intra_op_threads)
        minimum = self._settings.min_offline_estimate
        if minimum > 0:
            estimate = offline_estimate(path)
            if estimate < minimum:
                raise ModelError(
                    f"model {path} has offline estimate {estimate:.5f} < minimum {minimum:.5f}"
                )
        return model

    async def check_once(self) -> bool:
        """Tries the newest new file; True when a model was swapped in."""
        path = self.newest()
        if path is None:
            return False
        try:
            model = await asyncio.to_thread(self.validate, path)
        except ModelError as error:
            log.warning("model rejected", path=str(path), reason=str(error))
            return False
        previous = self._current_version()
        if model.version == previous:
            return False
        self._use_model(model)
        log.info("model swapped", path=str(path), model_version=model.version, previous=previous)
        return True

    async def run(self, stop: asyncio.Event) -> None:
        """Checks every `poll_s` until `stop` is set."""
        log.info("watching models", directory=str(self._settings.directory))
        while not stop.is_set():
            await self.check_once()
            try:
                await asyncio.wait_for(stop.wait(), self._settings.poll_s)
            except TimeoutError:
                pass
