"""`make bench`: the reference page (40 rows × 40 titles × 8 candidates) against the floor and a peer.

Starts the real four processes on loopback, then prints, in one run:
1. the in-process floor; 2. RenderPage one page at a time (p50, p99);
3. throughput at rising concurrency, for 1 and 2 gateway workers, and for
2 workers with the impression log off (what the log costs);
4. the Vowpal Wabbit peer; 5. the ratios; 6. pages failed while the ranker is
killed mid-run; 7. the NATS JetStream log sink beside the file sink (a second
gateway on the same backends, bench/sink.py). No pass/fail: figures only. The last line is a
machine-readable summary.

The floor, RenderPage and VW pages of 1, 2 and 4 are timed in turns (10 floor
pages, 10 RenderPage calls, a VW page every other turn), so that the ratios of
5 compare figures taken under the same host conditions: on a shared machine
the host's speed drifts by half within minutes, which timing each in one
block of its own would fold into the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import IO, Any, NamedTuple

import grpc
import numpy as np
from google.protobuf import json_format
from keyart.gateway.v1 import gateway_service_pb2 as pb
from keyart.profile.v1 import profile_service_pb2, profile_service_pb2_grpc

from bench.floor import InProcessPage
from bench.reference import RENDER_PAGE, VIEWER, ms
from bench.sink import add_sink_arguments, compare_sinks, sink_options
from bench.vw_peer import VowpalPeer, page_examples
from cli.run import ensure_model
from cli.seed import seed_viewers
from common import features
from demo.catalog import demo_titles
from demo.pages import reference_page
from loadgen.reference import reference_request
from loadgen.runner import LoadPlan, LoadResult, run_load
from services.artwork.catalog import Catalog
from suite.client import PageClient
from suite.supervisor import ServiceProcess, Suite, SuiteConfig, local_suite_config

DEFAULT_BUDGET_MS = 250


def timed(decide, rounds: int) -> list[float]:
    latencies = []
    for _ in range(rounds):
        started = time.perf_counter()
        decide()
        latencies.append(time.perf_counter() - started)
    return latencies


def viewer_vector(address: str, user_id: str) -> np.ndarray:
    with grpc.insecure_channel(address) as channel:
        response = profile_service_pb2_grpc.ProfileServiceStub(channel).GetViewerFeatures(
            profile_service_pb2.GetViewerFeaturesRequest(user_id=user_id), timeout=5
        )
    return np.frombuffer(response.features, dtype="<f4")


def load(target: str, request: bytes, concurrency: int, **plan: Any) -> LoadResult:
    """`plan`: more of LoadPlan's fields."""
    return asyncio.run(
        run_load(LoadPlan(target, RENDER_PAGE, request, concurrency=concurrency, **plan))
    )


def throughput(target: str, request: bytes, levels: list[int], seconds: float) -> list[dict]:
    rows = []
    for level in levels:
        result = load(target, request, level, total=None, duration_s=seconds, timeout_s=2.0)
        ok = result.latencies_ok
        rows.append(
            {
                "concurrency": level,
                "pages_per_s": len(ok) / result.wall_s,
                "p50_ms": ms(ok, 50),
                "p99_ms": ms(ok, 99),
                "errors": result.errors,
            }
        )
        print(
            f"  c={level:<3} {rows[-1]['pages_per_s']:7.1f} pages/s  p50 {rows[-1]['p50_ms']:6.1f} ms"
            f"  p99 {rows[-1]['p99_ms']:6.1f} ms  errors {result.errors}",
            flush=True,
        )
    return rows


def best_rate(rows: list[dict], p99_limit_ms: float) -> float:
    return max(
        (row["pages_per_s"] for row in rows if row["p99_ms"] <= p99_limit_ms and not row["errors"]),
        default=0.0,
    )


@contextmanager
def variant(config: SuiteConfig, log: IO[bytes], env: dict[str, str]) -> Iterator[None]:
    """A gateway with `env` added, in place of the suite's (stopped by the caller)."""
    gateway = ServiceProcess("gateway", replace(config, extra_env={**config.extra_env, **env}), log)
    gateway.start()
    try:
        gateway.wait_serving()
        yield
    finally:
        gateway.stop()


def kill_ranker_under_load(suite: Suite, target: str, request: bytes, client: PageClient) -> dict:
    """Drives load for 12 s; kill -9 the ranker at 3 s, restart it at 6 s."""
    ranker = suite.services["ranker"]
    recovery_s: list[float] = []

    def chaos() -> None:
        time.sleep(3)
        ranker.kill()
        time.sleep(3)
        ranker.start()
        ranker.wait_serving()
        restarted = time.monotonic()
        page = [("featured", ["good-will-hunting"])]
        while not client.render_page(VIEWER, page).rows[0].tiles[0].personalized:
            time.sleep(0.02)
        recovery_s.append(time.monotonic() - restarted)

    thread = threading.Thread(target=chaos)
    thread.start()
    result = load(target, request, 4, total=None, duration_s=12, timeout_s=2.0)
    thread.join()
    return {
        "pages": len(result.records),
        "failed": result.errors,
        "p99_ms": ms([r.latency_s for r in result.records], 99),
        "recovery_s": recovery_s[0],
    }


def vw_peer(viewer: np.ndarray) -> tuple[VowpalPeer, list[list[str]]]:
    """The peer and the reference page's examples, formatted before any clock starts."""
    catalog = Catalog(demo_titles(), "")
    ids = [title for _, titles in reference_page() for title in titles]
    _, packed = catalog.candidates(ids)
    entries, _ = catalog.titles(ids)
    artwork = features.unpack(packed, features.ARTWORK_DIM, field="artwork")
    context = features.context_vector(pb.DEVICE_TYPE_TV, 21, 0)
    examples = page_examples(viewer, context, artwork, [len(e.artwork_ids) for e in entries])
    return VowpalPeer(), examples


class Interleaved(NamedTuple):
    floor: list[float]
    render: list[float]
    vw: list[float]


async def interleaved(
    target: str,
    request: bytes,
    floor: Callable[[], object],
    vw: Callable[[], object],
    rounds: int,
    block: int = 10,
) -> Interleaved:
    """`rounds` floor pages and `rounds` RenderPage calls, in turns of `block` of each, and one
    VW page every other turn; every page timed on its own, after a warm-up of each."""
    timings = Interleaved([], [], [])
    options = [("grpc.max_receive_message_length", 64 << 20)]
    async with grpc.aio.insecure_channel(target, options=options) as channel:
        call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(RENDER_PAGE)
        for _ in range(30):
            await call(request, timeout=2.0)
        floor()
        vw()
        for turn in range(-(-rounds // block)):
            timings.floor.extend(timed(floor, block))
            for _ in range(block):
                started = time.perf_counter()
                await call(request, timeout=2.0)
                timings.render.append(time.perf_counter() - started)
            if turn % 2 == 0:
                timings.vw.extend(timed(vw, 1))
    return timings


def host_speed_ms() -> float:
    """A fixed pure-Python loop (a million additions), best of three: how fast the shared
    host runs Python just now, so that absolute figures of different runs can be compared."""

    def loop() -> None:
        total = 0
        for number in range(1_000_000):
            total += number

    return min(timed(loop, 3)) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__)
    parser.add_argument("--seconds", type=float, default=6.0, help="per concurrency level")
    parser.add_argument("--levels", default="1,2,4,6,8,12,16", help="clients, one level each")
    parser.add_argument("--rounds", type=int, default=200, help="pages for floor and p50/p99")
    add_sink_arguments(parser)
    args = parser.parse_args()
    levels = [int(level) for level in args.levels.split(",")]

    model = Path("var/models/bundled.onnx")
    ensure_model(model)
    data_dir = Path(tempfile.mkdtemp(prefix="keyart-bench-"))
    config = local_suite_config(data_dir, model)
    request_message = json_format.ParseDict(reference_request(VIEWER), pb.RenderPageRequest())
    request = request_message.SerializeToString()
    target = config.addresses["gateway"]
    print(
        f"keyart bench {time.strftime('%Y-%m-%d %H:%M')} — reference page 40×40×8, data in {data_dir}"
    )
    print(f"host speed: a million Python additions take {host_speed_ms():.1f} ms")
    with open(data_dir / "services.log", "wb") as log:
        suite = Suite(config, log)
        suite.start()
        try:
            with PageClient(target) as client:
                seed_viewers(client)
                viewer = viewer_vector(config.addresses["profile"], VIEWER)
                floor = InProcessPage(model, {VIEWER: viewer})
                peer, examples = vw_peer(viewer)
                try:
                    turns = asyncio.run(
                        interleaved(
                            target,
                            request,
                            lambda: floor.decide(request_message),
                            lambda: peer.decide(examples),
                            args.rounds,
                        )
                    )
                finally:
                    peer.close()
                floor_ms = statistics.median(turns.floor) * 1000
                p50, p99 = ms(turns.render, 50), ms(turns.render, 99)
                vw_ms = statistics.median(turns.vw) * 1000
                print(
                    f"1. floor (in-process, no RPC): p50 {floor_ms:.2f} ms  p99 {ms(turns.floor, 99):.2f} ms"
                )
                print(
                    f"2. RenderPage, one client, one page at a time: p50 {p50:.2f} ms  p99 {p99:.2f} ms"
                )

                print("3. throughput, 1 gateway worker:")
                one_worker = throughput(target, request, levels, args.seconds)
                gateway = suite.services["gateway"]
                gateway.stop()
                with variant(config, log, {"GATEWAY_WORKERS": "2"}):
                    load(target, request, 2, total=30)
                    print("   throughput, 2 gateway workers (SO_REUSEPORT):")
                    two_workers = throughput(target, request, levels, args.seconds)
                with variant(config, log, {"GATEWAY_WORKERS": "2", "GATEWAY_LOG_DIR": ""}):
                    load(target, request, 2, total=30)
                    print("   throughput, 2 gateway workers, impression log off (its cost):")
                    unlogged = throughput(target, request, levels, args.seconds)
                gateway.start()
                gateway.wait_serving()
                rows = one_worker + two_workers
                print(
                    "   with the impression log off, highest rate with p99 ≤ "
                    f"{DEFAULT_BUDGET_MS} ms: {best_rate(unlogged, DEFAULT_BUDGET_MS):.1f} pages/s"
                )
                max_rate = best_rate(rows, DEFAULT_BUDGET_MS)
                rate_50 = best_rate(rows, 50)
                print(
                    f"   highest rate with p99 ≤ {DEFAULT_BUDGET_MS} ms (default budget) and no errors: "
                    f"{max_rate:.1f} pages/s; with p99 ≤ 50 ms: {rate_50:.1f} pages/s"
                )

                print(
                    f"4. Vowpal Wabbit cb_explore_adf -q UA, in-process: {vw_ms:.2f} ms per page "
                    f"(median of {len(turns.vw)}, timed in turns with 1 and 2)"
                )
                print(
                    f"5. ratios: RenderPage p50 / floor = {p50 / floor_ms:.2f}; "
                    f"VW page / RenderPage p50 = {vw_ms / p50:.2f}"
                )
                killed = kill_ranker_under_load(suite, target, request, client)
                print(
                    f"6. ranker killed mid-run: {killed['pages']} pages, {killed['failed']} failed, "
                    f"p99 {killed['p99_ms']:.1f} ms (budget {DEFAULT_BUDGET_MS}), personalized again "
                    f"{killed['recovery_s']:.2f} s after the restart"
                )
                print(f"7. NATS JetStream sink beside the file sink (window {args.window}):")
                sinks = compare_sinks(suite, config, data_dir, log, request, sink_options(args))
        finally:
            suite.stop()
    print(f"host speed at the end: a million Python additions take {host_speed_ms():.1f} ms")
    print(
        f"summary: floor_ms={floor_ms:.3f} p50_ms={p50:.3f} p99_ms={p99:.3f} "
        f"ratio_p50_floor={p50 / floor_ms:.3f} max_pages_per_s={max_rate:.1f} "
        f"vw_page_ms={vw_ms:.3f} vw_ratio={vw_ms / p50:.3f} "
        f"ranker_killed_failed_pages={killed['failed']} {sinks.summary()}"
    )


if __name__ == "__main__":
    main()
