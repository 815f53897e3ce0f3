"""The production shape on one machine (`keyart run-scaled`): PostgreSQL, Redis and
nats-server, two replicas of each service behind round-robin channels, the collector and
the learning loop, every process one entry of a list (docs/run-scaled.md)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cli.run import ensure_model
from cli.seed import seed_viewers
from common.channels import Dial
from demo.catalog_seed import seed_catalog
from suite.client import PageClient
from suite.debian_package import required, stop_server
from suite.nats_server import NatsServer, nats_server_binary
from suite.postgres_server import PostgresServer, postgres_binaries
from suite.redis_server import RedisServer, redis_server_binary
from suite.supervisor import SERVICE_MODULES, START_ORDER, free_address, is_serving

REPLICAS = 2
SERVICES = START_ORDER
KEYART = (sys.executable, "-m", "cli.main")
LOOP_EVERY_S = 60


@dataclass(frozen=True)
class ProcessSpec:
    """One process of the shape: `address` is where it serves gRPC health ("": none)."""

    name: str
    command: tuple[str, ...]
    env: dict[str, str]
    address: str = ""


@dataclass(frozen=True)
class Engines:
    postgres: PostgresServer
    redis: RedisServer
    nats: NatsServer


@dataclass(frozen=True)
class Layout:
    """Where the shape keeps its data and where each replica listens."""

    data_dir: Path
    addresses: dict[str, list[str]] = field(
        default_factory=lambda: {
            name: [free_address() for _ in range(REPLICAS)] for name in SERVICES
        }
    )

    @property
    def models(self) -> Path:
        return self.data_dir / "models"

    @property
    def dataset(self) -> Path:
        return self.data_dir / "dataset"

    def target(self, service: str) -> str:
        """A static list of the replicas, balanced by the channels' round_robin policy."""
        return "ipv4:" + ",".join(self.addresses[service])


def service_env(layout: Layout, engines: Engines, service: str, replica: int) -> dict[str, str]:
    own = layout.data_dir / f"{service}-{replica}"
    env = {
        f"{service.upper()}_ADDRESS": layout.addresses[service][replica],
        # Every service finds the others through these (the ranker reads the catalog's features).
        **{
            f"{other.upper()}_TARGET": layout.target(other)
            for other in SERVICES
            if other != "gateway"
        },
    }
    if service == "profile":
        env |= {"PROFILE_STORE": engines.redis.url, "PROFILE_DB": str(own / "unused.db")}
    if service == "artwork":
        env |= {"ARTWORK_STORE": engines.postgres.url(), "ARTWORK_DB": str(own / "unused.db")}
    if service == "ranker":
        env |= {
            # The loop learns only from explored decisions (docs/loop.md).
            "RANKER_EXPLORATION": "epsilon_greedy",
            "RANKER_MODEL_DIR": str(layout.models),
            "RANKER_MODEL_PATH": str(layout.models / "bundled.onnx"),
        }
    if service == "gateway":
        env |= {
            "GATEWAY_LOG_SINK": engines.nats.url,
            "GATEWAY_LOG_DIR": str(own / "logs"),
        }
    return env


def process_specs(layout: Layout, engines: Engines) -> list[ProcessSpec]:
    """Every process, in start order: the services' replicas, then the learning jobs."""
    specs = [
        ProcessSpec(
            f"{service}-{replica}",
            (sys.executable, "-m", SERVICE_MODULES[service]),
            service_env(layout, engines, service, replica),
            layout.addresses[service][replica],
        )
        for service in SERVICES
        for replica in range(REPLICAS)
    ]
    collect = ("collect", "--nats", engines.nats.url, "--dataset", str(layout.dataset))
    loop = ("loop", "--dataset", str(layout.dataset), "--models", str(layout.models))
    specs.append(ProcessSpec("collect", (*KEYART, *collect), {}))
    # Before anything is published, the loop's baseline is the model the rankers serve.
    bundled = {"RANKER_MODEL_PATH": str(layout.models / "bundled.onnx")}
    specs.append(ProcessSpec("loop", (*KEYART, *loop, "--every", str(LOOP_EVERY_S)), bundled))
    return specs


class RunningProcess:
    """One started ProcessSpec, its output in DATA/logs/NAME.log."""

    def __init__(self, spec: ProcessSpec, log_dir: Path) -> None:
        self.spec = spec
        self.log = log_dir / f"{spec.name}.log"
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                spec.command,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **spec.env},
                stdout=out,
                stderr=subprocess.STDOUT,
                # Not in the terminal's process group: Ctrl-C reaches run-scaled alone, which
                # stops the processes in order (the gateways before NATS).
                start_new_session=True,
            )

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.spec.name} exited with code {self.process.returncode}; see {self.log}"
                )
            if not self.spec.address or is_serving(self.spec.address):
                return
            time.sleep(0.1)
        raise TimeoutError(f"{self.spec.name} did not serve on {self.spec.address} in {timeout_s}s")

    def exited(self) -> bool:
        return self.process.poll() is not None

    def kill(self) -> None:
        """SIGKILL: a crash, for the failure tests."""
        self.process.kill()
        self.process.wait()

    def stop(self) -> int:
        """SIGTERM (SIGKILL after 10 s); the exit code."""
        stop_server(self.process)
        return self.process.returncode


@dataclass(frozen=True)
class ScaledSuite:
    layout: Layout
    engines: Engines
    processes: dict[str, RunningProcess]
    demo_titles_imported: int
    events_applied: int

    def exited(self) -> list[str]:
        return [name for name, process in self.processes.items() if process.exited()]


@contextmanager
def started_engines(data_dir: Path) -> Iterator[Engines]:
    """PostgreSQL, Redis and nats-server (installed from Debian when missing and root)."""
    postgres_bin = postgres_binaries()
    binaries = (
        Path(required(str(postgres_bin) if postgres_bin else None, "postgres", "postgresql")),
        required(redis_server_binary(), "redis-server", "redis-server"),
        required(nats_server_binary(), "nats-server", "nats-server"),
    )
    with ExitStack() as stack:
        postgres = PostgresServer(binaries[0], directory=data_dir / "postgres")
        stack.callback(postgres.stop)
        redis = RedisServer(binaries[1], data_dir / "redis")
        stack.callback(redis.stop)
        nats = NatsServer(binaries[2], data_dir / "nats")
        stack.callback(nats.stop)
        yield Engines(postgres, redis, nats)


@contextmanager
def scaled_suite(data_dir: Path) -> Iterator[ScaledSuite]:
    """The whole shape, started and seeded as `make run` seeds; stopped in reverse order."""
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "logs").mkdir(exist_ok=True)
    layout = Layout(data_dir)
    ensure_model(layout.models / "bundled.onnx")
    with started_engines(data_dir) as engines, ExitStack() as stack:
        processes: dict[str, RunningProcess] = {}
        imported = 0
        for spec in process_specs(layout, engines):
            processes[spec.name] = RunningProcess(spec, data_dir / "logs")
            stack.callback(processes[spec.name].stop)
            processes[spec.name].wait_ready()
            if spec.name == "artwork-0":  # the catalog is shared: seed it once, as `make run` does
                imported = seed_catalog(Dial(spec.address))
        with PageClient(layout.addresses["gateway"][0]) as client:
            applied, _ = seed_viewers(client)
        yield ScaledSuite(layout, engines, processes, imported, applied)
