"""DSJSON import and export: wall time, peak RSS and sizes, at two log sizes.

A generated DSJSON log (every line the same `--candidates` actions of
`--action-features` numbers each, `--shared-features` shared numbers and a
categorical device) is imported and exported by the real command, each run in
its own process so its peak RSS and CPU time are its own (os.wait4). The same figures at
`--decisions` and 4× as many show whether memory grows with the log (it
should not: decisions are written in batches; only the file's event ids are
held). Last line: `summary: k=v …`.

    python -m bench.interchange [--decisions 2000 --candidates 80]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_log(path: Path, decisions: int, candidates: int, shared: int, features: int) -> None:
    rng = np.random.default_rng(0)
    actions = [
        {"item": {f"x{j}": round(float(v), 4) for j, v in enumerate(rng.random(features))}}
        for _ in range(candidates)
    ]
    with path.open("w") as out:
        for i in range(decisions):
            chosen = int(rng.integers(candidates))
            decision = {
                "_label_cost": -float(rng.random() < 0.1),
                "_label_probability": 1 / candidates,
                "_labelIndex": chosen,
                "EventId": f"e{i}",
                "Timestamp": f"2026-12-0{1 + i % 2}T10:00:00Z",
                "a": [chosen + 1] + [a + 1 for a in range(candidates) if a != chosen],
                "c": {
                    "user": {f"u{j}": round(float(v), 4) for j, v in enumerate(rng.random(shared))},
                    "device": {"kind": ["tv", "phone", "web"][i % 3]},
                    "_multi": actions,
                },
            }
            out.write(json.dumps(decision) + "\n")


def run_keyart(*argv: str) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system: what a loaded machine inflates less) and
    peak RSS (MiB) of `keyart ARGV` in its own process."""
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "cli.main", *argv], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"keyart {' '.join(argv)}: exit status {child.returncode}")
    cpu = usage.ru_utime + usage.ru_stime
    return time.perf_counter() - started, cpu, usage.ru_maxrss / 1024  # Linux: KiB


def size_mib(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=2000)
    parser.add_argument("--candidates", type=int, default=80)
    parser.add_argument("--shared-features", type=int, default=20)
    parser.add_argument("--action-features", type=int, default=8)
    args = parser.parse_args()
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-interchange-") as scratch:
        for label, decisions in (("small", args.decisions), ("large", 4 * args.decisions)):
            log, dataset = Path(scratch, f"{label}.dsjson"), Path(scratch, label)
            write_log(log, decisions, args.candidates, args.shared_features, args.action_features)
            seconds, cpu, rss = run_keyart(
                "dataset", "import", "--format", "dsjson", str(log), "--dataset", str(dataset)
            )
            out = Path(scratch, f"{label}-out.dsjson")
            export_seconds, export_cpu, export_rss = run_keyart(
                "dataset", "export", "--format", "dsjson", "--dataset", str(dataset), str(out)
            )
            print(
                f"{label}: {decisions} decisions × {args.candidates} candidates, DSJSON "
                f"{size_mib(log):.1f} MiB → dataset {size_mib(dataset):.2f} MiB; import "
                f"{seconds:.1f} s wall, {cpu:.1f} s CPU, peak RSS {rss:.0f} MiB; export "
                f"{export_seconds:.1f} s wall, {export_cpu:.1f} s CPU, peak RSS {export_rss:.0f} MiB",
                flush=True,
            )
            figures |= {
                f"{label}_decisions": decisions,
                f"{label}_import_per_cpu_s": decisions / cpu,
                f"{label}_export_per_cpu_s": decisions / export_cpu,
                f"{label}_import_rss_mib": rss,
                f"{label}_export_rss_mib": export_rss,
                f"{label}_dsjson_mib": size_mib(log),
                f"{label}_dataset_mib": size_mib(dataset),
            }
            log.unlink()
            out.unlink()
    print("summary: " + " ".join(f"{name}={value:.4g}" for name, value in figures.items()))


if __name__ == "__main__":
    main()
