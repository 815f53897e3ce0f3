"""The experiments file: allocation is sticky and follows the weights; bad files are refused
with a message naming the file and field."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from common.experiments import Cell, Experiments, ExperimentsError, Exploration, load, parse
from gateway.backends import Backends

NOW = datetime(2026, 12, 2, 12, tzinfo=UTC)
VIEWERS = [f"viewer-{n}" for n in range(100_000)]


def experiment(
    name: str = "new-model", traffic: list[float] | None = None, **fields: object
) -> dict:
    return {
        "name": name,
        "start": "2026-12-01T00:00:00Z",
        "end": "2026-12-31T00:00:00+00:00",
        "traffic": traffic or [0.0, 0.5],
        "cells": [
            {"name": "control", "weight": 0.2, "policy": "default"},
            {"name": "treatment", "weight": 0.3, "policy": {"model_version": "learned-1"}},
            {
                "name": "explore",
                "weight": 0.5,
                "policy": {"exploration": {"mode": "epsilon_greedy", "epsilon": 0.2}},
            },
        ],
        **fields,
    }


def test_the_cells_match_the_weights_and_the_traffic_share_within_sampling_error() -> None:
    experiments = parse({"experiments": [experiment()]})
    cells: Counter[str] = Counter()
    outside = 0
    for viewer in VIEWERS:
        assignment = experiments.assign(viewer, NOW)
        if assignment is None:
            outside += 1
        else:
            cells[assignment.cell.name] += 1
    inside = len(VIEWERS) - outside
    # traffic [0, 0.5): a binomial share, 4 standard deviations (0.0016 at n = 100,000)
    assert abs(inside / len(VIEWERS) - 0.5) < 4 * (0.25 / len(VIEWERS)) ** 0.5
    weights = {"control": 0.2, "treatment": 0.3, "explore": 0.5}
    chi_square = sum((cells[c] - inside * w) ** 2 / (inside * w) for c, w in weights.items())
    assert chi_square < 13.82  # df = 2, p = 0.001
    for cell, weight in weights.items():
        assert abs(cells[cell] / inside - weight) < 4 * (weight * (1 - weight) / inside) ** 0.5


def test_a_viewers_cell_is_the_same_every_time_and_recomputable_from_the_documented_hash() -> None:
    experiments = parse({"experiments": [experiment()]})
    first = [experiments.assign(viewer, NOW) for viewer in VIEWERS[:2000]]
    again = parse({"experiments": [experiment()]})
    assert [again.assign(viewer, NOW) for viewer in VIEWERS[:2000]] == first

    def unit(text: str) -> float:  # docs/experiments.md, written out again
        return (int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 11) / 2**53

    for viewer, assignment in zip(VIEWERS[:2000], first, strict=True):
        if unit(f"keyart-traffic\n{viewer}") >= 0.5:
            assert assignment is None
            continue
        point = unit(f"keyart-cell\nnew-model\n{viewer}")
        expected = "control" if point < 0.2 else "treatment" if point < 0.5 else "explore"
        assert assignment is not None and assignment.cell.name == expected


def test_viewers_outside_every_active_experiment_get_production() -> None:
    experiments = parse({"experiments": [experiment()]})
    inside = [v for v in VIEWERS[:1000] if experiments.assign(v, NOW) is not None]
    assert inside
    before = datetime(2026, 11, 30, 23, 59, tzinfo=UTC)
    at_end = datetime(2026, 12, 31, tzinfo=UTC)  # end is exclusive
    assert all(experiments.assign(v, before) is None for v in inside)
    assert all(experiments.assign(v, at_end) is None for v in inside)
    assert Experiments().assign(inside[0], NOW) is None


def test_two_experiments_on_disjoint_traffic_take_disjoint_viewers() -> None:
    experiments = parse({"experiments": [experiment("a", [0.0, 0.3]), experiment("b", [0.3, 1.0])]})
    names = Counter(a.experiment for v in VIEWERS[:20_000] if (a := experiments.assign(v, NOW)))
    assert sum(names.values()) == 20_000  # everyone in exactly one
    assert abs(names["a"] / 20_000 - 0.3) < 0.015


def write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "experiments.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def with_cell(index: int, **fields: object) -> dict:
    changed = experiment()
    changed["cells"][index] = {**changed["cells"][index], **fields}
    return changed


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            {"experiments": [with_cell(1, weight=0.2)]},
            "experiments[0].cells: weights sum to 0.9, not 1",
        ),
        (
            {"experiments": [with_cell(1, weight=-0.3)]},
            "experiments[0].cells[1].weight: -0.3 is not in (0, 1]",
        ),
        (
            {"experiments": [with_cell(2, policy="greedy")]},
            'experiments[0].cells[2].policy: "greedy" is not a policy',
        ),
        (
            {"experiments": [with_cell(2, policy={"exploration": {"mode": "thompson"}})]},
            "experiments[0].cells[2].policy.exploration.mode: 'thompson' is not one of",
        ),
        (
            {"experiments": [experiment(end="2026-11-01T00:00:00Z")]},
            "experiments[0].end: 2026-11-01T00:00:00Z is not after start 2026-12-01T00:00:00Z",
        ),
        (
            {"experiments": [experiment(start="2026-12-01T00:00:00")]},
            "experiments[0].start: '2026-12-01T00:00:00' has no zone",
        ),
        (
            {"experiments": [experiment("a", [0.0, 0.3]), experiment("b", [0.2, 0.6])]},
            "experiments[1].traffic: two experiments claiming the same traffic",
        ),
        (
            {"experiments": [experiment("a/b")]},
            "experiments[0].name: 'a/b' is not a name",
        ),
        (
            {"experiments": [experiment(traffic=[0.5, 1.5])]},
            "experiments[0].traffic: [0.5, 1.5) is not a range in [0, 1]",
        ),
        ('{"experiments": [', "line 1 column 18: not JSON (Expecting value)"),
    ],
)
def test_a_bad_file_is_refused_naming_the_file_and_field(
    tmp_path: Path, document: object, message: str
) -> None:
    path = write(tmp_path, document)
    with pytest.raises(ExperimentsError) as refused:
        load(path)
    assert str(refused.value).startswith(f"{path}: {message}")


def test_experiments_at_different_times_may_share_traffic() -> None:
    later = experiment("b", start="2026-12-31T00:00:00Z", end="2027-01-31T00:00:00Z")
    experiments = parse({"experiments": [experiment("a"), later]})
    assert [e.name for e in experiments.experiments] == ["a", "b"]


def test_a_model_version_the_ranker_does_not_hold_is_refused() -> None:
    experiments = parse({"experiments": [experiment()]})
    experiments.check_models({"bundled-1", "learned-1"})
    with pytest.raises(ExperimentsError) as refused:
        experiments.check_models({"bundled-1"})
    assert str(refused.value) == (
        "experiments[0].cells[1].policy.model_version: 'learned-1' is not held by the ranker "
        "(it holds bundled-1)"
    )


def test_a_cells_model_and_exploration_go_into_the_rank_request() -> None:
    cells = parse({"experiments": [experiment()]}).experiments[0].cells
    greedy = Cell("greedy", 1.0, exploration=Exploration())
    requests = {
        cell.name: Backends.rank_request(
            context=b"",
            catalog_version="v",
            first_rows=[0],
            candidate_counts=[1],
            page_id="p",
            cell=cell,
        )
        for cell in (*cells, greedy)
    }
    assert requests["treatment"].model_version == "learned-1"
    assert not requests["treatment"].HasField("exploration")
    assert requests["explore"].exploration.epsilon == pytest.approx(0.2)
    assert requests["explore"].model_version == ""
    assert requests["greedy"].HasField("exploration")  # greedy is a setting too, not "unset"
    production = Backends.rank_request(
        context=b"", catalog_version="v", first_rows=[0], candidate_counts=[1], page_id="p"
    )
    assert production.model_version == "" and not production.HasField("exploration")
