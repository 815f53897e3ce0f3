"""`keyart dataset compact` against a real gateway: the segments it is writing wait, and once
it has stopped, the dataset holds every logged decision with the play joined as its reward."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from keyart.gateway.v1 import gateway_service_pb2 as pb

from cli.run import ensure_model
from common.storage import Location
from demo.pages import demo_page
from learning.dataset import load
from learning.parquet_reader import load_dataset
from suite.client import PageClient
from suite.supervisor import Suite, local_suite_config
from tests.e2e.test_learning_loop import wait_for_page


def compact(logs: Path, dataset: Path) -> str:
    command = ["dataset", "compact", "--logs", str(logs), "--dataset", str(dataset)]
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", *command],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()[-1]


def test_compaction_waits_for_the_gateways_open_segments(tmp_path: Path) -> None:
    ensure_model(tmp_path / "models" / "bundled.onnx")
    config = local_suite_config(tmp_path, tmp_path / "models" / "bundled.onnx")
    config = replace(config, extra_env={**config.extra_env, "RANKER_EXPLORATION": "epsilon_greedy"})
    logs, dataset = tmp_path / "logs", tmp_path / "dataset"
    with open(tmp_path / "services.log", "wb") as services_log:
        suite = Suite(config, services_log)
        suite.start()
        try:
            with PageClient(config.addresses["gateway"]) as client:
                pages = [client.render_page("romance-fan", demo_page()) for _ in range(5)]
                tile = pages[0].rows[0].tiles[0]
                client.report_event(
                    user_id="romance-fan",
                    title_id=tile.title_id,
                    artwork_id=tile.artwork_id,
                    page_id=pages[0].page_id,
                    kind=pb.EVENT_KIND_QUALIFIED_PLAY,
                )
            wait_for_page(logs, pages[-1].page_id)
            while_serving = compact(logs, dataset)
        finally:
            suite.stop()

    assert while_serving == (
        "compacted 0 segments: 0 decisions, 0 feedback rows, 0 action sets added; "
        "0 decisions skipped (no catalog snapshot); 2 open segments left for a later run"
    )
    after = compact(logs, dataset)
    logged = load(logs)
    assert after.startswith(f"compacted 2 segments: {len(logged)} decisions, 1 feedback rows")
    assert after.endswith("0 open segments left for a later run")
    back = load_dataset(Location.local(dataset))
    for name in ("chosen", "propensity", "reward", "counts", "artwork", "viewer", "context"):
        np.testing.assert_array_equal(getattr(back, name), getattr(logged, name), err_msg=name)
    assert back.reward.sum() == 1 and (back.propensity < 1).any()
