"""The learning pipeline under load and faults: two gateways → NATS JetStream → the collector.

While clients render reference pages and report a qualified play of each
(retrying on the other gateway, with the same event id, when one answers
UNAVAILABLE or is gone), nats-server, the collector and one gateway are each
killed with SIGKILL and started again. Once the dataset stops growing, every
acknowledged event must be in it exactly once, no page may have failed on
both gateways, no decision may be doubled, and no impression of the gateway
never killed may be missing. Pages the killed gateway held in memory are
counted as missing impressions (docs/collector.md), not as a failure.
catch_up_s: from the end of the load until the dataset last grew.
Prints `summary: acked=… lost=… doubled=… pages_failed=… catch_up_s=…`;
`make chaos` runs it longer.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import grpc
import pytest
from keyart.gateway.v1 import gateway_service_pb2 as pb

from demo.pages import reference_page
from suite.client import PageClient
from suite.supervisor import ServiceProcess, Suite, SuiteConfig, free_address, status_mib
from tests.chaos import scaled
from tests.e2e.stream_suite import CollectorProcess, nats_suite_config
from tests.e2e.test_collector import dataset_rows
from tests.e2e.test_event_stream import wait_until
from tests.nats_server import NatsServer

CLIENTS = 2
RETRY_FOR_S = 60.0  # an event is retried this long (both gateways, the broker away) before failing
VIEWERS = ("romance-fan", "comedy-fan", "chaos-viewer")


@dataclass
class Ledger:
    """What the clients saw: pages served (page id → titles on it, the gateway that served it:
    0 or 1, the one killed), events acknowledged, failures."""

    served: dict[str, tuple[int, int]] = field(default_factory=dict)
    acked: list[str] = field(default_factory=list)
    pages_failed: int = 0
    events_failed: int = 0
    retried: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def settled(dataset: Path, quiet_s: float) -> float:
    """When the dataset's decisions last grew, once they have not for `quiet_s`: the gateways'
    backlogs and spills are published and the collector has caught up."""
    last_count, last_change = -1, time.monotonic()
    while time.monotonic() - last_change < quiet_s:
        count = sum(dataset_rows(dataset)[0].values())
        if count != last_count:
            last_count, last_change = count, time.monotonic()
        time.sleep(1.0)
    return last_change


def _second_gateway(config: SuiteConfig, data_dir: Path) -> ServiceProcess:
    """Another gateway on the same backends and broker, with its own port, logs and spill."""
    env = {
        **config.extra_env,
        "GATEWAY_LOG_DIR": str(data_dir / "logs-gateway-1"),
        "GATEWAY_METRICS_ADDRESS": free_address(),
    }
    addresses = {**config.addresses, "gateway": free_address()}
    return ServiceProcess("gateway", replace(config, addresses=addresses, extra_env=env))


@contextmanager
def two_gateways(nats: NatsServer, data_dir: Path) -> Iterator[tuple[Suite, ServiceProcess]]:
    config = nats_suite_config(data_dir, nats.url, GATEWAY_NATS_PUBLISH_TIMEOUT_S="1")
    with open(data_dir / "services.log", "wb") as log:
        suite = Suite(config, log)
        suite.start()
        second = _second_gateway(config, data_dir)
        second.start()
        second.wait_serving()
        try:
            yield suite, second
        finally:
            second.stop()
            suite.stop()


def _report(clients: list[PageClient], first: int, event: dict, ledger: Ledger) -> bool:
    """Reports the event, moving to the other gateway on UNAVAILABLE, until acknowledged."""
    end = time.monotonic() + RETRY_FOR_S
    attempt = first
    while time.monotonic() < end:
        try:
            clients[attempt % 2].report_event(**event)
            return True
        except grpc.RpcError as error:
            if error.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise
            with ledger.lock:
                ledger.retried += 1
            attempt += 1
            time.sleep(0.05 if attempt % 2 else 0.5)
    return False


def _render(
    clients: list[PageClient], first: int, viewer: str, ledger: Ledger
) -> tuple[pb.RenderPageResponse, int] | None:
    """The page and the gateway that served it, or None when both failed."""
    for attempt in (first, first + 1):
        try:
            page = clients[attempt % 2].render_page(viewer, reference_page(), budget_ms=1000)
            return page, attempt % 2
        except grpc.RpcError as error:
            if error.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise
            with ledger.lock:
                ledger.retried += 1
    return None


def _client_loop(targets: list[str], number: int, stop: threading.Event, ledger: Ledger) -> None:
    clients = [PageClient(target) for target in targets]
    n = 0
    try:
        while not stop.is_set():
            first = number + n
            viewer = VIEWERS[first % len(VIEWERS)]
            served = _render(clients, first, viewer, ledger)
            if served is None:
                with ledger.lock:
                    ledger.pages_failed += 1
                continue
            page, gateway = served
            tile = page.rows[0].tiles[0]
            event_id = f"chaos-{number}-{n}"
            event = {
                "user_id": viewer,
                "title_id": tile.title_id,
                "kind": pb.EVENT_KIND_QUALIFIED_PLAY,
                "event_id": event_id,
                "artwork_id": tile.artwork_id,
                "page_id": page.page_id,
            }
            titles = len({t.title_id for row in page.rows for t in row.tiles})
            acked = _report(clients, first, event, ledger)
            with ledger.lock:
                ledger.served[page.page_id] = (titles, gateway)
                if acked:
                    ledger.acked.append(event_id)
                else:
                    ledger.events_failed += 1
            n += 1
    finally:
        for client in clients:
            client.close()


@pytest.mark.timeout(scaled(300, 1800))  # the collector's catch-up after minutes of load
def test_kill_9_of_nats_the_collector_and_a_gateway_loses_and_doubles_nothing(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    dataset = tmp_path / "dataset"
    ledger = Ledger()
    stop = threading.Event()
    settle_s = scaled(3.0, 15.0)
    rounds = int(scaled(1, 3))
    with contextlib.ExitStack() as stack:
        suite, second = stack.enter_context(two_gateways(nats_server, tmp_path))
        targets = [suite.config.addresses["gateway"], second.address]
        collector = stack.enter_context(CollectorProcess(nats_server.url, dataset, tmp_path, 0.5))
        threads = [
            threading.Thread(target=_client_loop, args=(targets, i, stop, ledger))
            for i in range(CLIENTS)
        ]
        for thread in threads:
            thread.start()
        try:
            for _ in range(rounds):
                time.sleep(settle_s)
                assert nats_server.process is not None
                nats_server.process.send_signal(signal.SIGKILL)
                nats_server.process.wait()
                time.sleep(2.0)
                nats_server.start()
                time.sleep(settle_s)
                collector.kill_and_restart(down_s=1.0)
                time.sleep(settle_s)
                second.kill()
                time.sleep(1.0)
                second.start()
                second.wait_serving()
            time.sleep(settle_s)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        stopped = time.monotonic()
        wait_until(
            lambda: set(ledger.acked) <= set(dataset_rows(dataset)[1]),
            "every acknowledged event in the dataset",
            timeout_s=scaled(180, 1200),
        )
        catch_up_s = settled(dataset, quiet_s=10.0) - stopped
        wait_until(collector.reading, "the collector reading")
        collector_peak_mib = status_mib(collector.process.pid, "VmHWM")
        assert collector.stop() == 0

    pages, events = dataset_rows(dataset)
    lost = [event for event in ledger.acked if events[event] == 0]
    doubled = [e for e, n in events.items() if n > 1] + [
        page for page, (titles, _) in ledger.served.items() if pages[page] > titles
    ]
    missing = Counter(gateway for page, (_, gateway) in ledger.served.items() if not pages[page])
    partial = [p for p, (titles, _) in ledger.served.items() if 0 < pages[p] < titles]
    print(
        f"\npipeline chaos: {len(ledger.served)} pages served on 2 gateways, "
        f"{ledger.retried} calls retried on the other gateway, {ledger.events_failed} events "
        f"never acknowledged; pages whose impressions are missing: {missing[1]} of the killed "
        f"gateway, {missing[0]} of the other; "
        f"the last collector's peak RSS {collector_peak_mib:.0f} MiB"
    )
    print(
        f"summary: acked={len(ledger.acked)} lost={len(lost)} doubled={len(doubled)} "
        f"pages_failed={ledger.pages_failed} catch_up_s={catch_up_s:.1f}"
    )
    assert len(ledger.acked) > 10
    assert lost == [] and doubled == [] and partial == []
    assert ledger.pages_failed == 0 and ledger.events_failed == 0
    assert missing[0] == 0  # the gateway never killed lost no impression
    # The killed one loses what it held in memory: its buffer and its spill writer's queue.
    assert missing[1] <= 2 * 256 * rounds
