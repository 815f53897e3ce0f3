"""The prod overlay's NATS, run for real: three nats-servers started from the rendered
nats.conf and StatefulSet arguments (pod DNS names and ports moved to free loopback ports)
form a JetStream cluster that stores a stream on all three, and answer the probes' path."""

from __future__ import annotations

import asyncio
import re
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from nats.js.api import StorageType, StreamConfig

from suite.supervisor import free_address
from tests.debian_package import stop_server
from tests.unit.test_k8s_manifests import container_of, of_kind, render

SERVERS = 3
ROUTE = re.compile(r"nats://nats-(\d+)\.nats-headless:6222")


def free_port() -> int:
    return int(free_address().rsplit(":", 1)[1])


def server_command(
    binary: str, args: list[str], config: Path, index: int, cluster_ports: list[int]
) -> list[str]:
    """The StatefulSet's arguments for pod `nats-<index>`, its names resolved to loopback."""
    pairs = dict(zip(args[::2], args[1::2], strict=True))
    local = {
        "--config": str(config),
        "--name": f"nats-{index}",
        "--cluster": f"nats://127.0.0.1:{cluster_ports[index]}",
        "--routes": ROUTE.sub(
            lambda m: f"nats://127.0.0.1:{cluster_ports[int(m[1])]}", pairs["--routes"]
        ),
    }
    command = [binary, "--addr", "127.0.0.1"]
    for flag, rendered in pairs.items():
        command += [flag, local.get(flag, rendered)]
    return command


def loopback_config(conf: str, store_dir: Path, client_port: int, monitor_port: int) -> str:
    conf, stores = re.subn(r"store_dir:\s*\S+", f'store_dir: "{store_dir}"', conf)
    conf, clients = re.subn(r"^port:\s*4222$", f"port: {client_port}", conf, flags=re.MULTILINE)
    conf, monitors = re.subn(
        r"^http_port:\s*8222$", f'http: "127.0.0.1:{monitor_port}"', conf, flags=re.MULTILINE
    )
    assert (stores, clients, monitors) == (1, 1, 1), "nats.conf's layout changed"
    return conf


class Cluster:
    def __init__(self, binary: str, root: Path) -> None:
        objects = render("prod")
        args = container_of(objects, "StatefulSet", "nats")["args"]
        conf = next(
            c["data"]["nats.conf"]
            for c in of_kind(objects, "ConfigMap")
            if c["metadata"]["name"].startswith("nats-config")
        )
        cluster_ports = [free_port() for _ in range(SERVERS)]
        self.client_ports = [free_port() for _ in range(SERVERS)]
        self.monitor_ports = [free_port() for _ in range(SERVERS)]
        self.processes = []
        for i in range(SERVERS):
            config = root / f"nats-{i}.conf"
            config.write_text(
                loopback_config(
                    conf, root / f"data-{i}", self.client_ports[i], self.monitor_ports[i]
                )
            )
            with open(root / f"nats-{i}.log", "ab") as log:
                self.processes.append(
                    subprocess.Popen(
                        server_command(binary, args, config, i, cluster_ports),
                        stdout=log,
                        stderr=log,
                    )
                )

    def health(self, index: int, query: str) -> int:
        url = f"http://127.0.0.1:{self.monitor_ports[index]}/healthz{query}"
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                return int(answer.status)
        except OSError:
            return 0

    def stop(self) -> None:
        for process in self.processes:
            stop_server(process)


@pytest.fixture(scope="module")
def cluster(nats_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    running = Cluster(nats_binary, tmp_path_factory.mktemp("nats"))
    try:
        yield running
    finally:
        running.stop()


async def replicated_stream(url: str, timeout_s: float = 30.0) -> tuple[int, int]:
    """(the ack's sequence, how many replicas besides the leader) for a 3-replica stream,
    retried while the cluster elects its JetStream leader."""
    client = await nats.connect(url, connect_timeout=2)
    try:
        js = client.jetstream(timeout=5)
        config = StreamConfig(
            name="K8S_CHECK", subjects=["k8s.check"], num_replicas=3, storage=StorageType.FILE
        )
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            try:
                await js.add_stream(config)
                break
            except Exception:  # no JetStream leader yet: nats.js.errors.* or a timeout
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.5)
        ack = await js.publish("k8s.check", b"one")
        info = await js.stream_info("K8S_CHECK")
        assert info.cluster is not None
        return ack.seq, len(info.cluster.replicas or [])
    finally:
        await client.close()


def test_the_rendered_servers_form_a_jetstream_cluster_with_three_copies(
    cluster: Cluster,
) -> None:
    sequence, others = asyncio.run(replicated_stream(f"nats://127.0.0.1:{cluster.client_ports[0]}"))
    assert (sequence, others) == (1, SERVERS - 1)
    for index in range(SERVERS):
        assert cluster.health(index, "?js-enabled-only=true") == 200, f"nats-{index}"
