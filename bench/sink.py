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
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import nats
from google.protobuf import json_format
from keyart.gateway.v1 import gateway_service_pb2 as pb

from bench.__main__ import RENDER_PAGE, VIEWER, ms
from cli.run import ensure_model
from cli.seed import seed_viewers
from loadgen.reference import reference_request
from loadgen.runner import LoadPlan, run_load
from suite.client import PageClient
from suite.supervisor import ServiceProcess, Suite, free_address, local_suite_config
from tests.nats_server import NatsServer, nats_server_binary

SINKS = ("files", "nats")


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


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.sink", description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="per throughput run")
    parser.add_argument("--pages", type=int, default=100, help="one-client pages per run")
    parser.add_argument("--rounds", type=int, default=2, help="turns of each sink")
    parser.add_argument("--concurrency", type=int, default=4, help="clients for pages/s")
    args = parser.parse_args()
    binary = nats_server_binary()
    if binary is None:
        raise SystemExit("bench-sink: nats-server is missing and cannot be installed (not root?)")
    model = Path("var/models/bundled.onnx")
    ensure_model(model)
    data_dir = Path(tempfile.mkdtemp(prefix="keyart-bench-sink-"))
    config = local_suite_config(data_dir, model)
    request = json_format.ParseDict(
        reference_request(VIEWER), pb.RenderPageRequest()
    ).SerializeToString()
    print(
        f"keyart bench-sink {time.strftime('%Y-%m-%d %H:%M')} — reference page 40×40×8, data in {data_dir}"
    )
    broker = NatsServer(binary, data_dir / "nats")
    nats_config = replace(
        config,
        addresses={**config.addresses, "gateway": free_address()},
        extra_env={
            **config.extra_env,
            "GATEWAY_METRICS_ADDRESS": free_address(),
            "GATEWAY_LOG_SINK": broker.url,
            "GATEWAY_LOG_DIR": str(data_dir / "nats-gateway"),
        },
    )
    targets = {"files": config.addresses["gateway"], "nats": nats_config.addresses["gateway"]}
    figures: dict[str, dict[str, list[float]]] = {sink: {"rate": [], "p50": []} for sink in SINKS}
    served = 0
    with open(data_dir / "services.log", "wb") as log:
        suite = Suite(config, log)
        nats_gateway = ServiceProcess("gateway", nats_config, log)
        try:
            suite.start()
            nats_gateway.start()
            nats_gateway.wait_serving()
            with PageClient(targets["files"]) as client:
                seed_viewers(client)
            for sink in SINKS:  # warm both
                served += pages(targets[sink], request, 1, total=10)[2] if sink == "nats" else 0
            for round_number in range(1, args.rounds + 1):
                for sink in SINKS:
                    _, p50, one = pages(targets[sink], request, 1, total=args.pages)
                    rate, _, many = pages(
                        targets[sink],
                        request,
                        args.concurrency,
                        total=None,
                        duration_s=args.seconds,
                    )
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
            suite.stop()
        in_stream = asyncio.run(stream_messages(broker.url, "KEYART_IMPRESSIONS"))
        broker.stop()
    spilled = sum(1 for _ in (data_dir / "nats-gateway" / "spill").glob("*.jsonl"))
    median_rate = {sink: statistics.median(figures[sink]["rate"]) for sink in SINKS}
    median_p50 = {sink: statistics.median(figures[sink]["p50"]) for sink in SINKS}
    print(
        f"NATS gateway: {served} pages served, {in_stream} messages in KEYART_IMPRESSIONS, "
        f"{spilled} spill files left"
    )
    print(
        f"summary: files_pages_per_s={median_rate['files']:.1f} nats_pages_per_s={median_rate['nats']:.1f} "
        f"nats_vs_files={median_rate['nats'] / median_rate['files']:.3f} files_p50_ms={median_p50['files']:.2f} "
        f"nats_p50_ms={median_p50['nats']:.2f} concurrency={args.concurrency} served_nats={served} "
        f"in_stream={in_stream} spill_files={spilled}"
    )


if __name__ == "__main__":
    main()
