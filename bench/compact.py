"""`keyart dataset compact` speed and memory on reference pages (40 × 40 titles, 8 candidates).

The log is written by the gateway's own writer (gateway/impressions.py
LearningLogs) under one catalog version with its snapshot; `keyart dataset
compact` then runs in a child process, whose peak RSS is the figure (the
parts hold at most CHUNK_DECISIONS decisions, so it should not grow with the
log). A second run shows what a run with nothing new costs. With `--s3` the
same log is then compacted into a bucket of an S3-compatible server on
loopback (moto_server, tests/s3_server.py, a dev requirement), twice, in the
same run: what the object-store path (each part staged on the local disk, then
one upload) costs beside the local one. moto answers from memory on this
machine, so the figure is keyart's overhead, not a real store's latency. Last
line: `summary: pages=… decisions=… log_mb=… dataset_mb=… compact_s=…
decisions_per_s=… peak_rss_mb=… rerun_s=… [s3_compact_s=… s3_rerun_s=…]`.

    python -m bench.compact [--pages 400 --segment-mb 4] [--s3]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

from common.catalog_snapshot import save_snapshot
from common.features import ARTWORK_DIM, SCHEMA_VERSION, VIEWER_DIM, pack
from gateway.backends import Ranking, ViewerFeatures
from gateway.impressions import LearningLogConfig, LearningLogs
from gateway.page_request import PageContext, PageRequest
from gateway.render import RankedInputs, RenderedPage, TitleGroup
from tests.s3_server import S3Server
from tests.unit.gateway_log import catalog

ROWS, TITLES_A_ROW, CANDIDATES = 40, 40, 8
VERSION = "bench-1"
VARIANTS = 16  # distinct rankings the pages cycle through


def reference_pages(rng: np.random.Generator) -> tuple[PageRequest, list[RenderedPage]]:
    titles = catalog(VERSION, ROWS * TITLES_A_ROW, CANDIDATES)
    group = TitleGroup.of(VERSION, titles)
    n = len(titles)
    rendered = []
    for variant in range(VARIANTS):
        ranking = Ranking(
            rng.integers(0, CANDIDATES, n).astype("<u4"),
            rng.random(n).astype("<f4"),
            rng.choice([0.9125, 0.0125], n).astype("<f4"),
            "model-1",
            "epsilon_greedy(epsilon=0.1)",
        )
        viewer = ViewerFeatures(True, SCHEMA_VERSION, pack(rng.random(VIEWER_DIM)))
        inputs = RankedInputs(viewer, [(group, ranking)])
        rendered.append(RenderedPage(f"v{variant}", [], Counter(), [], "model-1", inputs))
    rows = tuple(
        (f"row-{r}", tuple(t.title_id for t in titles[r * TITLES_A_ROW : (r + 1) * TITLES_A_ROW]))
        for r in range(ROWS)
    )
    return PageRequest("viewer", rows, PageContext(1, "US", 21, 5), 200), rendered


async def write_log(directory: Path, pages: int, segment_bytes: int) -> None:
    config = LearningLogConfig(directory, segment_bytes, 3600.0, 1_000, pages, 1.0)
    logs = LearningLogs(config)
    logs.start()
    page, variants = reference_pages(np.random.default_rng(0))
    for n in range(pages):
        logs.log_page(page, replace(variants[n % VARIANTS], page_id=f"page-{n:06d}"))
    await logs.close()
    rows = np.random.default_rng(1).random((ROWS * TITLES_A_ROW * CANDIDATES, ARTWORK_DIM))
    save_snapshot(directory, VERSION, rows.astype(np.float32))


def megabytes(directory: Path, pattern: str = "*") -> float:
    return sum(path.stat().st_size for path in directory.rglob(pattern) if path.is_file()) / 1e6


def run_compact(logs: Path, dataset: Path | str) -> tuple[float, str]:
    started = time.perf_counter()
    command = ["dataset", "compact", "--logs", str(logs), "--dataset", str(dataset)]
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", *command],
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - started, done.stdout.splitlines()[-1]


def compact_to_s3(logs: Path, work: Path) -> dict[str, float]:
    """The same compaction (and its rerun) into a fresh bucket; its children's memory is not
    told apart from the local run's, so only the times are figures."""
    server = S3Server(work)
    try:
        dataset = server.url("dataset")
        compact_s, line = run_compact(logs, dataset)
        print(f"s3: {line}")
        rerun_s, _ = run_compact(logs, dataset)
    finally:
        server.stop()
    return {"s3_compact_s": round(compact_s, 2), "s3_rerun_s": round(rerun_s, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=400)
    parser.add_argument("--segment-mb", type=float, default=4.0)
    parser.add_argument(
        "--s3", action="store_true", help="also compact into an S3-compatible server's bucket"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="keyart-bench-compact-") as work:
        logs, dataset = Path(work) / "logs", Path(work) / "dataset"
        asyncio.run(write_log(logs, args.pages, int(args.segment_mb * 1e6)))
        compact_s, line = run_compact(logs, dataset)
        peak_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(line)
        rerun_s, again = run_compact(logs, dataset)
        print(again)
        decisions = args.pages * ROWS * TITLES_A_ROW
        figures = {
            "pages": args.pages,
            "decisions": decisions,
            "log_mb": round(megabytes(logs, "*.jsonl"), 1),  # the segments, not the snapshot
            "dataset_mb": round(megabytes(dataset), 1),
            "compact_s": round(compact_s, 2),
            "decisions_per_s": round(decisions / compact_s),
            "peak_rss_mb": round(peak_rss_mb),
            "rerun_s": round(rerun_s, 2),
        }
        if args.s3:
            figures.update(compact_to_s3(logs, Path(work)))
    print("summary: " + " ".join(f"{name}={value}" for name, value in figures.items()))


if __name__ == "__main__":
    main()
