"""Starting, watching and stopping the four keyart server processes.

Used by `keyart run`, the simulator, the benchmarks and the end-to-end tests,
so all of them start the suite the same way.
"""

from __future__ import annotations

import functools
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from common.channels import Dial
from demo.catalog_seed import seed_catalog

SERVICE_MODULES = {
    "profile": "services.profile.server",
    "artwork": "services.artwork.server",
    "ranker": "services.ranker.server",
    "gateway": "gateway.server",
}
START_ORDER = ("profile", "artwork", "ranker", "gateway")


@dataclass(frozen=True)
class SuiteConfig:
    """Where each service listens and keeps its data."""

    data_dir: Path
    model_path: Path
    addresses: dict[str, str]
    extra_env: dict[str, str] = field(default_factory=dict)
    image_dir: Path = Path("var/images")
    # How to reach the servers for health checks when they serve TLS (None: plaintext).
    credentials: grpc.ChannelCredentials | None = None

    def env_for(self, service: str) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("PROFILE_DB", str(self.data_dir / "profile.db"))
        env.setdefault("ARTWORK_DB", str(self.data_dir / "catalog.db"))
        env.setdefault("GATEWAY_LOG_DIR", str(self.data_dir / "logs"))
        env.setdefault("RANKER_MODEL_DIR", str(self.model_path.parent))
        env.update(
            {
                "PYTHONUNBUFFERED": "1",
                f"{service.upper()}_ADDRESS": self.addresses[service],
                "RANKER_MODEL_PATH": str(self.model_path),
                "PROFILE_TARGET": self.addresses["profile"],
                "ARTWORK_TARGET": self.addresses["artwork"],
                "RANKER_TARGET": self.addresses["ranker"],
                "PREVIEW_GATEWAY_TARGET": self.addresses["gateway"],
                "PREVIEW_ARTWORK_TARGET": self.addresses["artwork"],
                "KEYART_IMAGE_DIR": str(self.image_dir),
            }
        )
        if "preview" in self.addresses:
            env.setdefault("ARTWORK_IMAGE_BASE_URL", f"http://{self.addresses['preview']}/images")
        env.update(self.extra_env)
        return env


# Ports handed out by free_address in this process, so that two servers never get the same one.
_HANDED_OUT: set[int] = set()


def _ephemeral_low(default: int = 32768) -> int:
    """The lowest port the kernel gives the local end of an outgoing connection."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return default


def free_address() -> str:
    """A loopback address with a port free right now (for tests and benchmarks).

    The port is picked below the kernel's ephemeral range: a port from that range,
    free when picked, can be taken by an outgoing connection's local end before the
    server it was meant for binds it ("Address already in use"), which failed a CI run.
    """
    low = 20_000
    high = max(low + 1, _ephemeral_low())
    for port in random.sample(range(low, high), min(200, high - low)):
        if port in _HANDED_OUT:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return f"127.0.0.1:{port}"
    raise OSError(f"no free loopback port found in {low}-{high - 1}")


def local_suite_config(data_dir: Path, model_path: Path) -> SuiteConfig:
    """A suite on fresh loopback ports whose stores live in `data_dir`, whatever the environment says."""
    return SuiteConfig(
        data_dir=data_dir,
        model_path=model_path,
        addresses={name: free_address() for name in (*START_ORDER, "preview")},
        extra_env={
            "PROFILE_DB": str(data_dir / "profile.db"),
            "ARTWORK_DB": str(data_dir / "catalog.db"),
            **{f"{name.upper()}_METRICS_ADDRESS": free_address() for name in START_ORDER},
        },
        image_dir=data_dir / "images",
    )


def is_serving(
    address: str, timeout_s: float = 0.5, credentials: grpc.ChannelCredentials | None = None
) -> bool:
    channel = (
        grpc.secure_channel(address, credentials) if credentials else grpc.insecure_channel(address)
    )
    with channel:
        try:
            response = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=timeout_s
            )
        except grpc.RpcError:
            return False
    return response.status == health_pb2.HealthCheckResponse.SERVING


def status_mib(pid: int, field: str) -> float:
    """A memory figure of /proc/PID/status (VmRSS, VmHWM: the peak) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise ProcessLookupError(f"process {pid} reports no {field}")


class ServiceProcess:
    def __init__(
        self,
        name: str,
        config: SuiteConfig,
        log: IO[bytes] | None = None,
        *,
        module: str | None = None,
        ready: Callable[[str], bool] | None = None,
    ) -> None:
        """`ready` tells when the process serves; by default a gRPC health check."""
        self.name = name
        self.address = config.addresses[name]
        self._config = config
        self._log = log
        self._module = module or SERVICE_MODULES[name]
        self._ready = ready or functools.partial(is_serving, credentials=config.credentials)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", self._module],
            env=self._config.env_for(self.name),
            stdout=self._log,
            stderr=subprocess.STDOUT if self._log else None,
        )

    def wait_serving(self, timeout_s: float = 60.0) -> None:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if self.process is None or self.process.poll() is not None:
                code = None if self.process is None else self.process.returncode
                raise RuntimeError(f"{self.name} exited with code {code} before serving")
            if self._ready(self.address):
                return
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} did not report SERVING on {self.address} in {timeout_s}s")

    def stop(self, timeout_s: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited in `timeout_s`."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def rss_mib(self) -> float:
        """The running process's resident set size, from /proc (Linux)."""
        return self._status_mib("VmRSS")

    def peak_rss_mib(self) -> float:
        """The largest resident set size the running process has had (VmHWM)."""
        return self._status_mib("VmHWM")

    def _status_mib(self, field: str) -> float:
        assert self.process is not None, f"{self.name} was never started"
        return status_mib(self.process.pid, field)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class Suite:
    """The four services, started in dependency order and stopped in reverse."""

    def __init__(self, config: SuiteConfig, log: IO[bytes] | None = None) -> None:
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.config = config
        self.services = {name: ServiceProcess(name, config, log) for name in START_ORDER}
        # How many demo titles start() imported into an empty catalog (0: it held titles already).
        self.demo_titles_imported = 0

    def start(self, timeout_s: float = 60.0) -> None:
        """Starts every service and waits until each reports SERVING. An empty catalog is
        seeded with the demo through the catalog import once the artwork service serves,
        before the ranker and the gateway start (the artwork server never seeds)."""
        try:
            for name in START_ORDER:
                self.services[name].start()
                if name == "artwork":
                    self.services[name].wait_serving(timeout_s)
                    self.demo_titles_imported = seed_catalog(
                        Dial(self.services[name].address, self.config.credentials)
                    )
            for name in START_ORDER:
                self.services[name].wait_serving(timeout_s)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> dict[str, int | None]:
        return {name: self.services[name].stop() for name in reversed(START_ORDER)}

    def exited(self) -> list[str]:
        return [name for name, service in self.services.items() if service.exited()]

    def rss_mib(self) -> dict[str, float]:
        return {name: service.rss_mib() for name, service in self.services.items()}
