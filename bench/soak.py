"""`make soak` (SOAK_S seconds, default 600): constant load at ~70 % of measured capacity.

Starts the four real processes on loopback, measures capacity (closed loop,
8 pages in flight, the reference page, 10 s), then sends pages
open-loop at 70 % of it for the whole run. Prints the error rate, p99 in the
first vs the last window (after a warm-up) and each process's RSS at the end
of warm-up vs the end. Figures, not pass/fail; the last line is a summary.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
from pathlib import Path

from google.protobuf import json_format
from keyart.gateway.v1 import gateway_service_pb2 as pb

from cli.run import ensure_model
from cli.seed import seeded_suite
from loadgen.reference import reference_request
from loadgen.runner import LoadPlan, LoadResult, percentile, run_load

RENDER_PAGE = "/keyart.gateway.v1.PageService/RenderPage"
IN_FLIGHT = 8  # pages in flight while capacity is measured (the gateway admits 16 by default)


def load(plan: LoadPlan) -> LoadResult:
    return asyncio.run(run_load(plan))


def p99_ms(result: LoadResult, start_s: float, end_s: float) -> float:
    window = [
        r.latency_s for r in result.records if r.code == "OK" and start_s <= r.started_s < end_s
    ]
    return percentile(window, 99) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(prog="soak", description=__doc__)
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--share", type=float, default=0.7, help="of the measured capacity")
    args = parser.parse_args()
    warmup_s = min(30.0, args.seconds * 0.1)
    window_s = max(10.0, args.seconds * 0.2)

    model = Path("var/models/bundled.onnx")
    ensure_model(model)
    data_dir = Path(tempfile.mkdtemp(prefix="keyart-soak-"))
    request = json_format.ParseDict(reference_request(), pb.RenderPageRequest()).SerializeToString()
    print(
        f"keyart soak {time.strftime('%Y-%m-%d %H:%M')}: {args.seconds:.0f} s, data in {data_dir}"
    )
    with seeded_suite(data_dir, model) as suite:
        target = suite.services["gateway"].address
        load(LoadPlan(target, RENDER_PAGE, request, total=50))  # warm caches and channels
        capacity = load(
            LoadPlan(target, RENDER_PAGE, request, concurrency=IN_FLIGHT, total=None, duration_s=10)
        ).ok_per_s
        rate = capacity * args.share
        print(f"capacity {capacity:.1f} pages/s; soaking at {rate:.1f} pages/s ({args.share:.0%})")
        rss: dict[str, dict[str, float]] = {}
        timer = threading.Timer(warmup_s, lambda: rss.update(start=suite.rss_mib()))
        timer.start()
        result = load(
            LoadPlan(
                target,
                RENDER_PAGE,
                request,
                total=None,
                duration_s=args.seconds,
                timeout_s=5.0,
                rate_per_s=rate,
            )
        )
        timer.join()
        rss["end"] = suite.rss_mib()
    errors = result.errors
    error_rate = errors / max(len(result.records), 1)
    p99_start = p99_ms(result, warmup_s, warmup_s + window_s)
    p99_end = p99_ms(result, args.seconds - window_s, args.seconds)
    drift_pct = (p99_end / p99_start - 1) * 100 if p99_start else 0.0
    start_total, end_total = sum(rss["start"].values()), sum(rss["end"].values())
    growth_pct = (end_total / start_total - 1) * 100
    codes = sorted({r.code for r in result.records if r.code != "OK"})
    print(f"pages {len(result.records)}, errors {errors} ({error_rate:.4%}) {codes}")
    print(
        f"p99 first {window_s:.0f} s after {warmup_s:.0f} s warm-up: {p99_start:.1f} ms; "
        f"last {window_s:.0f} s: {p99_end:.1f} ms"
    )
    for name in rss["start"]:
        print(f"RSS {name}: {rss['start'][name]:.1f} → {rss['end'][name]:.1f} MiB")
    print(f"summary: errors={errors} p99_drift_pct={drift_pct:.1f} rss_growth_pct={growth_pct:.1f}")


if __name__ == "__main__":
    main()
