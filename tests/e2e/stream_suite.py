"""The suite's configuration with the gateway logging to a NATS server (GATEWAY_LOG_SINK)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from cli.run import ensure_model
from suite.supervisor import SuiteConfig, local_suite_config


def nats_suite_config(data_dir: Path, nats_url: str, **env: str) -> SuiteConfig:
    """The four services on loopback, the bundled model, the gateway's learning logs on
    `nats_url` and its log directory `data_dir/logs`; `env` adds to the services' settings."""
    model_path = data_dir / "models" / "bundled.onnx"
    ensure_model(model_path)
    base = local_suite_config(data_dir, model_path)
    return replace(
        base,
        extra_env={
            **base.extra_env,
            "GATEWAY_LOG_SINK": nats_url,
            "GATEWAY_LOG_DIR": str(data_dir / "logs"),
            **env,
        },
    )


class CollectorProcess:
    """`keyart collect --nats URL --dataset DATASET` (a directory or a filesystem URL) as its
    own process, each start logging to its own file in `log_dir`; restartable, and killed on
    the way out of a `with` block."""

    def __init__(
        self, nats_url: str, dataset: Path | str, log_dir: Path, flush_s: float = 0.3
    ) -> None:
        self._args = [sys.executable, "-m", "cli.main", "collect", "--nats", nats_url]
        self._args += ["--dataset", str(dataset)]
        self._env = {**os.environ, "COLLECT_FLUSH_S": str(flush_s), "PYTHONUNBUFFERED": "1"}
        self._log_dir = log_dir
        self._starts = 0
        self.process = self._start()

    @property
    def log(self) -> Path:
        """The log of the running start."""
        return self._log_dir / f"collector-{self._starts}.log"

    def _start(self) -> subprocess.Popen[bytes]:
        self._starts += 1
        self._log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            return subprocess.Popen(self._args, stdout=out, stderr=subprocess.STDOUT, env=self._env)

    def reading(self) -> bool:
        """True once the running start logged that it reads the streams."""
        return "collector reading" in self.log.read_text()

    def kill_and_restart(self, down_s: float = 0.0) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        time.sleep(down_s)
        self.process = self._start()

    def stop(self) -> int:
        """SIGTERM once it reads the streams (before, Python's default handler would end it)."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(60)

    def __enter__(self) -> CollectorProcess:
        return self

    def __exit__(self, *_: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
