"""`keyart run-scaled`'s shape (suite/scaled.py, the code the command runs) under load while one
replica of each service is killed with SIGKILL: no page fails beyond those retried on the other
gateway, and every acknowledged ReportEvent is in the NATS feedback stream exactly once and,
through the collector, in the dataset exactly once."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import grpc
import nats
import orjson
import pytest
from keyart.gateway.v1 import gateway_service_pb2 as pb

from cli.run_scaled import fresh_data_dir
from common.storage import Location
from demo.pages import demo_page
from learning.parquet_layout import FEEDBACK as FEEDBACK_TABLE
from learning.parquet_layout import parts, read_part
from suite.client import PageClient
from suite.scaled import ScaledSuite, scaled_suite

CLIENTS = 3
WARMUP_S = 4.0  # load before the first kill
BETWEEN_KILLS_S = 4.0
AFTER_KILLS_S = 6.0  # load after the last kill: the survivors carry it alone
ATTEMPTS = 6  # per call, alternating gateways
VIEWERS = ("romance-fan", "comedy-fan", "scaled-viewer")
FEEDBACK = "KEYART_FEEDBACK"
COLLECT_WAIT_S = 60.0  # the collector commits every COLLECT_FLUSH_S (10 s)

Answer = TypeVar("Answer")


@pytest.fixture(scope="module")
def scaled() -> Iterator[ScaledSuite]:
    data_dir = fresh_data_dir()
    try:
        with scaled_suite(data_dir) as suite:
            yield suite
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


@dataclass
class LoadTally:
    pages: int = 0
    degraded_pages: int = 0
    retried_calls: int = 0  # calls answered UNAVAILABLE once or more, then answered by a gateway
    failed: list[str] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)  # event ids
    lock: threading.Lock = field(default_factory=threading.Lock)


class GatewayPair:
    """One client's channels to both gateways, picked round-robin; UNAVAILABLE moves the
    call to the other one (ReportEvent keeps its event_id, so a retry is the same event)."""

    def __init__(self, addresses: list[str]) -> None:
        self._clients = [PageClient(address, timeout_s=5.0) for address in addresses]
        self._next = 0

    def call(self, tally: LoadTally, request: Callable[[PageClient], Answer]) -> Answer | None:
        for attempt in range(ATTEMPTS):
            client = self._clients[self._next % len(self._clients)]
            self._next += 1
            try:
                answer = request(client)
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.UNAVAILABLE or attempt == ATTEMPTS - 1:
                    with tally.lock:
                        tally.failed.append(f"{error.code().name}: {error.details()}")
                    return None
                time.sleep(0.05)
                continue
            if attempt:
                with tally.lock:
                    tally.retried_calls += 1
            return answer
        return None

    def close(self) -> None:
        for client in self._clients:
            client.close()


def one_page_and_event(pair: GatewayPair, tally: LoadTally, viewer: str) -> None:
    page = pair.call(tally, lambda client: client.render_page(viewer, demo_page()))
    if page is None:
        return
    with tally.lock:
        tally.pages += 1
        tally.degraded_pages += bool(page.degradations)
    tile = page.rows[0].tiles[0]
    event_id = uuid.uuid4().hex
    acknowledged = pair.call(
        tally,
        lambda client: client.report_event(
            user_id=viewer,
            title_id=tile.title_id,
            artwork_id=tile.artwork_id,
            page_id=page.page_id,
            kind=pb.EVENT_KIND_QUALIFIED_PLAY,
            event_id=event_id,
        ),
    )
    if acknowledged is not None:
        with tally.lock:
            tally.acknowledged.append(event_id)


def load(addresses: list[str], tally: LoadTally, viewer: str, stop: threading.Event) -> None:
    pair = GatewayPair(addresses)
    try:
        while not stop.is_set():
            one_page_and_event(pair, tally, viewer)
    finally:
        pair.close()


async def _feedback_event_ids(url: str) -> Counter[str]:
    client = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0)
    try:
        js = client.jetstream()
        info = await js.stream_info(FEEDBACK)
        seen: Counter[str] = Counter()
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            message = await js.get_msg(FEEDBACK, seq)
            seen[orjson.loads(message.data or b"")["event_id"]] += 1
        return seen
    finally:
        await client.close()


def test_killing_one_replica_of_each_service_loses_no_page_and_no_event(
    scaled: ScaledSuite,
) -> None:
    gateways = scaled.layout.addresses["gateway"]
    tally = LoadTally()
    stop = threading.Event()
    clients = [
        threading.Thread(target=load, args=(gateways, tally, VIEWERS[i % len(VIEWERS)], stop))
        for i in range(CLIENTS)
    ]
    for client in clients:
        client.start()
    killed = []
    try:
        time.sleep(WARMUP_S)
        for name in ("profile-0", "artwork-0", "ranker-0", "gateway-0"):
            scaled.processes[name].kill()
            killed.append(name)
            time.sleep(BETWEEN_KILLS_S)
        time.sleep(AFTER_KILLS_S - BETWEEN_KILLS_S)
    finally:
        stop.set()
        for client in clients:
            client.join(30)

    seen = asyncio.run(_feedback_event_ids(scaled.engines.nats.url))
    counts = Counter(seen[event_id] for event_id in tally.acknowledged)
    print(
        f"summary: pages={tally.pages} degraded_pages={tally.degraded_pages} "
        f"retried_calls={tally.retried_calls} failed={len(tally.failed)} "
        f"acknowledged_events={len(tally.acknowledged)} in_stream_once={counts[1]} "
        f"missing={counts[0]} duplicated={sum(n for c, n in counts.items() if c > 1)}"
    )
    assert killed == ["profile-0", "artwork-0", "ranker-0", "gateway-0"]
    assert sorted(scaled.exited()) == sorted(killed)  # the other replicas kept running
    assert tally.failed == []
    assert tally.pages > 20 and len(tally.acknowledged) > 20
    assert tally.retried_calls > 0  # the killed gateway was really in use
    assert counts == Counter({1: len(tally.acknowledged)})
    # The collector (running all along) puts each of them in the dataset once.
    collected = collected_event_ids(scaled, set(tally.acknowledged))
    assert Counter(collected[event_id] for event_id in tally.acknowledged) == Counter(
        {1: len(tally.acknowledged)}
    )


def collected_event_ids(scaled: ScaledSuite, expected: set[str]) -> Counter[str]:
    """The dataset's feedback event ids, once it holds every one of `expected` (or after
    COLLECT_WAIT_S, whatever it holds then)."""
    end = time.monotonic() + COLLECT_WAIT_S
    while True:
        found: Counter[str] = Counter()
        for path in parts(Location.local(scaled.layout.dataset), FEEDBACK_TABLE):
            found.update(read_part(path, ["event_id"]).column(0).to_pylist())
        if expected <= found.keys() or time.monotonic() > end:
            return found
        time.sleep(0.5)
