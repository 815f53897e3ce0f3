"""Several processes of one service, each on its own loopback port: replicas on a shared store."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import IO

from suite.supervisor import ServiceProcess, local_suite_config


@contextmanager
def running_replicas(
    service: str,
    env: Mapping[str, str],
    data_dir: Path,
    count: int = 2,
    log: IO[bytes] | None = None,
) -> Iterator[list[str]]:
    """`count` processes of `service`, each with `env` added, all SERVING; yields their
    addresses, and stops them afterwards (each must exit cleanly). `log`: where their
    output goes (default: this process's)."""
    replicas = []
    for i in range(count):
        base = local_suite_config(data_dir / f"replica-{i}", data_dir / "unused.onnx")
        config = replace(base, extra_env={**base.extra_env, **env})
        replicas.append(ServiceProcess(service, config, log))
    try:
        for replica in replicas:
            replica.start()
        for replica in replicas:
            replica.wait_serving()
        yield [replica.address for replica in replicas]
    finally:
        for replica in replicas:
            assert replica.stop() in (0, None)
