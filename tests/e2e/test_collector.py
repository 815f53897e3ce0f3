"""`keyart collect`: the real suite logging to a real nats-server, collected into the dataset."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from keyart.gateway.v1 import gateway_service_pb2 as pb

from common.storage import Location
from demo.pages import demo_page
from learning.parquet_layout import DECISIONS, FEEDBACK, parts, read_part
from suite.client import PageClient
from suite.supervisor import Suite
from tests.e2e.stream_suite import CollectorProcess, nats_suite_config
from tests.e2e.test_event_stream import FEEDBACK as FEEDBACK_STREAM
from tests.e2e.test_event_stream import IMPRESSIONS, stream_messages, wait_until
from tests.nats_server import NatsServer
from tests.s3_server import S3Server

VIEWERS = ("romance-fan", "comedy-fan", "collector-viewer")


@pytest.fixture(scope="module")
def suite(
    nats_server: NatsServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PageClient]:
    data_dir = tmp_path_factory.mktemp("collector-suite")
    # The gateway's log directory is not the dataset: snapshots come through the object store.
    config = nats_suite_config(data_dir, nats_server.url)
    with open(data_dir / "services.log", "wb") as log:
        suite = Suite(config, log)
        suite.start()
        with PageClient(config.addresses["gateway"]) as client:
            yield client
        assert suite.stop()["gateway"] == 0


@pytest.fixture(params=["local", "s3"])
def dataset(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where the collector writes: a local directory, or a real S3-compatible server's bucket."""
    if request.param == "local":
        return str(tmp_path / "dataset")
    server: S3Server = request.getfixturevalue("s3_server")
    return server.url("dataset")


def collect(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "collect", *args],
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def render_and_play(
    client: PageClient, viewer: str, event_id: str
) -> tuple[str, int, dict[str, Any]]:
    """One page and a qualified play of its first title: (page id, titles on the page, the
    event's fields)."""
    page = client.render_page(viewer, demo_page())
    tiles = {tile.title_id for row in page.rows for tile in row.tiles}
    first = page.rows[0].tiles[0]
    event: dict[str, Any] = {
        "user_id": viewer,
        "title_id": first.title_id,
        "kind": pb.EVENT_KIND_QUALIFIED_PLAY,
        "event_id": event_id,
        "artwork_id": first.artwork_id,
        "page_id": page.page_id,
    }
    client.report_event(**event)
    return page.page_id, len(tiles), event


def dataset_rows(dataset: Path | str) -> tuple[Counter[str], Counter[str]]:
    """Decisions per page id, and rows per feedback event id."""
    root = Location.parse(dataset)
    pages: Counter[str] = Counter()
    for part in parts(root, DECISIONS):
        pages.update(read_part(part, ["page_id"]).column(0).to_pylist())
    events: Counter[str] = Counter()
    for part in parts(root, FEEDBACK):
        events.update(read_part(part, ["event_id"]).column(0).to_pylist())
    return pages, events


def stream_counts(nats: NatsServer) -> tuple[int, int]:
    return len(stream_messages(nats, IMPRESSIONS)), len(stream_messages(nats, FEEDBACK_STREAM))


def test_collect_once_puts_each_page_and_event_in_the_dataset_once(
    suite: PageClient, nats_server: NatsServer, dataset: str
) -> None:
    before = stream_counts(nats_server)
    served = {}
    run = uuid.uuid4().hex[:8]  # the suite's event ids are its own across the parameters
    for viewer in VIEWERS:
        page_id, tiles, event = render_and_play(suite, viewer, f"once-{run}-{viewer}")
        served[page_id] = tiles
    assert suite.report_event(**event).duplicate  # a retry: stored once
    wait_until(
        lambda: stream_counts(nats_server) == (before[0] + 3, before[1] + 3),
        "the pages and events in the streams",
    )
    first = collect("--once", "--nats", nats_server.url, "--dataset", dataset)
    assert first.returncode == 0, first.stderr
    pages, events = dataset_rows(dataset)
    for page_id, tiles in served.items():
        assert pages[page_id] == tiles  # every title of the page, once
    assert {f"once-{run}-{viewer}" for viewer in VIEWERS} <= set(events)
    assert max(events.values()) == 1

    again = collect("--once", "--nats", nats_server.url, "--dataset", dataset)
    assert again.returncode == 0, again.stderr
    assert dataset_rows(dataset) == (pages, events)
    status = collect("--status", "--nats", nats_server.url, "--dataset", dataset)
    assert status.returncode == 0, status.stderr
    assert f"collected {sum(before) + 6} messages" in status.stdout
    assert "lag KEYART_IMPRESSIONS=0 KEYART_FEEDBACK=0" in status.stdout

    evaluated = subprocess.run(
        [sys.executable, "-m", "cli.main", "evaluate", "--dataset", dataset],
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
    )
    assert evaluated.returncode == 0, evaluated.stderr


def test_kill_9_of_the_collector_under_load_loses_and_doubles_nothing(
    suite: PageClient, nats_server: NatsServer, dataset: str, tmp_path: Path
) -> None:
    served: dict[str, int] = {}
    acked: list[str] = []
    stop = threading.Event()
    run = uuid.uuid4().hex[:8]

    def traffic() -> None:
        n = 0
        while not stop.is_set():
            page_id, tiles, _ = render_and_play(suite, VIEWERS[n % 3], f"load-{run}-{n}")
            served[page_id] = tiles
            acked.append(f"load-{run}-{n}")
            n += 1

    sender = threading.Thread(target=traffic)
    sender.start()
    rng = random.Random(7)
    with CollectorProcess(nats_server.url, dataset, tmp_path) as collector:
        try:
            for _ in range(4):
                time.sleep(rng.uniform(0.5, 2.0))
                collector.kill_and_restart()
        finally:
            stop.set()
            sender.join()
        wait_until(collector.reading, "the last collector reading")
        assert collector.stop() == 0, collector.log.read_text()[-2000:]
    final = collect("--once", "--nats", nats_server.url, "--dataset", dataset)
    assert final.returncode == 0, final.stderr

    pages, events = dataset_rows(dataset)
    assert len(acked) > 20
    assert [page for page, tiles in served.items() if pages[page] != tiles] == []
    assert [event for event in acked if events[event] != 1] == []
    assert max(events.values()) == 1 and max(pages.values()) <= max(served.values())


def test_bad_arguments_get_one_line_and_status_2(tmp_path: Path) -> None:
    for args, named in (
        (["--nats", "http://127.0.0.1:4222", "--dataset", str(tmp_path)], "--nats"),
        (["--nats", "nats://127.0.0.1:4222"], "--dataset"),
        (["--dataset", str(tmp_path)], "--nats"),
    ):
        result = collect("--once", *args, env={"COLLECT_NATS_URL": "", "COLLECT_DATASET": ""})
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1 and named in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


def test_a_second_collector_on_the_same_dataset_is_refused(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    dataset = tmp_path / "dataset"
    with CollectorProcess(nats_server.url, dataset, tmp_path) as first:
        wait_until(first.reading, "the first collector reading")
        second = collect("--once", "--nats", nats_server.url, "--dataset", str(dataset))
        assert second.returncode == 2
        assert "another collector is writing this dataset" in second.stderr
        assert first.stop() == 0
