"""`make bench-collect`: how fast `keyart collect` turns the streams into the dataset, and its memory.

Starts the suite with the gateway on a loopback nats-server with JetStream,
renders PAGES reference pages (40 rows × 40 titles: 1,600 decisions each)
with two clients and a qualified play per page, then runs
`keyart collect --once` into a new dataset, timed, with its peak RSS. With
`--s3`, a second `--once` then collects the same streams into a bucket of an
S3-compatible server on loopback (moto_server, tests/s3_server.py: from
memory on this machine, so keyart's overhead, not a real store's latency).
Last line: `summary: pages=… decisions=… wall_s=… decisions_per_s=…
peak_rss_mib=… [s3_wall_s=… s3_decisions_per_s=… s3_peak_rss_mib=…]`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from keyart.gateway.v1 import gateway_service_pb2 as pb

from demo.pages import reference_page
from suite.client import PageClient
from suite.supervisor import Suite
from tests.e2e.stream_suite import nats_suite_config
from tests.nats_server import NatsServer, nats_server_binary
from tests.s3_server import S3Server

CLIENTS = 2


def _render(target: str, pages: int, client_index: int) -> int:
    """Renders `pages` reference pages with a play of each page's first title; their decisions."""
    decisions = 0
    with PageClient(target) as client:
        for n in range(pages):
            page = client.render_page("romance-fan", reference_page())
            decisions += len({tile.title_id for row in page.rows for tile in row.tiles})
            first = page.rows[0].tiles[0]
            client.report_event(
                user_id="romance-fan",
                title_id=first.title_id,
                kind=pb.EVENT_KIND_QUALIFIED_PLAY,
                event_id=f"bench-{client_index}-{n}",
                artwork_id=first.artwork_id,
                page_id=page.page_id,
            )
    return decisions


def _collect_once(url: str, dataset: Path | str) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MiB and the status line of one `keyart collect --once`."""
    started = time.monotonic()
    command = ["collect", "--once", "--nats", url, "--dataset", str(dataset)]
    process = subprocess.Popen(
        [sys.executable, "-m", "cli.main", *command], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)  # this child's own peak RSS, in KiB
    wall_s = time.monotonic() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"bench-collect: keyart collect --once failed: {output[-2000:]}")
    return wall_s, usage.ru_maxrss / 1024, output.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=400)
    parser.add_argument(
        "--s3", action="store_true", help="also collect into an S3-compatible server's bucket"
    )
    args = parser.parse_args()
    binary = nats_server_binary()
    if binary is None:
        raise SystemExit(
            "bench-collect: nats-server is missing and cannot be installed (not root?)"
        )
    work = Path(tempfile.mkdtemp(prefix="keyart-bench-collect-"))
    broker = NatsServer(binary, work / "nats")
    config = nats_suite_config(work / "suite", broker.url)
    try:
        with open(work / "services.log", "wb") as log:
            suite = Suite(config, log)
            suite.start()
            try:
                share = args.pages // CLIENTS
                with ThreadPoolExecutor(CLIENTS) as pool:
                    jobs = [
                        pool.submit(_render, config.addresses["gateway"], share, i)
                        for i in range(CLIENTS)
                    ]
                    decisions = sum(job.result() for job in jobs)
                time.sleep(2)  # the gateway's publisher drains its buffer
                wall_s, peak_mib, status = _collect_once(broker.url, work / "dataset")
                print(status)
                on_s3 = _collect_into_s3(broker.url, work, decisions) if args.s3 else ""
            finally:
                suite.stop()
    finally:
        broker.stop()
    print(
        f"summary: pages={share * CLIENTS} decisions={decisions} wall_s={wall_s:.1f} "
        f"decisions_per_s={decisions / wall_s:.0f} peak_rss_mib={peak_mib:.0f}{on_s3}"
    )


def _collect_into_s3(url: str, work: Path, decisions: int) -> str:
    """The same streams collected anew into a fresh bucket: the summary's s3_… figures."""
    server = S3Server(work)
    try:
        wall_s, peak_mib, status = _collect_once(url, server.url("dataset"))
    finally:
        server.stop()
    print(f"s3: {status}")
    return (
        f" s3_wall_s={wall_s:.1f} s3_decisions_per_s={decisions / wall_s:.0f} "
        f"s3_peak_rss_mib={peak_mib:.0f}"
    )


if __name__ == "__main__":
    main()
