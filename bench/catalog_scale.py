"""Catalog scale: 20,000 imported titles × 30 candidates (600,000 artworks) beside the demo's.

Two suites run side by side on loopback, one on the demo catalog and one on the demo
plus a generated catalog file imported through `keyart catalog import`. Prints the
import's time and titles/s, the artwork service's start-up (to SERVING, the catalog
loaded) and the ranker's (to SERVING, the catalog's feature rows loaded) on the large
catalog, the peak RSS of artwork, ranker and gateway on each, and the reference
page's RenderPage p50 and p99 on both catalogs, timed in turns so that both see the
same host. Last line: `summary: k=v …`.

    python -m bench.catalog_scale [--titles 20000 --candidates 30 --pages 400]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import grpc
from google.protobuf import json_format
from keyart.gateway.v1 import gateway_service_pb2 as pb

from cli.catalog_import import ImportOptions, import_catalog
from cli.run import ensure_model
from cli.seed import seeded_suite
from common.channels import Dial
from common.features import GENRES
from loadgen.reference import reference_request
from loadgen.runner import percentile
from suite.supervisor import Suite

RENDER_PAGE = "/keyart.gateway.v1.PageService/RenderPage"
SERVICES = ("artwork", "ranker", "gateway")


def write_catalog_file(path: Path, titles: int, candidates: int, seed: int = 16) -> None:
    """`titles` generated titles in the import format, images on a CDN, 5,000 cast names."""
    rng = random.Random(seed)
    cast_pool = [f"Performer {i:04d}" for i in range(5000)]
    with path.open("w") as out:
        for t in range(titles):
            title_id = f"scale-{t:05d}"
            cast = rng.sample(cast_pool, 6)
            artworks = [
                {
                    "artwork_id": f"{title_id}/art-{j:02d}",
                    "image": f"https://images.example.com/{title_id}/art-{j:02d}.jpg",
                    "cast": rng.sample(cast, rng.randint(0, 2)),
                    "tones": rng.sample(GENRES, rng.randint(1, 2)),
                    "visual_quality": round(rng.random(), 3),
                    "composition": round(rng.random(), 3),
                }
                for j in range(candidates)
            ]
            line = {
                "title_id": title_id,
                "name": f"Scale Title {t}",
                "genres": rng.sample(GENRES, 2),
                "cast": cast,
                "artworks": artworks,
            }
            out.write(json.dumps(line) + "\n")


def page_bytes(title_ids: list[list[str]] | None = None) -> bytes:
    request = reference_request()
    if title_ids is not None:
        request["rows"] = [
            {"row_id": f"row-{r:02d}", "title_ids": ids} for r, ids in enumerate(title_ids)
        ]
    return json_format.ParseDict(request, pb.RenderPageRequest()).SerializeToString()


def wait_until_served(target: str, title_id: str, timeout_s: float = 300.0) -> float:
    """Seconds until a page asking for `title_id` gets it personalized (gateway and ranker
    both hold the catalog that has it)."""
    started = time.monotonic()
    request = page_bytes([[title_id]])
    with grpc.insecure_channel(target) as channel:
        call: grpc.UnaryUnaryMultiCallable[bytes, pb.RenderPageResponse] = channel.unary_unary(
            RENDER_PAGE, response_deserializer=pb.RenderPageResponse.FromString
        )
        while time.monotonic() - started < timeout_s:
            tiles = call(request, timeout=5.0).rows[0].tiles
            if tiles and tiles[0].personalized:
                return time.monotonic() - started
            time.sleep(0.2)
    raise TimeoutError(f"{title_id} not served personalized within {timeout_s} s")


def pages_in_turns(
    targets: dict[str, str], request: bytes, pages: int, block: int = 10
) -> dict[str, list[float]]:
    """`pages` RenderPage calls per suite, `block` at a time in turns, each timed alone."""
    timings: dict[str, list[float]] = {name: [] for name in targets}
    options = [("grpc.max_receive_message_length", 64 << 20)]
    with ExitStack() as stack:
        calls: dict[str, grpc.UnaryUnaryMultiCallable[bytes, bytes]] = {
            name: stack.enter_context(grpc.insecure_channel(target, options=options)).unary_unary(
                RENDER_PAGE
            )
            for name, target in targets.items()
        }
        for call in calls.values():
            for _ in range(20):
                call(request, timeout=5.0)
        for _ in range(-(-pages // block)):
            for name, call in calls.items():
                for _ in range(block):
                    started = time.perf_counter()
                    call(request, timeout=5.0)
                    timings[name].append(time.perf_counter() - started)
    return timings


def restart_seconds(suite: Suite, name: str) -> float:
    service = suite.services[name]
    service.stop()
    started = time.monotonic()
    service.start()
    service.wait_serving(timeout_s=300.0)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--titles", type=int, default=20_000)
    parser.add_argument("--candidates", type=int, default=30)
    parser.add_argument("--pages", type=int, default=400)
    args = parser.parse_args()
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="keyart-bench-catalog-") as tmp:
        root = Path(tmp)
        model = root / "bundled.onnx"
        ensure_model(model)
        catalog_file = root / "large-catalog.jsonl"
        write_catalog_file(catalog_file, args.titles, args.candidates)
        print(
            f"{args.titles:,} titles × {args.candidates} candidates "
            f"({catalog_file.stat().st_size / 2**20:,.0f} MiB of JSON Lines) beside the demo's",
            flush=True,
        )
        with (
            seeded_suite(root / "demo", model) as demo,
            seeded_suite(root / "large", model) as large,
        ):
            artwork = large.services["artwork"].address
            started = time.monotonic()
            import_catalog(catalog_file, ImportOptions(artwork=Dial(artwork)))
            figures["import_s"] = time.monotonic() - started
            figures["import_titles_per_s"] = args.titles / figures["import_s"]
            print(
                f"import: {figures['import_s']:.1f} s, {figures['import_titles_per_s']:,.0f} titles/s",
                flush=True,
            )
            gateway = large.services["gateway"].address
            figures["served_after_import_s"] = wait_until_served(gateway, "scale-00000")
            for name in SERVICES:  # artwork and ranker restart below: their import peaks now
                figures[f"large_{name}_import_peak_rss_mib"] = large.services[name].peak_rss_mib()
            figures["artwork_start_s"] = restart_seconds(large, "artwork")
            figures["ranker_start_s"] = restart_seconds(large, "ranker")
            wait_until_served(gateway, f"scale-{args.titles - 1:05d}")
            print(
                f"start-up on the large catalog: artwork {figures['artwork_start_s']:.1f} s,"
                f" ranker {figures['ranker_start_s']:.1f} s (catalog rows loaded)",
                flush=True,
            )
            targets = {"demo": demo.services["gateway"].address, "large": gateway}
            timings = pages_in_turns(targets, page_bytes(), args.pages)
            for name, values in timings.items():
                figures[f"{name}_p50_ms"] = statistics.median(values) * 1000
                figures[f"{name}_p99_ms"] = percentile(values, 99) * 1000
            figures["p50_ratio"] = figures["large_p50_ms"] / figures["demo_p50_ms"]
            print(
                f"reference page: demo p50 {figures['demo_p50_ms']:.1f} ms p99 {figures['demo_p99_ms']:.1f} ms;"
                f" large p50 {figures['large_p50_ms']:.1f} ms p99 {figures['large_p99_ms']:.1f} ms;"
                f" ratio {figures['p50_ratio']:.2f}",
                flush=True,
            )
            for name in SERVICES:
                for suite_name, suite in (("demo", demo), ("large", large)):
                    figures[f"{suite_name}_{name}_peak_rss_mib"] = suite.services[
                        name
                    ].peak_rss_mib()
                print(
                    f"peak RSS {name}: demo {figures[f'demo_{name}_peak_rss_mib']:.0f} MiB,"
                    f" large {figures[f'large_{name}_peak_rss_mib']:.0f} MiB"
                    f" (during the import {figures[f'large_{name}_import_peak_rss_mib']:.0f} MiB)"
                )
    print("summary: " + " ".join(f"{name}={value:.3g}" for name, value in figures.items()))


if __name__ == "__main__":
    main()
