"""`make bench-evaluate`: `keyart evaluate --dataset` on 1,000,000 decisions with 80 shared candidates.

Writes a synthetic dataset straight with pyarrow (one action set of 80
candidates, keyart's feature widths, feature_schema null as for an imported
log): viewers with sparse tastes, rewards drawn from a known model,
sigmoid(4 · taste match − 2.5 + quality), logged ε-greedy on quality (ε = 0.5).
Then runs the real command in a subprocess (IPS, SNIPS, DR with their
intervals, for uniform random and the logging policy) and prints its wall time
and peak RSS (getrusage of the child), the uniform policy's true value, and the
time of one bootstrap over the decisions alone. Figures, not pass/fail; the last
line is `summary: decisions=… candidates=… wall_s=… peak_rss_mib=… ips=… snips=… dr=…`.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type hints
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from common.features import ARTWORK_DIM, CONTEXT_DIM, VIEWER_DIM
from common.storage import Location
from learning.bootstrap import ratio_interval
from learning.parquet_layout import (
    DECISIONS,
    DatasetInfo,
    action_sets_schema,
    create,
    decisions_schema,
    write_action_sets,
)
from learning.parquet_writer import fixed_lists

ACTION_SET = "shared-80"
EPSILON = 0.5
CHUNK = 100_000


def shared_candidates(rng: np.random.Generator, k: int) -> np.ndarray:
    """(k, ARTWORK_DIM): one taste tag each, and a quality and composition score."""
    artwork = np.zeros((k, ARTWORK_DIM), np.float32)
    artwork[np.arange(k), rng.integers(0, VIEWER_DIM, k)] = 1.0
    artwork[:, VIEWER_DIM:] = rng.random((k, 2))
    return artwork


def decisions_chunk(
    rng: np.random.Generator, artwork: np.ndarray, first: int, size: int, info: DatasetInfo
) -> tuple[pa.Table, float]:
    """`size` decisions from number `first` on, and the sum of the uniform policy's true value."""
    k = len(artwork)
    viewer = (rng.random((size, VIEWER_DIM)) < 0.1).astype(np.float32)
    context = np.zeros((size, CONTEXT_DIM), np.float32)
    match = viewer @ artwork[:, :VIEWER_DIM].T  # (size, k)
    truth = 1.0 / (1.0 + np.exp(-(4.0 * match - 2.5 + artwork[:, VIEWER_DIM])))
    logging = np.full(k, EPSILON / k)
    logging[int(artwork[:, VIEWER_DIM].argmax())] += 1 - EPSILON
    chosen = rng.choice(k, size, p=logging)
    reward = (rng.random(size) < truth[np.arange(size), chosen]).astype(np.float64)
    ids = [f"d{i}" for i in range(first, first + size)]
    empty = [""] * size
    table = pa.table(
        {
            "decision_id": ids,
            "page_id": empty,
            "time_ms": np.full(size, 1_764_633_600_000 + first, np.int64),
            "viewer_id": empty,
            "title_id": empty,
            "viewer": fixed_lists(viewer, VIEWER_DIM),
            "context": fixed_lists(context, CONTEXT_DIM),
            "action_set": [ACTION_SET] * size,
            "chosen": chosen.astype(np.int32),
            "propensity": logging[chosen],
            "score": pa.nulls(size, pa.float32()),
            "reward": reward,
            "model_version": empty,
            "policy": empty,
            "experiment": empty,
            "cell": empty,
            "device_type": pa.nulls(size, pa.string()),
            "position": pa.nulls(size, pa.int32()),
        },
        schema=decisions_schema(info),
    )
    return table, float(truth.mean(axis=1).sum())


def write_dataset(root: Path, decisions: int, k: int, seed: int) -> float:
    """Writes the dataset; returns the uniform random policy's true value."""
    rng = np.random.default_rng(seed)
    info = DatasetInfo(VIEWER_DIM, CONTEXT_DIM, ARTWORK_DIM, feature_schema=None)
    create(Location.local(root), info)
    artwork = shared_candidates(rng, k)
    write_action_sets(
        Location.local(root),
        pa.table(
            {
                "action_set": [ACTION_SET],
                "candidate_ids": [[f"c{j}" for j in range(k)]],
                "features": [artwork.tolist()],
            },
            schema=action_sets_schema(info),
        ),
    )
    directory = root / DECISIONS / "date=2025-12-02"
    directory.mkdir(parents=True)
    total = 0.0
    with pq.ParquetWriter(directory / "part-0.parquet", decisions_schema(info)) as out:
        for first in range(0, decisions, CHUNK):
            table, value = decisions_chunk(rng, artwork, first, min(CHUNK, decisions - first), info)
            out.write_table(table)
            total += value
    return total / decisions


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.evaluate_scale", description=__doc__)
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument("--candidates", type=int, default=80)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="keyart-bench-evaluate-") as directory:
        root = Path(directory) / "dataset"
        started = time.perf_counter()
        truth = write_dataset(root, args.decisions, args.candidates, args.seed)
        size_mib = sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 2**20
        print(
            f"wrote {args.decisions:,} decisions × {args.candidates} shared candidates "
            f"({size_mib:,.0f} MiB) in {time.perf_counter() - started:.1f} s; "
            f"uniform random's true value {truth:.4f}",
            flush=True,
        )
        command = [sys.executable, "-m", "cli.main", "evaluate", "--dataset", str(root)]
        command += ["--batch-size", str(args.batch_size), "--json"]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        wall_s = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"keyart evaluate failed ({done.returncode}): {done.stderr.strip()}")
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
    report = json.loads(done.stdout)
    found = {e["estimator"]: e for e in report["policies"]["random"]}
    for name, estimates in report["policies"].items():
        for e in estimates:
            print(
                f"  {name:<14} {e['estimator']:<6} {e['value']:.4f} [{e['low']:.4f}, "
                f"{e['high']:.4f}] ess={e['ess']:.0f} max_w={e['max_weight']:.3g}"
            )
    for gone in report["left_out"]:
        print(f"  left out: {gone['policy']}: {gone['reason']}")
    print(f"keyart evaluate --dataset: {wall_s:.1f} s, peak RSS {peak_mib:,.0f} MiB", flush=True)
    terms = np.random.default_rng(1).random(args.decisions)
    started = time.perf_counter()
    ratio_interval(terms)
    print(
        f"one BCa bootstrap (1,000 replicates) of {args.decisions:,} terms: "
        f"{time.perf_counter() - started:.1f} s"
    )
    print(
        f"summary: decisions={args.decisions} candidates={args.candidates} wall_s={wall_s:.1f} "
        f"peak_rss_mib={peak_mib:.0f} ips={found['ips']['value']:.4f} "
        f"snips={found['snips']['value']:.4f} dr={found['dr']['value']:.4f} truth={truth:.4f}"
    )


if __name__ == "__main__":
    main()
