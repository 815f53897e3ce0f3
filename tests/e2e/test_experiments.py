"""The real suite running an experiment: a `default` control against a cell model. Each
viewer gets the same cell on every page, the response names it, the cell's policy serves
the page, and the impression log records experiment and cell; a bad file is refused and
the experiment in effect keeps running."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from keyart.gateway.v1 import gateway_service_pb2 as pb

from cli.preview_process import preview_process
from cli.run import ensure_model
from cli.seed import seeded_suite
from common.experiments import parse
from demo.pages import demo_page
from learning.dataset import read_pages
from services.ranker.model import RankingModel
from suite.client import PageClient
from suite.supervisor import SuiteConfig
from tests.unit.test_model_watch import other_model

VIEWERS = ["romance-fan", "comedy-fan", *(f"experiment-viewer-{n}" for n in range(30))]
CONTROL = pb.FALLBACK_REASON_EXPERIMENT_CONTROL


def experiments_file(treatment_version: str) -> dict:
    now = datetime.now(UTC)
    return {
        "experiments": [
            {
                "name": "new-model",
                "start": (now - timedelta(days=1)).isoformat(),
                "end": (now + timedelta(days=1)).isoformat(),
                "traffic": [0.0, 0.8],
                "cells": [
                    {"name": "control", "weight": 0.5, "policy": "default"},
                    {
                        "name": "treatment",
                        "weight": 0.5,
                        "policy": {"model_version": treatment_version},
                    },
                ],
            }
        ]
    }


def write_atomically(path: Path, document: object) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(document))
    temporary.replace(path)


class Running:
    def __init__(self, config: SuiteConfig, client: PageClient, treatment: str) -> None:
        self.config, self.client, self.treatment = config, client, treatment
        self.file = Path(config.extra_env["GATEWAY_EXPERIMENTS_FILE"])

    def page(self, viewer: str) -> pb.RenderPageResponse:
        return self.client.render_page(viewer, demo_page(), budget_ms=5000)

    def services_log(self) -> str:
        return (self.config.data_dir / "services.log").read_text(errors="replace")


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    data_dir = tmp_path_factory.mktemp("experiments")
    model_path = data_dir / "models" / "bundled.onnx"
    ensure_model(model_path)
    (data_dir / "cells").mkdir()
    treatment = other_model(data_dir / "cells" / "treatment.onnx", -2.0)
    experiments = data_dir / "experiments.json"
    write_atomically(experiments, experiments_file(treatment))
    extra_env = {
        "RANKER_CELL_MODEL_DIR": str(data_dir / "cells"),
        "GATEWAY_EXPERIMENTS_FILE": str(experiments),
        "GATEWAY_EXPERIMENTS_POLL_S": "0.2",
    }
    with (
        seeded_suite(data_dir, model_path, extra_env) as suite,
        PageClient(suite.services["gateway"].address) as client,
    ):
        running = Running(suite.config, client, treatment)
        deadline = time.monotonic() + 30
        while not any(running.page(v).experiment for v in VIEWERS[:4]):
            assert time.monotonic() < deadline, "the experiments file never took effect"
            time.sleep(0.2)
        yield running


def wait_for_log(directory: Path, page_ids: set[str]) -> dict[str, tuple[str, str, str]]:
    """page id → (experiment, cell, policy) of each logged page, once all of `page_ids` are in."""
    deadline = time.monotonic() + 30
    while True:
        logged = {p.page_id: (p.experiment, p.cell, p.policy) for p in read_pages(directory)}
        if page_ids <= set(logged) or time.monotonic() > deadline:
            return logged
        time.sleep(0.2)


def test_each_viewer_gets_the_same_cell_on_every_page_served_by_its_policy(
    running: Running,
) -> None:
    expected = parse(experiments_file(running.treatment))
    cells: dict[str, set[tuple[str, str]]] = {}
    served: dict[str, tuple[str, str]] = {}
    production = RankingModel(running.config.model_path).version
    for viewer in VIEWERS:
        assignment = expected.assign(viewer, datetime.now(UTC))
        want = ("", "") if assignment is None else (assignment.experiment, assignment.cell.name)
        for _ in range(3):
            response = running.page(viewer)
            got = (response.experiment, response.cell)
            cells.setdefault(viewer, set()).add(got)
            served[response.page_id] = got
            assert got == want, viewer
            assert response.degradations == []
            tiles = [tile for row in response.rows for tile in row.tiles]
            if got[1] == "control":  # every title's default, and no ranker call
                assert response.model_version == ""
                assert {tile.fallback_reason for tile in tiles} == {CONTROL}
                assert not any(tile.personalized for tile in tiles)
                assert {tile.propensity for tile in tiles} == {1.0}
            elif got[1] == "treatment":
                assert response.model_version == running.treatment
            else:
                assert response.model_version == production
    assert all(len(seen) == 1 for seen in cells.values())  # sticky
    names = {cell for seen in cells.values() for _, cell in seen}
    assert names == {"control", "treatment", ""}  # both cells and the production rest

    logged = wait_for_log(Path(running.config.env_for("gateway")["GATEWAY_LOG_DIR"]), set(served))
    assert set(served) <= set(logged)
    for page_id, (experiment, cell) in served.items():
        assert logged[page_id][:2] == (experiment, cell)
        if cell == "control":
            assert logged[page_id][2] == "default"


def test_a_bad_file_is_refused_and_the_experiment_in_effect_keeps_running(
    running: Running,
) -> None:
    viewer = next(v for v in VIEWERS if running.page(v).cell == "treatment")
    bad = experiments_file("learned-not-held")
    write_atomically(running.file, bad)
    deadline = time.monotonic() + 15
    while "experiments file refused" not in running.services_log():
        assert time.monotonic() < deadline, "the bad file was not refused"
        time.sleep(0.2)
    line = next(
        line for line in running.services_log().splitlines() if "experiments file refused" in line
    )
    assert (
        f"{running.file}: experiments[0].cells[1].policy.model_version: 'learned-not-held' "
        "is not held by the ranker"
    ) in json.loads(line)["reason"]
    response = running.page(viewer)
    assert (response.experiment, response.cell) == ("new-model", "treatment")
    assert response.model_version == running.treatment
    write_atomically(running.file, experiments_file(running.treatment))


def test_the_preview_shows_each_viewers_cell(running: Running) -> None:
    by_cell = {running.page(v).cell: v for v in VIEWERS}
    control, treatment, outside = by_cell["control"], by_cell["treatment"], by_cell[""]
    with open(running.config.data_dir / "preview.log", "wb") as log:
        preview = preview_process(running.config, log)
        preview.start()
        try:
            preview.wait_serving()
            url = f"http://{preview.address}/?user={control}&user={treatment}"
            with urllib.request.urlopen(url, timeout=10) as response:
                both = response.read().decode()
            url = f"http://{preview.address}/?user={outside}"
            with urllib.request.urlopen(url, timeout=10) as response:
                alone = response.read().decode()
        finally:
            assert preview.stop() == 0
    assert "data-cell='control'>experiment new-model, cell control</p>" in both
    assert "data-cell='treatment'>experiment new-model, cell treatment</p>" in both
    assert "no experiment: the production policy" in alone


def test_a_cell_model_the_ranker_no_longer_holds_ranks_its_pages_with_production(
    running: Running,
) -> None:
    """Runs last: it replaces the treatment's model file with other weights (a new version)."""
    viewer = next(v for v in VIEWERS if running.page(v).cell == "treatment")
    cells = Path(running.config.extra_env["RANKER_CELL_MODEL_DIR"])
    replaced = other_model(cells / "treatment.onnx", -2.5)
    production = RankingModel(running.config.model_path).version
    deadline = time.monotonic() + 15
    while (response := running.page(viewer)).model_version == running.treatment:
        assert time.monotonic() < deadline, "the cell model was not swapped"
        time.sleep(0.2)
    assert replaced != running.treatment
    assert (response.experiment, response.cell) == ("new-model", "treatment")
    assert response.model_version == production
    assert response.degradations == []
    assert "experiment cell's model is not held by the ranker" in running.services_log()
