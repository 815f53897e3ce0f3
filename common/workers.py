"""Several worker processes of one server sharing its port (SO_REUSEPORT).

The parent starts before any gRPC object exists, spawns fresh interpreters
(gRPC does not survive fork), forwards SIGTERM/SIGINT to them, and serves the
workers' metrics merged (Prometheus multiprocess mode) on the metrics address.
If one worker dies, the others are stopped and the parent exits non-zero, so
whatever supervises it (keyart run, Kubernetes) restarts the whole server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector

from common.logging import get_logger

log = get_logger(__name__)


def run_workers(module: str, prefix: str, count: int, metrics_address: str) -> int:
    """Runs `count` copies of `python -m module` with `<prefix>_REUSE_PORT=true`; returns the exit code."""
    with tempfile.TemporaryDirectory(prefix="keyart-metrics-") as metrics_dir:
        env = dict(os.environ)
        env.update(
            {
                f"{prefix}_WORKERS": "1",
                f"{prefix}_REUSE_PORT": "true",
                f"{prefix}_METRICS_ADDRESS": "",
                "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
            }
        )
        if metrics_address:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=metrics_dir)
            host, _, port = metrics_address.rpartition(":")
            start_http_server(int(port), addr=host or "127.0.0.1", registry=registry)
        workers = [subprocess.Popen([sys.executable, "-m", module], env=env) for _ in range(count)]
        stopping = threading.Event()

        def forward(signum: int, _frame: object) -> None:
            stopping.set()
            for worker in workers:
                if worker.poll() is None:
                    worker.send_signal(signum)

        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, forward)
        log.info("workers started", module=module, count=count, pids=[w.pid for w in workers])
        codes = [_wait_any(workers, stopping)]
        asked_to_stop = stopping.is_set()
        if not asked_to_stop:
            log.error("a worker exited; stopping the others", code=codes[0])
            forward(signal.SIGTERM, None)
        codes += [worker.wait() for worker in workers]
        # A worker still starting when the stop came has no handler yet and dies of the
        # forwarded signal: it stopped as asked.
        failed = [code for code in codes if code and -code not in (signal.SIGTERM, signal.SIGINT)]
        return 0 if asked_to_stop and not failed else max(1, *codes)


def _wait_any(workers: list[subprocess.Popen[bytes]], stopping: threading.Event) -> int:
    """Blocks until one worker exits (or a stop signal arrived and all have exited)."""
    while not stopping.wait(0.2):
        for worker in workers:
            if worker.poll() is not None:
                return worker.returncode
    return 0
