"""Watches GATEWAY_EXPERIMENTS_FILE: a changed file is validated, then swapped in whole.

A file is tried once in each form it takes (modification time, size, inode). It
must parse and validate (common/experiments.py), and the ranker must hold every
model version its cells name (asked with ListModels). A refused file is logged
with the reason naming the file and field, counted in
keyart_gateway_experiments_refused_total, and not tried again until it changes;
the experiments in effect stay as they were. When the ranker cannot be asked, the
file is tried again at the next poll. A deleted file ends every experiment
(viewers get the production policy). The swap is one reference assignment: a
page reads `current` once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc

from common.experiments import Experiments, ExperimentsError, load
from common.logging import get_logger
from common.metrics import EXPERIMENTS_REFUSED

log = get_logger(__name__)

HELD_MODELS_TIMEOUT_S = 2.0

# The model versions the ranker holds, asked with this timeout.
HeldModels = Callable[[float], Awaitable[set[str]]]


def _names(experiments: Experiments) -> list[str]:
    return [experiment.name for experiment in experiments.experiments]


class ExperimentsWatcher:
    def __init__(self, path: Path, held_models: HeldModels) -> None:
        self._path = path
        self._held_models = held_models
        self._tried: tuple[int, int, int] | None = None
        self.current = Experiments()

    def experiments(self) -> Experiments:
        """The experiments in effect now."""
        return self.current

    def _form(self) -> tuple[int, int, int] | None:
        try:
            stat = self._path.stat()
        except FileNotFoundError:
            return None
        return (stat.st_mtime_ns, stat.st_size, stat.st_ino)

    async def check_once(self) -> bool:
        """Loads the file if it changed; True when the experiments in effect changed."""
        form = await asyncio.to_thread(self._form)
        if form is None:
            self._tried = None
            if not self.current.experiments:
                return False
            log.warning("experiments file deleted; experiments ended", path=str(self._path))
            self.current = Experiments()
            return True
        if form == self._tried:
            return False
        try:
            experiments = await asyncio.to_thread(load, self._path)
            if experiments.model_versions():
                held = await self._held_models(HELD_MODELS_TIMEOUT_S)
                try:
                    experiments.check_models(held)
                except ExperimentsError as error:
                    raise ExperimentsError(f"{self._path}: {error}") from None
        except ExperimentsError as error:
            self._tried = form
            EXPERIMENTS_REFUSED.inc()
            log.error(
                "experiments file refused",
                path=str(self._path),
                reason=str(error),
                in_effect=_names(self.current),
            )
            return False
        except grpc.aio.AioRpcError as error:
            log.warning(
                "experiments file not checked yet: the ranker did not say which models it holds",
                path=str(self._path),
                status_code=error.code().name,
            )
            return False
        self._tried = form
        self.current = experiments
        log.info("experiments loaded", path=str(self._path), experiments=_names(experiments))
        return True

    async def run(self, poll_s: float, stop: asyncio.Event) -> None:
        """Checks every `poll_s` until `stop` is set."""
        while not stop.is_set():
            await self.check_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), poll_s)
