"""`keyart evaluate --dataset` at scale: the numpy and the Spark engine, wall time and peak RSS.

For each size, writes bench/evaluate_scale.py's synthetic dataset (keyart's
feature widths, feature_schema null as for an imported log, 80 candidates in
one shared action set, ε-greedy logging on quality with ε = 0.5, rewards
drawn from a known logistic model), then runs the real
command in a subprocess per engine (`--engine numpy`, `--engine spark
--master local[N]`) and samples the RSS of its whole process tree (the
Python driver, Spark's JVM and its Python workers) from /proc every 0.2 s.
A run that exceeds --timeout-s is stopped and reported as such. Last line:
`summary: k=v …`.

    python -m bench.spark_scale [--decisions 1000000,10000000 --master local[2]]
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

from bench.evaluate_scale import write_dataset

CANDIDATES = 80
_PAGE = os.sysconf("SC_PAGE_SIZE")


def tree_rss_bytes(root_pid: int) -> int:
    """The summed RSS of `root_pid` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        pid = int(entry)
        children.setdefault(int(fields[1]), []).append(pid)
        rss[pid] = int(fields[21]) * _PAGE
    total, todo = 0, [root_pid]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


def run_engine(
    dataset: Path, engine: str, master: str, timeout_s: float
) -> tuple[str, float, int, dict]:
    """(outcome, wall s, peak tree RSS bytes, the --json report or {})."""
    command = [sys.executable, "-m", "cli.main", "evaluate", "--dataset", str(dataset)]
    command += ["--engine", engine, "--master", master, "--json"]
    started = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command, stdout=out, stderr=err)
        peak = 0
        while process.poll() is None:
            peak = max(peak, tree_rss_bytes(process.pid))
            if time.monotonic() - started > timeout_s:
                process.kill()
                process.wait()
                return f"stopped after {timeout_s:.0f} s", timeout_s, peak, {}
            time.sleep(0.2)
        wall = time.monotonic() - started
        if process.returncode != 0:
            err.seek(0)
            last = err.read().decode(errors="replace").strip().splitlines()[-1:]
            return f"exit {process.returncode}: {' '.join(last)}", wall, peak, {}
        out.seek(0)
        return "ok", wall, peak, json.loads(out.read())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--decisions", default="1000000,10000000", help="comma-separated sizes")
    parser.add_argument("--engines", default="numpy,spark")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--timeout-s", type=float, default=3600.0, help="per engine and size")
    args = parser.parse_args()
    figures: dict[str, str] = {}
    print(f"{'decisions':>10} {'engine':<6} {'wall_s':>8} {'peak_rss_mib':>12}  outcome, estimates")
    for size in (int(s) for s in args.decisions.split(",")):
        with tempfile.TemporaryDirectory(prefix="keyart-spark-scale-") as directory:
            dataset = Path(directory) / "dataset"
            write_dataset(dataset, size, CANDIDATES, seed=17)
            for engine in args.engines.split(","):
                outcome, wall, peak, report = run_engine(
                    dataset, engine, args.master, args.timeout_s
                )
                mib = peak / 2**20
                estimates = " ".join(
                    f"{e['estimator']}={e['value']:.4f}[{e['low']:.4f},{e['high']:.4f}]"
                    for e in (report["policies"]["random"] if report else [])
                )
                print(
                    f"{size:>10} {engine:<6} {wall:>8.1f} {mib:>12.0f}  {outcome} {estimates}",
                    flush=True,
                )
                tag = f"{engine}_{size // 1_000_000}m" if size >= 1_000_000 else f"{engine}_{size}"
                figures[f"{tag}_wall_s"] = f"{wall:.1f}" if outcome == "ok" else "none"
                figures[f"{tag}_peak_rss_mib"] = f"{mib:.0f}"
                if report:
                    figures[f"{tag}_random_dr"] = f"{report['policies']['random'][-1]['value']:.5f}"
    print("summary: " + " ".join(f"{name}={value}" for name, value in figures.items()))


if __name__ == "__main__":
    main()
