"""`keyart experiment report` on logs written with the real segment writer: the exact counts,
take rates and intervals per cell, the sample-ratio check, --json, the plot, and bad input."""

from __future__ import annotations

import json
import math
import struct
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from keyart.gateway.v1.gateway_service_pb2 import EVENT_KIND_CLICK as CLICK
from keyart.gateway.v1.gateway_service_pb2 import EVENT_KIND_QUALIFIED_PLAY as QUALIFIED_PLAY
from PIL import Image

from cli.main import main
from common.events import FeedbackEvent
from common.features import CONTEXT_DIM, VIEWER_DIM
from common.log_schema import FEEDBACK, IMPRESSIONS, PageImpression, TileDecision, feedback_record
from learning.clustered import Z95
from tests.unit.test_learning_logs import write

NOW = 1_790_000_000_000
TITLES = 5  # a page shows five titles
MINUTE_MS = 60_000


class LogBuilder:
    """Pages of one experiment and their plays, written as the gateway writes them."""

    def __init__(self) -> None:
        self.pages: list[dict] = []
        self.events: list[FeedbackEvent] = []

    def page(
        self,
        viewer: str,
        cell: str,
        plays: int,
        *,
        experiment: str = "exp",
        policy: str = "default",
        at_ms: int = NOW,
    ) -> str:
        page_id = f"page-{len(self.pages)}"
        tiles = tuple(
            TileDecision(f"t{i}", (f"t{i}/a", f"t{i}/b"), "cat-1", 2 * i, 0, 1.0, 0.0, False, False)
            for i in range(TITLES)
        )
        impression = PageImpression(
            page_id=page_id,
            user_id=viewer,
            time_ms=at_ms,
            context={"device_type": "DEVICE_TYPE_TV"},
            context_features=np.zeros(CONTEXT_DIM, np.float32),
            viewer_known=True,
            viewer_features=np.zeros(VIEWER_DIM, np.float32),
            model_version="" if policy == "default" else "learned-1",
            policy=policy,
            tiles=tiles,
            experiment=experiment,
            cell=cell,
        )
        self.pages.append(impression.to_record())
        for i in range(plays):
            self.events.append(
                FeedbackEvent(
                    f"{page_id}-{i}", viewer, page_id, f"t{i}", f"t{i}/a", QUALIFIED_PLAY, at_ms
                )
            )
        return page_id

    def write(self, directory: Path) -> Path:
        write(directory, IMPRESSIONS, self.pages)
        write(directory, FEEDBACK, [feedback_record(event) for event in self.events])
        return directory


def known_log(directory: Path) -> Path:
    """Control: c0 (2 pages, 1 play), c1 (1 page, 2 plays): 15 impressions, 3 plays.
    Treatment: t0 (1 page, 2 plays), t1 (1 page, 1 play), t2 (2 pages, 3 plays): 20, 6.
    Besides: a production page, another experiment's page, and feedback that is no reward."""
    log = LogBuilder()
    first = log.page("c0", "control", 1)
    log.page("c0", "control", 0, at_ms=NOW + MINUTE_MS)
    log.page("c1", "control", 2, at_ms=NOW + 2 * MINUTE_MS)
    treatment = {"policy": "epsilon_greedy(epsilon=0.1)"}
    log.page("t0", "treatment", 2, **treatment, at_ms=NOW + 3 * MINUTE_MS)
    log.page("t1", "treatment", 1, **treatment, at_ms=NOW + 4 * MINUTE_MS)
    log.page("t2", "treatment", 2, **treatment, at_ms=NOW + 5 * MINUTE_MS)
    log.page("t2", "treatment", 1, **treatment, at_ms=NOW + 6 * MINUTE_MS)
    log.page("p0", "", 3, experiment="")
    log.page("o0", "control", 4, experiment="other")
    log.events += [
        log.events[0],  # a retried event counts once
        FeedbackEvent("late", "c0", first, "t4", "t4/a", QUALIFIED_PLAY, NOW + 31 * MINUTE_MS),
        FeedbackEvent("click", "c0", first, "t3", "t3/a", CLICK, NOW),
    ]
    return log.write(directory)


def clustered(per_viewer: list[tuple[int, int]]) -> tuple[float, float]:
    """The delta-method take rate and standard error written out for (plays, impressions)."""
    plays = sum(y for y, _ in per_viewer)
    shown = sum(n for _, n in per_viewer)
    rate, m = plays / shown, len(per_viewer)
    squares = sum((y - rate * n) ** 2 for y, n in per_viewer)
    return rate, math.sqrt(m / (m - 1) * squares) / shown


def experiments_file(path: Path, weights: tuple[float, float] = (0.5, 0.5)) -> Path:
    start = datetime.fromtimestamp(NOW / 1000, UTC) - timedelta(days=1)
    path.write_text(
        json.dumps(
            {
                "experiments": [
                    {
                        "name": "exp",
                        "start": start.isoformat(),
                        "end": (start + timedelta(days=7)).isoformat(),
                        "traffic": [0.0, 1.0],
                        "cells": [
                            {"name": "control", "weight": weights[0], "policy": "default"},
                            {
                                "name": "treatment",
                                "weight": weights[1],
                                "policy": {"exploration": {"mode": "off"}},
                            },
                        ],
                    }
                ]
            }
        )
    )
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()  # what writing the log printed
    status = main(["experiment", "report", *args])
    out, err = capsys.readouterr()
    return status, out, err


def test_the_report_on_a_log_with_known_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    logs = known_log(tmp_path / "logs")
    status, out, err = run(capsys, "exp", "--log", str(logs), "--json")
    assert (status, err) == (0, "")
    report = json.loads(out)
    assert (report["experiment"], report["control"]) == ("exp", "control")
    control, treatment = report["cells"]
    assert [
        control[k] for k in ("cell", "policy", "viewers", "impressions", "qualified_plays")
    ] == [
        "control",
        "default",
        2,
        15,
        3,
    ]
    assert [treatment[k] for k in ("cell", "viewers", "impressions", "qualified_plays")] == [
        "treatment",
        3,
        20,
        6,
    ]
    assert treatment["policy"] == "epsilon_greedy(epsilon=0.1)"  # as logged, without a file
    rate_c, se_c = clustered([(1, 10), (2, 5)])
    rate_t, se_t = clustered([(2, 5), (1, 5), (3, 10)])
    assert (rate_c, rate_t) == pytest.approx((0.2, 0.3))
    assert control["take_rate"] == pytest.approx(
        {"value": 0.2, "low": 0.0, "high": 0.2 + Z95 * se_c}  # the low end clipped at 0
    )
    assert treatment["take_rate"] == pytest.approx(
        {"value": 0.3, "low": 0.3 - Z95 * se_t, "high": 0.3 + Z95 * se_t}
    )
    spread = Z95 * math.hypot(se_t / rate_t, se_c / rate_c)
    assert control["lift"] is None
    assert treatment["lift"] == pytest.approx(
        {"value": 0.5, "low": 1.5 * math.exp(-spread) - 1, "high": 1.5 * math.exp(spread) - 1}
    )
    assert report["sample_ratio"] is None  # no weights given


def test_the_table_names_every_column_and_the_control(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    logs = known_log(tmp_path / "logs")
    status, out, _ = run(capsys, "exp", "--log", str(logs))
    assert status == 0
    title, header, control, treatment, sample_ratio = out.strip().split("\n")
    assert title.startswith("experiment exp: control control;")
    assert header.split() == [
        "cell",
        "policy",
        "weight",
        "viewers",
        "impressions",
        "plays",
        "take",
        "rate",
        "[95",
        "%",
        "CI]",
        "lift",
        "vs",
        "control",
        "[95",
        "%",
        "CI]",
    ]
    assert control.split()[:5] == ["control", "default", "2", "15", "3"]
    assert "0.3000 [" in treatment and "+50.0 % [" in treatment
    assert sample_ratio.startswith("sample ratio: not checked")


def test_the_json_shape(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    logs = known_log(tmp_path / "logs")
    file = experiments_file(tmp_path / "experiments.json")
    _, out, _ = run(capsys, "exp", "--log", str(logs), "--json", "--experiments", str(file))
    report = json.loads(out)
    assert set(report) == {
        "experiment",
        "control",
        "level",
        "interval_method",
        "cells",
        "sample_ratio",
    }
    assert report["level"] == 0.95
    assert report["interval_method"] == "delta method, clustered by viewer"
    for cell in report["cells"]:
        assert set(cell) == {
            "cell",
            "policy",
            "weight",
            "viewers",
            "impressions",
            "qualified_plays",
            "take_rate",
            "lift",
        }
        assert set(cell["take_rate"]) == {"value", "low", "high"}
    assert [c["weight"] for c in report["cells"]] == [0.5, 0.5]
    assert report["cells"][1]["policy"] == "exploration"  # the file's name for it
    assert set(report["sample_ratio"]) == {
        "chi_square",
        "degrees_of_freedom",
        "p_value",
        "expected_viewers",
        "mismatch",
    }
    assert report["sample_ratio"]["expected_viewers"] == [2.5, 2.5]


def allocation_log(directory: Path, control: int, treatment: int) -> Path:
    log = LogBuilder()
    for i in range(control):
        log.page(f"c{i}", "control", i % 2)
    for i in range(treatment):
        log.page(f"t{i}", "treatment", i % 3 == 0, policy="greedy")
    return log.write(directory)


def test_a_skewed_allocation_warns_of_a_sample_ratio_mismatch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    logs = allocation_log(tmp_path / "logs", 200, 100)
    status, out, _ = run(capsys, "exp", "--log", str(logs), "--weights", "control=1,treatment=1")
    assert status == 0
    last = out.strip().split("\n")[-1]
    # chi-square = 2 · 50² / 150 = 33.3 on 1 df: p ≈ 8e-9
    assert last.startswith("WARNING: SAMPLE RATIO MISMATCH: chi-square 33.33 (1 df), p = 7.76e-09")
    assert "viewers per cell 200, 100, the weights expect 150.0, 150.0" in last

    _, _, err = run(
        capsys, "exp", "--log", str(logs), "--weights", "control=1,treatment=1", "--json"
    )
    assert "SAMPLE RATIO MISMATCH" in err  # --json keeps stdout one object, and says so too


def test_a_fair_allocation_does_not_warn(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    logs = allocation_log(tmp_path / "logs", 155, 145)  # chi-square 0.33, p = 0.564
    file = experiments_file(tmp_path / "experiments.json")
    status, out, err = run(capsys, "exp", "--log", str(logs), "--experiments", str(file))
    assert (status, err) == (0, "")
    assert "MISMATCH" not in out
    assert "sample ratio: chi-square 0.33 (1 df), p = 0.564: viewers per cell 155, 145" in out
    # the same 155 : 145 against weights 0.8 : 0.2 is a mismatch
    skewed = experiments_file(tmp_path / "skewed.json", (0.8, 0.2))
    _, out, _ = run(capsys, "exp", "--log", str(logs), "--experiments", str(skewed), "--json")
    assert json.loads(out)["sample_ratio"]["mismatch"] is True


def png_chunks(data: bytes) -> list[bytes]:
    """The chunk types of a PNG, each chunk's CRC checked."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    at, kinds = 8, []
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert zlib.crc32(kind + body) == crc
        kinds.append(kind)
        at += 12 + length
    return kinds


def test_the_plot_is_a_valid_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    logs = known_log(tmp_path / "logs")
    plot = tmp_path / "exp.png"
    status, _, _ = run(capsys, "exp", "--log", str(logs), "--plot", str(plot))
    assert status == 0
    kinds = png_chunks(plot.read_bytes())
    assert (kinds[0], kinds[-1]) == (b"IHDR", b"IEND")
    with Image.open(plot) as image:
        assert (image.format, image.size) == ("PNG", (960, 540))
        colours = {colour for _, colour in image.convert("RGB").getcolors(1 << 20) or []}
    assert (31, 119, 180) in colours and (255, 127, 14) in colours  # a line for each cell


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        (["--log", "{tmp}/missing"], "--log: {tmp}/missing is not a directory"),
        (["--log", "{tmp}/empty"], "no impressions in {tmp}/empty"),
        (
            ["--log", "{tmp}/logs", "--control", "nope"],
            "--control: 'nope' is not a cell (cells: control, treatment)",
        ),
        (["--log", "{tmp}/logs", "--weights", "control=0.5,treatment"], "--weights: expected"),
        (
            ["--log", "{tmp}/logs", "--weights", "control=1"],
            "cells 'treatment' are logged for 'exp' but have no weight",
        ),
        (
            ["--log", "{tmp}/logs", "--experiments", "{tmp}/bad.json"],
            "{tmp}/bad.json: line 1 column 1: not JSON",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], problem: str
) -> None:
    known_log(tmp_path / "logs")
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad.json").write_text("nope")
    status, out, err = run(capsys, "exp", *(a.format(tmp=tmp_path) for a in arguments))
    assert (status, out) == (2, "")
    assert err.count("\n") == 1
    assert err.startswith(f"keyart experiment report: {problem.format(tmp=tmp_path)}")


def test_an_unknown_experiment_names_the_ones_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    logs = known_log(tmp_path / "logs")
    status, _, err = run(capsys, "nope", "--log", str(logs))
    assert status == 2
    assert err == (
        f"keyart experiment report: unknown experiment 'nope': no impressions of it in {logs} "
        "(experiments logged there: exp, other)\n"
    )
    file = experiments_file(tmp_path / "experiments.json")
    status, _, err = run(capsys, "nope", "--log", str(logs), "--experiments", str(file))
    assert (status, err) == (
        2,
        f"keyart experiment report: unknown experiment 'nope': {file} defines exp\n",
    )
