"""`keyart model publish|list|rollback` on a real directory: the layout, the rule, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest

from cli.main import main
from common.model_contract import build_model, card_location, card_path, save_model
from common.models_pointer import POINTER_NAME, Pointer, model_file, read_pointer
from common.storage import Location
from services.ranker.model_recipe import bundled_weights
from tests.unit.test_model_watch import other_model


def named_model(name: str) -> onnx.ModelProto:
    return build_model(bundled_weights(), name=name)


def keyart(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def built(tmp_path: Path, name: str, bias: float, estimate: float | None) -> tuple[Path, str]:
    path = tmp_path / "built" / f"{name}.onnx"
    path.parent.mkdir(exist_ok=True)
    return path, other_model(path, bias, estimate)


def two_built(tmp_path: Path) -> tuple[Path, Path, str, Path, str]:
    """An empty models location and two built models (estimates 0.10, then 0.12)."""
    first, v1 = built(tmp_path, "a", -2.0, 0.10)
    second, v2 = built(tmp_path, "b", -2.5, 0.12)
    return tmp_path / "models", first, v1, second, v2


def test_publish_copies_model_and_card_and_points_at_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models, first, v1, second, v2 = two_built(tmp_path)
    assert keyart(capsys, "model", "publish", str(first), "--models", str(models))[0] == 0
    code, out, _ = keyart(capsys, "model", "publish", str(second), "--models", str(models))
    assert (code, out) == (0, f"published {v2} to {models} (was {v1})\n")
    assert read_pointer(Location.local(models)) == Pointer(v2, (v1,))
    assert model_file(Location.local(models), v2).read_bytes() == second.read_bytes()
    assert json.loads(card_location(model_file(Location.local(models), v2)).read_text())[
        "offline_estimate"
    ] == {"value": 0.12}

    code, out, _ = keyart(capsys, "model", "list", "--models", str(models))
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["VERSION", "CREATED", "ESTIMATE", "STATE"]
    rows = {line.split()[0]: line.split()[2:] for line in lines[1:]}
    assert rows == {v1: ["0.10000", "previous", "1"], v2: ["0.12000", "current"]}


def test_rollback_serves_the_previous_and_refuses_when_there_is_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models, first, v1, second, v2 = two_built(tmp_path)
    for path in (first, second):
        keyart(capsys, "model", "publish", str(path), "--models", str(models))
    code, out, _ = keyart(capsys, "model", "rollback", "--models", str(models))
    assert (code, out) == (0, f"rolled back {models} from {v2} to {v1}\n")
    assert read_pointer(Location.local(models)) == Pointer(v1)
    code, out, err = keyart(capsys, "model", "rollback", "--models", str(models))
    assert (code, out) == (2, "")
    assert err == f"keyart model rollback: no previous model to roll back to (only {v1} served)\n"


def test_a_model_the_rule_refuses_is_not_published_unless_the_rule_is_newest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models = tmp_path / "models"
    good, v1 = built(tmp_path, "a", -2.0, 0.12)
    worse, v2 = built(tmp_path, "b", -2.5, 0.05)
    keyart(capsys, "model", "publish", str(good), "--models", str(models))
    code, _, err = keyart(capsys, "model", "publish", str(worse), "--models", str(models))
    assert code == 2
    assert err.startswith(f"keyart model publish: {worse}: offline estimate 0.05000 is below")
    assert (
        read_pointer(Location.local(models)) == Pointer(v1)
        and not model_file(Location.local(models), v2).exists()
    )
    argv = ("model", "publish", str(worse), "--models", str(models), "--rule", "newest")
    assert keyart(capsys, *argv)[0] == 0
    assert read_pointer(Location.local(models)) == Pointer(v2, (v1,))


@pytest.mark.parametrize(
    ("write", "problem"),
    [
        (lambda path: path.write_bytes(b"not an onnx model"), "cannot be loaded"),
        (
            lambda path: (other_model(path, -2.0), card_path(path).write_text("{")),
            "model card",
        ),
        (lambda path: None, "no such model file"),
        (lambda path: save_model(named_model("no/such"), path), "version 'no/such-"),
    ],
)
def test_a_bad_model_is_refused_in_one_line_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], write: object, problem: str
) -> None:
    models = tmp_path / "models"
    good, v1 = built(tmp_path, "good", -2.0, 0.1)
    keyart(capsys, "model", "publish", str(good), "--models", str(models))
    before = sorted(p.name for p in models.iterdir())
    bad = tmp_path / "bad.onnx"
    write(bad)  # type: ignore[operator]  # the parametrized writers take a path
    code, out, err = keyart(capsys, "model", "publish", str(bad), "--models", str(models))
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and err.startswith("keyart model publish: ") and problem in err
    assert "Traceback" not in err
    assert sorted(p.name for p in models.iterdir()) == before
    assert read_pointer(Location.local(models)) == Pointer(v1)


def test_bad_models_directory_and_pointer_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere"
    code, _, err = keyart(capsys, "model", "list", "--models", str(missing))
    assert (code, err) == (2, f"keyart model list: --models: {missing} is not a directory\n")
    (tmp_path / POINTER_NAME).write_text('{"schema": "keyart-models/1", "current": ""}')
    code, _, err = keyart(capsys, "model", "rollback", "--models", str(tmp_path))
    assert code == 2
    assert err == (
        f"keyart model rollback: {tmp_path / POINTER_NAME}:1: current: "
        "expected a model version, got ''\n"
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = keyart(capsys, "model", "rollback", "--models", str(empty))
    assert (code, err) == (
        2,
        f"keyart model rollback: {empty}: no current.json; nothing was published here\n",
    )


def test_list_names_an_unreachable_ranker_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = keyart(
        capsys, "model", "list", "--models", str(tmp_path), "--ranker", "127.0.0.1:1"
    )
    assert code == 1
    assert out.splitlines()[-1].startswith("ranker 127.0.0.1:1: UNAVAILABLE")
