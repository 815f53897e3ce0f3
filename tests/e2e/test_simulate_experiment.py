"""`keyart simulate --experiment` in a small configuration: it runs an experiment and an A/A
run through the real suite and ends with the summary line. The full run's figures
(`make bench-experiment`) are in docs/benchmarks.md; it is too slow for `make test`."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from learning.aa_replay import AAReplay
from learning.sim_world import World

SUMMARY = re.compile(
    r"summary: lift=(-?\d+\.\d{4}) true_lift=(-?\d+\.\d{4}) "
    r"lift_ci_contains_truth=([01]) aa_coverage=(\d\.\d\d)"
)


def test_a_small_experiment_completes_and_ends_with_the_summary(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.main",
            "simulate",
            "--experiment",
            "--viewers",
            "40",
            "--history-plays",
            "8",
            "--impressions",
            "2000",
            "--experiment-impressions",
            "2000",
            "--aa-seeds",
            "1",
            "--aa-impressions",
            "600",
            "--workdir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,  # the status is asserted with stderr shown
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().split("\n")
    match = SUMMARY.fullmatch(lines[-1])
    assert match, lines[-1]
    assert float(match[4]) in (0.0, 1.0)  # one A/A seed: covered or not
    # The A/A read through the suite is exactly the one made from the simulator's draws alone:
    # the suite adds, loses or leaks nothing (learning/aa_replay.py).
    replayed = AAReplay(World(40, 0), seed=0, titles=20).read(0, pages=600 // 20).lift()
    assert (
        f"A/A 0: lift {replayed.value:+.4f} [{replayed.low:+.4f}, {replayed.high:+.4f}] "
        f"contains 0: {int(replayed.contains(0.0))}"
    ) in lines
    # Every impression served and play reported reached the report, and nothing else did: a
    # gap between the report's lift and the true lift is then the plays' draw alone.
    assert "impressions and plays counted otherwise than served: 0" in lines
    accounts = [line for line in lines if line.startswith("  served/counted: control: ")]
    assert len(accounts) == 1, accounts
    assert any(line.startswith("treatment  model_version=learned-") for line in lines)
    assert (tmp_path / "experiment.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
