"""The experiment cells' models: every valid `*.onnx` file in RANKER_CELL_MODEL_DIR, by version.

The production model (RANKER_MODEL_PATH, hot-swapped from RANKER_MODEL_DIR) is not
among them; these are the models an experiment's cell may name by version. Each
file is watched on its own, like the models directory: when one changes (its
modification time or size), only that file is loaded again, validated
(RankingModel's checks), and swapped in by one reference assignment of a new
version → model map, so requests in flight keep the models they started with and
the other files' models are the very same objects. A file that does not load is
logged and its previous model, if any, keeps serving; a deleted file's model is
dropped. A changed file usually brings a new version (the version names the
weights), so an experiments file naming the old one must be updated.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from common.logging import get_logger
from services.ranker.model import ModelError, RankingModel

log = get_logger(__name__)


class CellModels:
    """Polls `directory`; `models` maps each held version to its model."""

    def __init__(self, directory: Path, intra_op_threads: int) -> None:
        self._directory = directory
        self._threads = intra_op_threads
        self._files: dict[Path, tuple[int, int]] = {}  # (mtime, size) last tried
        self._by_file: dict[Path, RankingModel] = {}
        self.models: dict[str, RankingModel] = {}

    def _present(self) -> dict[Path, tuple[int, int]]:
        found = {}
        for path in self._directory.glob("*.onnx"):
            if path.name.startswith("."):  # a writer's temporary file
                continue
            with contextlib.suppress(FileNotFoundError):
                stat = path.stat()
                found[path] = (stat.st_mtime_ns, stat.st_size)
        return found

    async def check_once(self) -> bool:
        """Loads the files that changed and drops the deleted ones; True if `models` changed."""
        present = self._present()
        by_file = {path: model for path, model in self._by_file.items() if path in present}
        changed = len(by_file) != len(self._by_file)
        for path in sorted(present):
            if self._files.get(path) == present[path]:
                continue
            self._files[path] = present[path]
            try:
                model = await asyncio.to_thread(RankingModel, path, intra_op_threads=self._threads)
            except ModelError as error:
                log.warning("cell model rejected", path=str(path), reason=str(error))
                continue
            previous = by_file.get(path)
            by_file[path] = model
            changed = True
            log.info(
                "cell model loaded",
                path=str(path),
                model_version=model.version,
                previous="" if previous is None else previous.version,
            )
        for path in set(self._files) - set(present):
            del self._files[path]
            if path in self._by_file:
                log.info("cell model dropped: file deleted", path=str(path))
        if changed:
            self._by_file = by_file
            self.models = {model.version: model for model in by_file.values()}
        return changed

    async def run(self, poll_s: float, stop: asyncio.Event) -> None:
        """Checks every `poll_s` until `stop` is set."""
        log.info("watching cell models", directory=str(self._directory))
        while not stop.is_set():
            await self.check_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), poll_s)
