"""Every bad input to the bandit-log readers is refused in one line naming file, line (or row) and
field, with exit status 2: keyart-bandit/1 (`keyart evaluate --log`), DSJSON and OBP imports."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from cli.main import main
from common.features import ARTWORK_DIM, CONTEXT_DIM, VIEWER_DIM
from common.storage import Location
from learning.parquet_layout import DECISIONS, parts
from tests.unit.obp_data import obp_feedback

REPO = Path(__file__).resolve().parents[2]


def _refusal(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The one line `keyart ARGV` printed on stderr, having exited 2."""
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


# keyart-bandit/1 ---------------------------------------------------------------------------


def _bandit_decision(**changes: object) -> str:
    decision: dict[str, object] = {
        "viewer": [0.0] * VIEWER_DIM,
        "context": [0.0] * CONTEXT_DIM,
        "candidates": [[0.5] * ARTWORK_DIM, [0.25] * ARTWORK_DIM],
        "chosen": 1,
        "propensity": 0.5,
        "reward": 1,
    }
    decision.update(changes)
    return json.dumps(decision)


HEADER = '{"schema": "keyart-bandit/1"}'
GOOD = _bandit_decision()
NAN_VIEWER = GOOD.replace('"viewer": [0.0', '"viewer": [NaN', 1)

BANDIT_CASES = [
    ([HEADER, GOOD, _bandit_decision(propensity=0)], ":3: propensity: 0 is outside (0, 1]"),
    ([HEADER, _bandit_decision(propensity=1.5)], ":2: propensity: 1.5 is outside (0, 1]"),
    ([HEADER, _bandit_decision(chosen=2)], ":2: chosen: 2 is outside [0, 1]"),
    ([HEADER, _bandit_decision(chosen=-1)], ":2: chosen: -1 is outside [0, 1]"),
    ([HEADER, _bandit_decision(chosen=0.7)], ":2: chosen: 0.7 is not an integer"),
    ([HEADER, _bandit_decision(chosen=True)], ":2: chosen: true is not an integer"),
    ([HEADER, _bandit_decision(reward=2)], ":2: reward: 2 is outside the declared reward range"),
    ([HEADER, _bandit_decision(reward=-1)], ":2: reward: -1 is outside the declared reward range"),
    ([HEADER, NAN_VIEWER], ":2: viewer[0]: NaN or infinity is not a number"),
    ([HEADER, GOOD.replace('"reward": 1', '"reward": Infinity')], ":2: reward: NaN or infinity"),
    ([HEADER, _bandit_decision(propensity="0.5")], ':2: propensity: "0.5" is a string'),
    ([HEADER, _bandit_decision(viewer=["0"] * VIEWER_DIM)], ':2: viewer[0]: "0" is a string'),
    ([HEADER, _bandit_decision(viewer=[0.0] * 3)], f":2: viewer: 3 numbers, expected {VIEWER_DIM}"),
    ([HEADER, _bandit_decision(candidates=[])], ":2: candidates: expected a non-empty list"),
    ([HEADER, GOOD[:40]], ":2: line: not JSON"),
    ([HEADER, "", GOOD], ":2: line: blank line"),
    (['{"schema": "keyart-bandit/2"}', GOOD], ':1: schema: "keyart-bandit/2", expected'),
    ([GOOD], ":1: schema: null, expected"),
    ([HEADER], ": file: no decisions after the header"),
    ([], ": file: empty: no header, no decisions"),
]


EVALUATE = ["evaluate", "--log", "{path}"]


def _refused_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], lines: list[str], command: list[str]
) -> tuple[Path, str]:
    """The file of `lines`, and the one line `keyart COMMAND` (`{path}`, `{dataset}`) refused it in."""
    path = tmp_path / "log.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    dataset = tmp_path / "dataset"
    line = _refusal([a.format(path=path, dataset=dataset) for a in command], capsys)
    assert not parts(Location.local(dataset), DECISIONS), "a refused file writes nothing"
    return path, line


# DSJSON ------------------------------------------------------------------------------------


def _dsjson(**changes: object) -> str:
    decision: dict[str, object] = {
        "_label_cost": -1,
        "_label_probability": 0.5,
        "_label_Action": 2,
        "_labelIndex": 1,
        "EventId": "e",
        "a": [2, 1],
        "c": {"User": {"age": 31}, "_multi": [{"A": {"t": "x"}}, {"A": {"t": "y"}}]},
        "p": [0.5, 0.5],
    }
    decision.update(changes)
    return json.dumps({key: value for key, value in decision.items() if value is not None})


DSJSON_GOOD = _dsjson(EventId="first")
DSJSON_CASES = [
    ([DSJSON_GOOD, _dsjson(_label_probability=0)], ":2: _label_probability: 0 is outside (0, 1]"),
    ([_dsjson(_label_probability=1.5)], ":1: _label_probability: 1.5 is outside (0, 1]"),
    (
        [_dsjson(_label_cost=-2)],
        ":1: _label_cost: cost -2 (reward 2) is outside the declared reward range [0, 1]",
    ),
    (
        [_dsjson(_label_cost=0.5)],
        ":1: _label_cost: cost 0.5 (reward -0.5) is outside the declared reward range",
    ),
    ([_dsjson().replace('"age": 31', '"age": NaN')], ":1: c.User.age: NaN or infinity"),
    (
        [_dsjson().replace('"_label_probability": 0.5', '"_label_probability": 1e999')],
        ":1: _label_probability: NaN or infinity",
    ),
    ([_dsjson(_labelIndex=0.7, _label_Action=None)], ":1: _labelIndex: 0.7 is not an integer"),
    ([_dsjson(_labelIndex=1.0)], ":1: _labelIndex: 1.0 is not an integer"),
    ([_dsjson(_labelIndex=True, _label_Action=None)], ":1: _labelIndex: true is not an integer"),
    ([_dsjson(_labelIndex=2, _label_Action=None)], ":1: _labelIndex: 2 is outside [0, 1]"),
    ([_dsjson(_labelIndex=None, _label_Action=0)], ":1: _label_Action: 0 is outside [1, 2]"),
    ([_dsjson(_label_Action=1)], ":1: _label_Action: 1 disagrees with _labelIndex 1"),
    ([_dsjson(_labelIndex=None, _label_Action=None)], ":1: _labelIndex: missing"),
    ([_dsjson(_label_cost="-1")], ':1: _label_cost: "-1" is a string, not a number'),
    ([_dsjson(_label_probability="0.5")], ':1: _label_probability: "0.5" is a string'),
    ([_dsjson(a=[2.5, 1])], ":1: a[0]: 2.5 is not an integer"),
    ([_dsjson(a=[1, 1])], ":1: a: an action id is listed twice"),
    ([_dsjson(p=[0.5, 2])], ":1: p[1]: 2 is outside [0, 1]"),
    ([_dsjson(c=None)], ":1: c: missing"),
    ([_dsjson(c={"User": {}})], ":1: c._multi: missing"),
    ([_dsjson(_label_cost=None)], ":1: _label_cost: missing"),
    ([_dsjson(Timestamp="yesterday")], ":1: Timestamp: 'yesterday' is not an ISO 8601 time"),
    ([DSJSON_GOOD, _dsjson(EventId="first")], ":2: EventId: 'first' is on an earlier line too"),
    ([_dsjson(), _dsjson()[:30]], ":2: line: not JSON"),
    ([_dsjson(), "   ", _dsjson()], ":2: line: blank line"),
    (["[1, 2]"], ":1: line: a JSON list, expected an object"),
    ([], ": file: no decisions"),
    (
        [_dsjson(EventId="1"), _dsjson(c={"User": {"age": {"years": 3}}, "_multi": [{}, {}]})],
        ": c.User.age: a number on some lines, a string or an object on others",
    ),
    (
        [_dsjson(c={"_multi": [{"A": {"t": 1}}, {"A": {"t": "y"}}]})],
        ": c._multi[…].A.t: a number on some lines, a string or an object on others",
    ),
]


IMPORT_DSJSON = ["dataset", "import", "--format", "dsjson", "{path}", "--dataset", "{dataset}"]


TEXT_CASES = [("evaluate", EVALUATE, *case) for case in BANDIT_CASES] + [
    ("dataset import", IMPORT_DSJSON, *case) for case in DSJSON_CASES
]


@pytest.mark.parametrize(("name", "command", "lines", "problem"), TEXT_CASES)
def test_text_file_refusals(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    command: list[str],
    lines: list[str],
    problem: str,
) -> None:
    path, line = _refused_lines(tmp_path, capsys, lines, command)
    assert line.startswith(f"keyart {name}: {path}{problem}"), line


# OBP ---------------------------------------------------------------------------------------


def _set(key: str, row: int | tuple[int, int], value: object) -> Callable[[dict], None]:
    def damage(arrays: dict[str, np.ndarray]) -> None:
        arrays[key] = arrays[key].astype(np.float64) if isinstance(value, float) else arrays[key]
        arrays[key][row] = value

    return damage


def _replace(key: str, value: object) -> Callable[[dict], None]:
    def damage(arrays: dict[str, np.ndarray]) -> None:
        if value is None:
            del arrays[key]
        else:
            arrays[key] = np.asarray(value)

    return damage


OBP_CASES = [
    (_set("pscore", 3, 0.0), ": row 3: pscore: 0 is outside (0, 1]"),
    (_set("pscore", 0, 1.5), ": row 0: pscore: 1.5 is outside (0, 1]"),
    (_set("reward", 4, 2.0), ": row 4: reward: 2 is outside the declared reward range [0, 1]"),
    (_set("context", (4, 1), np.nan), ": row 4: context[1]: nan is not a finite number"),
    (_set("pscore", 2, np.inf), ": row 2: pscore: inf is not a finite number"),
    (_set("action", 5, 3.7), ": row 5: action: 3.7 is not an integer (float64)"),
    (_set("action", 1, 3), ": row 1: action: 3 is outside [0, 2]"),
    (_set("position", 1, -1), ": row 1: position: -1 is outside"),
    (_replace("reward", ["1"] * 6), ": reward: <U1 (strings), expected numbers"),
    (_replace("action", [True] * 6), ": action: bool, expected numbers"),
    (_replace("pscore", None), ": pscore: missing"),
    (_replace("n_rounds", 7), ": action: shape (6,), expected (7,)"),
    (_replace("context", np.zeros(6)), ": context: shape (6,), expected (6, d ≥ 1)"),
]


@pytest.mark.parametrize(("damage", "problem"), OBP_CASES)
def test_obp_import_refusals(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    damage: Callable[[dict], None],
    problem: str,
) -> None:
    arrays = obp_feedback(6, 3, seed=0)
    damage(arrays)
    path = tmp_path / "feedback.npz"
    np.savez(path, **arrays)
    dataset = tmp_path / "dataset"
    argv = ["dataset", "import", "--format", "obp", str(path), "--dataset", str(dataset)]
    assert _refusal(argv, capsys).startswith(f"keyart dataset import: {path}{problem}")
    assert not parts(Location.local(dataset), DECISIONS)


def test_obp_refuses_an_empty_log_and_a_file_that_is_not_an_archive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.npz"
    np.savez(empty, **obp_feedback(0, 3, seed=0))
    argv = ["dataset", "import", "--format", "obp", str(empty), "--dataset", str(tmp_path / "d")]
    assert _refusal(argv, capsys) == f"keyart dataset import: {empty}: n_rounds: 0: no decisions"
    text = tmp_path / "feedback.npz"
    text.write_text("not an archive\n")
    argv[4] = str(text)
    assert _refusal(argv, capsys).startswith(
        f"keyart dataset import: {text}: file: not an .npz archive"
    )


def test_an_unknown_format_and_a_bad_reward_range_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "log.dsjson"
    path.write_text(_dsjson() + "\n")
    argv = ["dataset", "import", "--format", "csv", str(path), "--dataset", str(tmp_path / "d")]
    assert _refusal(argv, capsys) == (
        "keyart dataset import: --format: 'csv' is not one of dsjson, obp"
    )
    argv[3:4] = ["dsjson", "--reward-range", "1,0"]
    assert _refusal(argv, capsys) == (
        "keyart dataset import: --reward-range: '1,0': expected finite LO < HI"
    )


@pytest.mark.parametrize(
    ("argv", "content", "expected"),
    [
        (
            EVALUATE,
            f"{HEADER}\n{GOOD}\n{_bandit_decision(chosen=0.7)}\n",
            "keyart evaluate: {path}:3: chosen: 0.7 is not an integer",
        ),
        (
            IMPORT_DSJSON,
            f"{_dsjson()}\n{_dsjson(EventId='x')}\n{_dsjson(EventId='y', _label_cost=-2)}\n",
            "keyart dataset import: {path}:3: _label_cost: cost -2 (reward 2) is outside the "
            "declared reward range [0, 1]",
        ),
        (
            IMPORT_DSJSON,
            f"{_dsjson()}\n\n",
            "keyart dataset import: {path}:2: line: blank line",
        ),
    ],
)
def test_the_real_command_answers_one_line_and_status_2(
    tmp_path: Path, argv: list[str], content: str, expected: str
) -> None:
    path, dataset = tmp_path / "log.jsonl", tmp_path / "dataset"
    path.write_text(content)
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", *(a.format(path=path, dataset=dataset) for a in argv)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr == expected.format(path=path) + "\n"
    assert not re.search("Traceback", done.stderr)
