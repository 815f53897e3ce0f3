"""GATEWAY_LOG_SINK=nats://…: the real suite logging to a real nats-server with JetStream."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import nats
import orjson
import pytest
from keyart.gateway.v1 import gateway_service_pb2 as pb
from nats.js.errors import NotFoundError

from common.features import CONTEXT_DIM, SCHEMA_VERSION, VIEWER_DIM
from common.log_schema import SCHEMA, PageImpression, feedback_from_record
from demo.pages import demo_page
from suite.client import PageClient
from suite.supervisor import Suite
from tests.e2e.stream_suite import nats_suite_config
from tests.nats_server import NatsServer

IMPRESSIONS, FEEDBACK = "KEYART_IMPRESSIONS", "KEYART_FEEDBACK"


async def _stream_messages(url: str, stream: str) -> list[tuple[dict[str, str], dict]]:
    client = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0)
    try:
        js = client.jetstream()
        try:
            last = (await js.stream_info(stream)).state.last_seq
        except NotFoundError:  # the gateway has not created it yet
            return []
        found = []
        for seq in range(1, last + 1):
            message = await js.get_msg(stream, seq)
            found.append((dict(message.headers or {}), orjson.loads(message.data or b"")))
        return found
    finally:
        await client.close()


def stream_messages(nats_server: NatsServer, stream: str) -> list[tuple[dict[str, str], dict]]:
    """Every message of `stream`, read back from the broker: (headers, record)."""
    return asyncio.run(_stream_messages(nats_server.url, stream))


def page_ids_in_stream(nats_server: NatsServer) -> list[str]:
    return [record["page_id"] for _, record in stream_messages(nats_server, IMPRESSIONS)]


def wait_until(check: object, what: str, timeout_s: float = 15.0) -> None:
    end = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        assert time.monotonic() < end, f"{what} within {timeout_s} s"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def stream_suite(
    nats_server: NatsServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, PageClient]]:
    """The four services, the gateway logging to the stream: its log directory and a client.
    The gateway starts with the broker down (the first test brings it up)."""
    data_dir = tmp_path_factory.mktemp("stream-suite")
    config = nats_suite_config(
        data_dir,
        nats_server.url,
        GATEWAY_NATS_PUBLISH_TIMEOUT_S="1",
        GATEWAY_NATS_PUBLISH_WINDOW="16",
    )
    nats_server.stop()
    with open(data_dir / "services.log", "wb") as log:
        suite = Suite(config, log)
        suite.start()
        with PageClient(config.addresses["gateway"]) as client:
            yield data_dir / "logs", client
        assert suite.stop()["gateway"] == 0


def play(client: PageClient, event_id: str) -> pb.ReportEventResponse:
    return client.report_event(
        user_id="stream-viewer",
        title_id="good-will-hunting",
        kind=pb.EVENT_KIND_QUALIFIED_PLAY,
        event_id=event_id,
    )


def test_a_gateway_started_with_the_broker_down_serves_and_connects_once_it_is_up(
    stream_suite: tuple[Path, PageClient], nats_server: NatsServer
) -> None:
    _, client = stream_suite  # started, SERVING, without a broker
    early = client.render_page("stream-viewer", demo_page()).page_id
    with pytest.raises(grpc.RpcError) as refused:
        play(client, "stream-event-early")
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "is not connected" in (refused.value.details() or "")
    nats_server.start()
    wait_until(lambda: early in page_ids_in_stream(nats_server), "the early page replayed", 30)
    wait_until(lambda: _acknowledged(client, "stream-event-early"), "ReportEvent answering")


def _acknowledged(client: PageClient, event_id: str) -> bool:
    try:
        play(client, event_id)
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.UNAVAILABLE
        return False
    return True


def test_a_page_is_one_standalone_message_in_the_impression_stream(
    stream_suite: tuple[Path, PageClient], nats_server: NatsServer
) -> None:
    _, client = stream_suite
    page = client.render_page("stream-viewer", demo_page())
    wait_until(lambda: page.page_id in page_ids_in_stream(nats_server), "page in the stream")
    headers, record = next(
        (headers, record)
        for headers, record in stream_messages(nats_server, IMPRESSIONS)
        if record["page_id"] == page.page_id
    )
    assert headers["Nats-Msg-Id"] == page.page_id
    assert (headers["Keyart-Schema"], headers["Keyart-Kind"]) == (SCHEMA, "impressions")
    assert headers["Keyart-Feature-Schema"] == SCHEMA_VERSION
    logged = PageImpression.from_record(record, VIEWER_DIM, CONTEXT_DIM)  # no earlier records
    assert logged.user_id == "stream-viewer"
    shown = {tile.title_id: tile.artwork_id for row in page.rows for tile in row.tiles}
    assert {tile.title_id: tile.candidate_ids[tile.chosen] for tile in logged.tiles} == shown


def test_an_acknowledged_event_is_in_the_stream_once_however_often_it_is_sent(
    stream_suite: tuple[Path, PageClient], nats_server: NatsServer
) -> None:
    _, client = stream_suite
    play(client, "stream-event-1")
    assert play(client, "stream-event-1").duplicate is True  # a client's retry
    stored = [
        (headers, record)
        for headers, record in stream_messages(nats_server, FEEDBACK)
        if record["event_id"] == "stream-event-1"
    ]
    assert len(stored) == 1
    headers, record = stored[0]
    assert headers["Nats-Msg-Id"] == "stream-event-1"
    event = feedback_from_record(record)
    assert (event.title_id, event.kind) == ("good-will-hunting", pb.EVENT_KIND_QUALIFIED_PLAY)


def test_with_the_broker_down_pages_render_and_spill_then_replay_when_it_returns(
    stream_suite: tuple[Path, PageClient], nats_server: NatsServer
) -> None:
    logs, client = stream_suite
    nats_server.stop()
    pages = [client.render_page("stream-viewer", demo_page()).page_id for _ in range(5)]
    assert len(pages) == 5  # every page rendered (a failed one would have raised)
    with pytest.raises(grpc.RpcError) as refused:
        play(client, "stream-event-down")
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "retry with the same event_id" in (refused.value.details() or "")
    wait_until(lambda: list((logs / "spill").glob("impressions-*.jsonl")), "a spill file")

    nats_server.start()  # the same store directory: the streams and their messages are back
    wait_until(
        lambda: set(pages) <= set(page_ids_in_stream(nats_server)), "spilled pages replayed", 30
    )
    assert len(page_ids_in_stream(nats_server)) == len(set(page_ids_in_stream(nats_server)))
    wait_until(lambda: not list((logs / "spill").glob("*.jsonl")), "spill files deleted")
    # The retry is acknowledged now ("duplicate" is the profile's word: it had applied it).
    assert play(client, "stream-event-down").duplicate is True
    stored = [r for _, r in stream_messages(nats_server, FEEDBACK)]
    assert [r["event_id"] for r in stored].count("stream-event-down") == 1


def test_a_broker_stopped_mid_burst_loses_no_page_and_doubles_none(
    stream_suite: tuple[Path, PageClient], nats_server: NatsServer
) -> None:
    """With 16 publishes in flight, the pages whose acks never come are spilled and replayed:
    each page id is in the stream exactly once."""
    logs, client = stream_suite
    served: list[str] = []
    stop_after, burst = 20, 80
    stopped = threading.Event()

    def render(_: int) -> None:
        served.append(client.render_page("stream-viewer", demo_page()).page_id)
        if len(served) >= stop_after and not stopped.is_set():
            stopped.set()
            nats_server.stop()

    with ThreadPoolExecutor(4) as clients:
        list(clients.map(render, range(burst)))
    assert stopped.is_set() and len(served) == burst
    nats_server.start()
    wait_until(lambda: set(served) <= set(page_ids_in_stream(nats_server)), "burst stored", 60)
    wait_until(lambda: not list((logs / "spill").glob("*.jsonl")), "spill files deleted")
    counts = Counter(page_ids_in_stream(nats_server))
    assert {page_id: counts[page_id] for page_id in served} == dict.fromkeys(served, 1)
