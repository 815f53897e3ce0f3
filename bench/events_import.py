"""Viewer history import speed: events per second into each profile store.

Generated events (every kind, the demo titles' genres and cast, many viewers) are
applied two ways: through the real profile server over gRPC (ApplyEvents, as
`keyart events import` sends them once the file is checked), and in process,
straight into the store's apply_batch. SQLite always; Redis when redis-server is
on PATH. Each figure is the median of --runs fresh stores. Last line:
`summary: sqlite_events_per_s=… redis_events_per_s=… …`.

    python -m bench.events_import [--events 200000 --viewers 5000 --batch 1000 --runs 3]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import grpc
from keyart.profile.v1 import profile_service_pb2_grpc

from cli.events import send_events
from common.events import FeedbackEvent
from demo.catalog import demo_titles
from services.profile.redis_store import RedisProfileStore
from services.profile.sqlite_store import SqliteProfileStore
from services.profile.store import ProfileStore
from services.profile.taste import Decay
from suite.supervisor import ServiceProcess, local_suite_config
from tests.redis_server import RedisServer

START_MS = 1_780_000_000_000
HALF_LIFE = Decay(90.0)


def generated_events(count: int, viewers: int, seed: int = 16) -> list[FeedbackEvent]:
    """`count` events of every kind over `viewers` viewers and the demo titles, a few weeks."""
    rng = random.Random(seed)
    titles = demo_titles()
    return [
        FeedbackEvent(
            event_id=f"bench-{i}",
            user_id=f"viewer-{rng.randrange(viewers)}",
            page_id="",
            title_id=(title := rng.choice(titles)).title_id,
            artwork_id="",
            kind=rng.choice((1, 2, 3, 4, 4)),
            occurred_at_ms=START_MS + rng.randrange(30 * 86_400_000),
            genres=title.genres,
            cast=title.cast,
        )
        for i in range(count)
    ]


def in_process_rate(store: ProfileStore, events: list[FeedbackEvent], batch: int) -> float:
    started = time.perf_counter()
    for start in range(0, len(events), batch):
        store.apply_batch(events[start : start + batch])
    rate = len(events) / (time.perf_counter() - started)
    store.close()
    return rate


def server_rate(
    data_dir: Path, env: dict[str, str], events: list[FeedbackEvent], batch: int
) -> float:
    """Events/s through a real profile process over gRPC, from the first request to the answer."""
    config = local_suite_config(data_dir, data_dir / "unused.onnx")
    config = replace(config, extra_env={**config.extra_env, **env})
    with open(data_dir / "profile.log", "wb") as log:
        profile = ServiceProcess("profile", config, log)
        profile.start()
        try:
            profile.wait_serving()
            with grpc.insecure_channel(profile.address) as channel:
                stub = profile_service_pb2_grpc.ProfileServiceStub(channel)
                started = time.perf_counter()
                response = send_events(stub, events, batch)
                elapsed = time.perf_counter() - started
        finally:
            profile.stop()
    if response.applied_count != len({event.event_id for event in events}):
        raise RuntimeError(f"applied {response.applied_count} of {len(events)} events")
    return len(events) / elapsed


def median_of(runs: int, measure: Callable[[Path], float]) -> float:
    rates = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="keyart-bench-events-") as data_dir:
            rates.append(measure(Path(data_dir)))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--viewers", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    events = generated_events(args.events, args.viewers)
    print(
        f"{len(events)} events, {args.viewers} viewers, batches of {args.batch}, median of {args.runs}"
    )
    figures: dict[str, float] = {}
    figures["sqlite_events_per_s"] = median_of(
        args.runs,
        lambda tmp: server_rate(tmp, {"PROFILE_DB": str(tmp / "p.db")}, events, args.batch),
    )
    figures["sqlite_store_events_per_s"] = median_of(
        args.runs,
        lambda tmp: in_process_rate(
            SqliteProfileStore(str(tmp / "p.db"), HALF_LIFE), events, args.batch
        ),
    )
    binary = shutil.which("redis-server")
    if binary is None:
        print("redis: skipped (no redis-server on PATH)")
    else:
        with tempfile.TemporaryDirectory(prefix="keyart-bench-redis-") as redis_dir:
            redis = RedisServer(binary, Path(redis_dir))
            try:

                def fresh_redis(measure: Callable[[Path], float]) -> Callable[[Path], float]:
                    def run(tmp: Path) -> float:
                        redis.flush()
                        return measure(tmp)

                    return run

                figures["redis_events_per_s"] = median_of(
                    args.runs,
                    fresh_redis(
                        lambda tmp: server_rate(
                            tmp, {"PROFILE_STORE": redis.url}, events, args.batch
                        )
                    ),
                )
                figures["redis_store_events_per_s"] = median_of(
                    args.runs,
                    fresh_redis(
                        lambda tmp: in_process_rate(
                            RedisProfileStore(redis.url, HALF_LIFE), events, args.batch
                        )
                    ),
                )
            finally:
                redis.stop()
    order = ("sqlite_events_per_s", "redis_events_per_s", "sqlite_store_events_per_s")
    names = sorted(figures, key=lambda name: order.index(name) if name in order else len(order))
    for name in names:
        print(f"{name}: {figures[name]:,.0f}")
    print("summary: " + " ".join(f"{name}={figures[name]:.0f}" for name in names))


if __name__ == "__main__":
    main()
