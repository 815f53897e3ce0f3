"""`keyart simulate --sink nats://…`: the learning loop through the event stream, the collector
and published models, against the same loop on segment files, in a small configuration."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from common.storage import Location
from learning.parquet_reader import load_dataset
from tests.nats_server import NatsServer

SMALL = ["--rounds", "2", "--viewers", "60", "--history-plays", "16", "--impressions", "3000"]
SUMMARY = re.compile(r"summary: (.*) ope_within_ci=[01]")


def simulate(workdir: Path, *extra: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "simulate", *SMALL, "--workdir", str(workdir), *extra],
        capture_output=True,
        text=True,
        timeout=400,
        check=False,  # the status is asserted with stderr shown
    )
    assert done.returncode == 0, done.stderr[-2000:]
    match = SUMMARY.fullmatch(done.stdout.strip().split("\n")[-1])
    assert match, done.stdout[-2000:]
    return {key: float(value) for key, value in (p.split("=") for p in match[1].split())}


def test_the_loop_through_the_stream_serves_the_same_pages_and_learns_as_with_files(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    streamed = simulate(tmp_path / "nats", "--sink", nats_server.url)
    files = simulate(tmp_path / "files")
    # The pages are drawn from the seed, so what they offer is the same on both sinks, exactly.
    for key in ("ctr_random", "ctr_default", "ctr_oracle"):
        assert streamed[key] == files[key], key
    # Both learned: the last model's greedy choice beats the catalog default.
    assert streamed["ctr_learned"] > streamed["ctr_default"]
    assert files["ctr_learned"] > files["ctr_default"]
    # Through the stream the model was published (the pointer moved), and trained on the
    # collector's dataset, not on segment files.
    pointer = json.loads((tmp_path / "nats" / "models" / "current.json").read_text())
    assert pointer["current"].startswith("learned-")
    card = next((tmp_path / "nats" / "candidates").glob("*.card.json"))
    assert json.loads(card.read_text())["data"]["source"] == str(tmp_path / "nats" / "dataset")
    assert not list((tmp_path / "nats" / "logs").glob("impressions-*.jsonl"))
    loop_on_the_collected_dataset(tmp_path / "nats")


def loop_on_the_collected_dataset(workdir: Path) -> None:
    """`keyart loop --once` on what the collector wrote, against the models the simulator
    published: it judges the candidate against the served model and publishes only a winner."""
    before = json.loads((workdir / "models" / "current.json").read_text())
    paths = ["--dataset", str(workdir / "dataset"), "--models", str(workdir / "models")]
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "loop", "--once", "--days", "1", *paths],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,  # the status is asserted with stderr shown
    )
    assert done.returncode == 0, done.stderr[-2000:]
    line = done.stdout.splitlines()[0]
    held = round(len(load_dataset(Location.local(workdir / "dataset"))) * 0.2)
    assert f"serving={before['current']} dr=" in line and "(current.json)" in line, line
    assert f" holdout={held} decision=" in line, line
    after = json.loads((workdir / "models" / "current.json").read_text())
    if "decision=publish" in line:
        assert after["history"][0] == before["current"] != after["current"]
    else:
        assert "decision=keep" in line and after == before


def test_a_sink_that_is_not_nats_is_refused_in_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "simulate", "--sink", "kafka://x:1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "--sink 'kafka://x:1'" in done.stderr
