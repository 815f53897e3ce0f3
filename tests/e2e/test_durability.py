"""Acknowledged events survive kill -9 and count exactly once; the learning logs stay whole.

Events stream in through the gateway's ReportEvent while the profile process
(or the gateway) is killed with SIGKILL again and again; the client retries
each event with the same event_id until it is acknowledged. The profile store is
read the documented way: the SQLite file opened read-only (here while the
process is dead or stopped); the gateway's logs with common.segment_log.read_records.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from keyart.gateway.v1 import gateway_service_pb2 as pb

from common.log_schema import FEEDBACK, IMPRESSIONS
from common.segment_log import read_records
from services.profile.sqlite_layout import Affinities
from services.profile.taste import EVENT_WEIGHTS
from suite.client import PageClient
from tests.chaos import VIEWER, ProxiedSuite, background_load, proxied_suite, render_plan, scaled
from tests.e2e.delay_proxy import DelayProxy

TITLE = "good-will-hunting"  # genres: drama, romance
KILLS = 20
# One timestamp for every event: nothing decays between them, so a genre's weight is a count.
OCCURRED_AT = datetime(2026, 1, 1, tzinfo=UTC)
RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


@pytest.fixture(scope="module")
def durable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxiedSuite]:
    with proxied_suite(tmp_path_factory.mktemp("durability")) as running:
        yield running


def profile_db(running: ProxiedSuite) -> Path:
    return Path(running.config.extra_env["PROFILE_DB"])


def read_profile(path: Path, user_id: str) -> tuple[list[str], int, float]:
    """(event ids stored, the viewer's event_count, the viewer's drama weight), read-only."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        ids = [
            row[0]
            for row in db.execute("SELECT event_id FROM events WHERE user_id = ?", (user_id,))
        ]
        row = db.execute(
            "SELECT event_count, affinity_names, weights, updated_ms FROM viewers "
            "WHERE user_id = ?",
            (user_id,),
        ).fetchone()
    if row is None:
        return ids, 0, 0.0
    return ids, row[0], Affinities.unpack(*row[1:]).get("genre:drama", (0.0, 0))[0]


def report(client: PageClient, user_id: str, event_id: str) -> bool:
    """One attempt; True when the gateway acknowledged the event (new or duplicate)."""
    try:
        client.report_event(
            event_id=event_id,
            user_id=user_id,
            title_id=TITLE,
            kind=pb.EVENT_KIND_QUALIFIED_PLAY,
            occurred_at=OCCURRED_AT,
        )
    except grpc.RpcError as error:
        if error.code() not in RETRYABLE:
            raise
        return False
    return True


def report_until_acknowledged(client: PageClient, user_id: str, event_id: str) -> int:
    """Retries with the same event_id until acknowledged; returns how many retries it took."""
    retries = 0
    while not report(client, user_id, event_id):
        retries += 1
        time.sleep(0.02)
    return retries


class EventStream:
    """Sends events one after another, each retried with its event_id until acknowledged."""

    def __init__(self, target: str, user_id: str) -> None:
        self.user_id = user_id
        self.acknowledged: list[str] = []
        self.retries = 0
        self._client = PageClient(target, timeout_s=2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def __enter__(self) -> EventStream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._client.close()

    def _run(self) -> None:
        sent = 0
        while not self._stop.is_set():
            event_id = f"{self.user_id}-{sent:06}"
            self.retries += report_until_acknowledged(self._client, self.user_id, event_id)
            self.acknowledged.append(event_id)
            sent += 1


def test_kill_9_of_the_profile_service_loses_no_acknowledged_event(durable: ProxiedSuite) -> None:
    profile = durable.suite.services["profile"]
    db = profile_db(durable)
    user_id = "kill-9-viewer"
    with EventStream(durable.gateway, user_id) as stream:
        for kill in range(KILLS):
            time.sleep(0.2)
            profile.kill()
            acknowledged = set(stream.acknowledged)  # every ack so far was sent before the kill
            stored, count, weight = read_profile(db, user_id)
            assert acknowledged <= set(stored), f"kill {kill + 1}: acknowledged events lost"
            assert (
                count == len(stored)
                and weight == len(stored) * EVENT_WEIGHTS[pb.EVENT_KIND_QUALIFIED_PLAY]
            )
            profile.start()
            profile.wait_serving()
    assert profile.stop() == 0
    stored, count, weight = read_profile(db, user_id)
    print(
        f"\n{KILLS} kill -9 of profile: {len(stream.acknowledged)} events acknowledged, "
        f"{len(stored)} stored, {stream.retries} retries, event_count {count}, drama weight {weight}"
    )
    profile.start()
    profile.wait_serving()
    assert sorted(stored) == stream.acknowledged  # exactly the acknowledged events, each once
    assert count == len(stored) and weight == float(len(stored))  # applied once each
    assert stream.retries > 0  # the kills did hit events in flight


def test_retry_after_a_deadline_exceeded_write_counts_once(durable: ProxiedSuite) -> None:
    """The write happens but its acknowledgement is late: the client's retry is a duplicate."""
    user_id = "deadline-viewer"
    event_id = "deadline-viewer-event"
    with (
        DelayProxy(durable.gateway) as slow_replies,
        PageClient(slow_replies.address, timeout_s=0.3) as slow,
    ):
        report_until_acknowledged(slow, user_id, "warm-up")  # connections up before replies slow
        slow_replies.delay_s = (
            0.6  # the response path only: the request reaches the gateway at once
        )
        with pytest.raises(grpc.RpcError) as late:
            slow.report_event(
                event_id=event_id,
                user_id=user_id,
                title_id=TITLE,
                kind=pb.EVENT_KIND_QUALIFIED_PLAY,
                occurred_at=OCCURRED_AT,
            )
        time.sleep(0.6)  # the gateway's late answer has gone out: the write is done
    assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    retried = [
        durable.client.report_event(
            event_id=event_id,
            user_id=user_id,
            title_id=TITLE,
            kind=pb.EVENT_KIND_QUALIFIED_PLAY,
            occurred_at=OCCURRED_AT,
        ).duplicate
        for _ in range(3)
    ]
    assert retried == [True, True, True]  # the timed-out call had written it
    profile = durable.suite.services["profile"]
    assert profile.stop() == 0
    stored, count, weight = read_profile(profile_db(durable), user_id)
    profile.start()
    profile.wait_serving()
    assert (sorted(stored), count, weight) == ([event_id, "warm-up"], 2, 2.0)


def logged(directory: Path, kind: str, key: str, user_id: str) -> list[str]:
    """`key` of `user_id`'s records in the gateway's `kind` log; CorruptSegment on damage."""
    return [
        record[key]
        for record in read_records(directory, kind)
        if record["type"] != "header" and record["user_id"] == user_id
    ]


def test_kill_9_of_the_gateway_keeps_the_learning_logs_whole(durable: ProxiedSuite) -> None:
    """Feedback is fsynced before it is acknowledged, so every acknowledged event is in the
    log (at least once; readers count an event_id once). Impressions are not waited for: a
    kill may lose the pages in flight, but never leaves a damaged or doubled record."""
    gateway = durable.suite.services["gateway"]
    logs = durable.config.data_dir / "logs"
    kills = int(scaled(5, 20))
    plan = render_plan(durable.gateway, 250, kills * 1.5, retry=True)
    viewer = "log-viewer"
    with background_load(plan) as pages, EventStream(durable.gateway, viewer) as stream:
        for kill in range(kills):
            time.sleep(0.3)
            gateway.kill()
            acknowledged = set(stream.acknowledged)
            assert acknowledged <= set(logged(logs, FEEDBACK, "event_id", viewer)), (
                f"kill {kill + 1}"
            )
            page_ids = logged(logs, IMPRESSIONS, "page_id", VIEWER)
            assert len(page_ids) == len(set(page_ids))
            gateway.start()
            gateway.wait_serving()
    assert gateway.stop() == 0  # drains what is queued
    feedback = logged(logs, FEEDBACK, "event_id", viewer)
    logged_pages = set(logged(logs, IMPRESSIONS, "page_id", VIEWER))
    answered = {
        pb.RenderPageResponse.FromString(record.response).page_id
        for record in pages.result().records
        if record.code == "OK"
    }
    gateway.start()
    gateway.wait_serving()
    print(
        f"\n{kills} kill -9 of the gateway: {len(stream.acknowledged)} events acknowledged, all in the"
        f" feedback log ({len(feedback)} lines); {len(answered)} pages answered,"
        f" {len(answered - logged_pages)} of them not in the impression log"
    )
    assert set(feedback) == set(stream.acknowledged)
    assert pages.result().errors == 0
    assert len(answered - logged_pages) <= kills * plan.concurrency * 4  # only what was in flight
