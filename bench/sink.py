"""`make bench-sink`: the reference page with the NATS JetStream log sink beside the file sink.

Starts the real four processes and a second gateway on the same backends whose
GATEWAY_LOG_SINK is a nats-server with JetStream (started here on loopback, its
store in the run's temporary directory; Debian's package installed when missing).
The two gateways are timed in turns (one client, then 4 clients, each sink in
each round), so host drift falls on both alike. Then it counts the stream's
messages against the pages the NATS gateway served. No pass/fail: figures only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

import nats
from google.protobuf import json_format
from keyart.gateway.v1 import gateway_service_pb2 as pb

from bench.reference import RENDER_PAGE, VIEWER, ms
from cli.run import ensure_model
from cli.seed import seed_viewers
from loadgen.reference import reference_request
from loadgen.runner import LoadPlan, run_load
from suite.client import PageClient
from suite.supervisor import (
    ServiceProcess,
    Suite,
    SuiteConfig,
    free_address,
    local_suite_config,
)
from tests.nats_server import NatsServer, nats_server_binary

SINKS = ("files", "nats")
_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """The user and system CPU time process `pid` has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_S


async def stream_messages(url: str, stream: str) -> int:
    client = await nats.connect(url)
    try:
        return (await client.jetstream().stream_info(stream)).state.messages
    finally:
        await client.close()


def pages(target: str, request: bytes, concurrency: int, **plan: Any) -> tuple[float, float, int]:
    """(pages/s, p50 ms, pages served) of one load run."""
    result = asyncio.run(
        run_load(
            LoadPlan(target, RENDER_PAGE, request, concurrency=concurrency, timeout_s=5.0, **plan)
        )
    )
    ok = result.latencies_ok
    return len(ok) / result.wall_s, ms(ok, 50), len(ok)


@dataclass(frozen=True)
class SinkComparison:
    """Medians over the rounds, per sink: pages/s at `concurrency` clients and one-client p50;
    and, over all the throughput runs, CPU per page of each gateway and of the broker (steadier
    than pages/s on a shared machine: another job's load slows a page, not its CPU time)."""

    rate: dict[str, float]
    p50_ms: dict[str, float]
    cpu_ms_per_page: dict[str, float]
    broker_cpu_ms_per_page: float
    concurrency: int
    served_nats: int
    in_stream: int
    spill_files: int

    @property
    def ratio(self) -> float:
        return self.rate["nats"] / self.rate["files"]

    def summary(self) -> str:
        """The comparison's `k=v` fields for a summary line."""
        return (
            f"files_pages_per_s={self.rate['files']:.1f} nats_pages_per_s={self.rate['nats']:.1f} "
            f"nats_vs_files={self.ratio:.3f} files_p50_ms={self.p50_ms['files']:.2f} "
            f"nats_p50_ms={self.p50_ms['nats']:.2f} "
            f"files_gateway_cpu_ms_per_page={self.cpu_ms_per_page['files']:.2f} "
            f"nats_gateway_cpu_ms_per_page={self.cpu_ms_per_page['nats']:.2f} "
            f"broker_cpu_ms_per_page={self.broker_cpu_ms_per_page:.2f} "
            f"concurrency={self.concurrency} "
            f"served_nats={self.served_nats} in_stream={self.in_stream} "
            f"spill_files={self.spill_files}"
        )


def compare_sinks(
    suite: Suite,
    config: SuiteConfig,
    data_dir: Path,
    log: IO[bytes],
    request: bytes,
    args: argparse.Namespace,
) -> SinkComparison:
    """Beside the running `suite` of `config` (the files sink), a second gateway on the same
    backends logging to a nats-server started here; times both in turns, prints each round."""
    binary = nats_server_binary()
    if binary is None:
        raise SystemExit("bench: nats-server is missing and cannot be installed (not root?)")
    broker = NatsServer(binary, data_dir / "nats")
    nats_config = replace(
        config,
        addresses={**config.addresses, "gateway": free_address()},
        extra_env={
            **config.extra_env,
            "GATEWAY_METRICS_ADDRESS": free_address(),
            "GATEWAY_LOG_SINK": broker.url,
            "GATEWAY_LOG_DIR": str(data_dir / "nats-gateway"),
            "GATEWAY_NATS_PUBLISH_WINDOW": str(args.window),
        },
    )
    targets = {"files": config.addresses["gateway"], "nats": nats_config.addresses["gateway"]}
    figures: dict[str, dict[str, list[float]]] = {sink: {"rate": [], "p50": []} for sink in SINKS}
    nats_gateway = ServiceProcess("gateway", nats_config, log)
    served = 0
    cpu = {sink: 0.0 for sink in (*SINKS, "broker")}
    loaded_pages = {sink: 0 for sink in SINKS}
    try:
        nats_gateway.start()
        nats_gateway.wait_serving()
        assert suite.services["gateway"].process and nats_gateway.process and broker.process
        pids = {
            "files": suite.services["gateway"].process.pid,
            "nats": nats_gateway.process.pid,
            "broker": broker.process.pid,
        }
        pages(targets["files"], request, 1, total=10)  # warm both
        served += pages(targets["nats"], request, 1, total=10)[2]
        for round_number in range(1, args.rounds + 1):
            for sink in SINKS:
                _, p50, one = pages(targets[sink], request, 1, total=args.pages)
                measured = (sink, "broker") if sink == "nats" else (sink,)
                before = {name: cpu_seconds(pids[name]) for name in measured}
                rate, _, many = pages(
                    targets[sink], request, args.concurrency, total=None, duration_s=args.seconds
                )
                for name in measured:
                    cpu[name] += cpu_seconds(pids[name]) - before[name]
                loaded_pages[sink] += many
                figures[sink]["rate"].append(rate)
                figures[sink]["p50"].append(p50)
                if sink == "nats":
                    served += one + many
                print(
                    f"  round {round_number} {sink:<5} {rate:7.1f} pages/s "
                    f"(c={args.concurrency})  one-client p50 {p50:6.2f} ms",
                    flush=True,
                )
    finally:
        nats_gateway.stop()  # publishes what it still holds before it exits
        in_stream = asyncio.run(stream_messages(broker.url, "KEYART_IMPRESSIONS"))
        broker.stop()
    comparison = SinkComparison(
        rate={sink: statistics.median(figures[sink]["rate"]) for sink in SINKS},
        p50_ms={sink: statistics.median(figures[sink]["p50"]) for sink in SINKS},
        cpu_ms_per_page={sink: 1000 * cpu[sink] / max(loaded_pages[sink], 1) for sink in SINKS},
        broker_cpu_ms_per_page=1000 * cpu["broker"] / max(loaded_pages["nats"], 1),
        concurrency=args.concurrency,
        served_nats=served,
        in_stream=in_stream,
        spill_files=sum(1 for _ in (data_dir / "nats-gateway" / "spill").glob("*.jsonl")),
    )
    print(
        f"  NATS gateway: {served} pages served, {in_stream} messages in KEYART_IMPRESSIONS, "
        f"{comparison.spill_files} spill files left; NATS/files pages/s {comparison.ratio:.3f}"
    )
    print(
        f"  CPU per page under load: files gateway {comparison.cpu_ms_per_page['files']:.2f} ms, "
        f"NATS gateway {comparison.cpu_ms_per_page['nats']:.2f} ms, "
        f"nats-server {comparison.broker_cpu_ms_per_page:.2f} ms"
    )
    return comparison


def add_sink_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sink-seconds", type=float, default=5.0, help="per throughput run")
    parser.add_argument("--sink-pages", type=int, default=100, help="one-client pages per run")
    parser.add_argument("--sink-rounds", type=int, default=2, help="turns of each sink")
    parser.add_argument("--sink-concurrency", type=int, default=4, help="clients for pages/s")
    parser.add_argument(
        "--window", type=int, default=16, help="the NATS gateway's GATEWAY_NATS_PUBLISH_WINDOW"
    )


def sink_options(args: argparse.Namespace) -> argparse.Namespace:
    """The --sink-* arguments under the names compare_sinks reads."""
    return argparse.Namespace(
        seconds=args.sink_seconds,
        pages=args.sink_pages,
        rounds=args.sink_rounds,
        concurrency=args.sink_concurrency,
        window=args.window,
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.sink", description=__doc__)
    add_sink_arguments(parser)
    args = parser.parse_args()
    model = Path("var/models/bundled.onnx")
    ensure_model(model)
    data_dir = Path(tempfile.mkdtemp(prefix="keyart-bench-sink-"))
    config = local_suite_config(data_dir, model)
    request = json_format.ParseDict(
        reference_request(VIEWER), pb.RenderPageRequest()
    ).SerializeToString()
    print(
        f"keyart bench-sink {time.strftime('%Y-%m-%d %H:%M')} — reference page 40×40×8, "
        f"window {args.window}, data in {data_dir}"
    )
    with open(data_dir / "services.log", "wb") as log:
        suite = Suite(config, log)
        try:
            suite.start()
            with PageClient(config.addresses["gateway"]) as client:
                seed_viewers(client)
            comparison = compare_sinks(suite, config, data_dir, log, request, sink_options(args))
        finally:
            suite.stop()
    print(f"summary: {comparison.summary()} window={args.window}")


if __name__ == "__main__":
    main()
