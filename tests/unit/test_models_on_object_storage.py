"""The models location on a real S3-compatible server (tests/s3_server.py): `keyart model`,
the ranker's watcher and its settings, and locations that cannot be used."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from common.config import ConfigError
from common.model_contract import build_model, save_model
from common.models_pointer import Pointer, model_file, write_pointer
from common.storage import Location
from services.ranker.config import RankerConfig
from services.ranker.model_recipe import bundled_weights
from services.ranker.model_watch import ModelWatcher
from suite.supervisor import free_address
from tests.s3_server import S3Server
from tests.unit.test_model_commands import built, keyart
from tests.unit.test_model_watch import Stub, other_model, run_with_watcher
from tests.unit.test_ranker_service import page_request


def test_publish_to_s3_writes_model_card_and_pointer_and_list_shows_them(
    s3_server: S3Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = s3_server.url("models")
    store = Location.parse(url)
    first, v1 = built(tmp_path, "a", -2.0, 0.10)
    second, v2 = built(tmp_path, "b", -2.5, 0.12)
    for model in (first, second):
        assert keyart(capsys, "model", "publish", str(model), "--models", url)[0] == 0
    assert [f.name for f in store.files()] == sorted(
        ["current.json", f"{v1}.onnx", f"{v1}.card.json", f"{v2}.onnx", f"{v2}.card.json"]
    )
    assert json.loads((store / "current.json").read_text())["current"] == v2
    assert model_file(store, v2).read_bytes() == second.read_bytes()

    code, out, _ = keyart(capsys, "model", "list", "--models", url)
    rows = {line.split()[0]: line.split()[2:] for line in out.splitlines()[1:]}
    assert code == 0 and rows == {v1: ["0.10000", "previous", "1"], v2: ["0.12000", "current"]}
    code, out, _ = keyart(capsys, "model", "rollback", "--models", url)
    assert (code, out) == (0, f"rolled back {store} from {v2} to {v1}\n")


def unreachable_url() -> str:
    """An S3 location on a loopback port nothing listens on."""
    return (
        f"s3://keyart-none/models?endpoint_override={free_address()}&scheme=http&region=us-east-1"
    )


@pytest.mark.parametrize(
    ("location", "problem"),
    [
        ("ftp://x/models", "ftp://x/models: not a location keyart can use"),
        (unreachable_url(), "s3://keyart-none/models/current.json: cannot be reached"),
    ],
)
def test_a_location_that_cannot_be_used_is_refused_in_one_line(
    location: str, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = keyart(capsys, "model", "rollback", "--models", location)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and err.startswith(f"keyart model rollback: {problem}")
    assert "endpoint_override" not in err  # the options are not repeated


def test_the_ranker_takes_a_url_for_its_models_but_not_for_the_cells_models(
    monkeypatch: pytest.MonkeyPatch, s3_server: S3Server
) -> None:
    url = s3_server.url("models")
    monkeypatch.setenv("RANKER_MODEL_DIR", url)
    directory = RankerConfig.from_env().model_dir
    assert directory is not None and directory.local_path is None
    assert str(directory) == url.split("?")[0]
    monkeypatch.setenv("RANKER_CELL_MODEL_DIR", url)
    with pytest.raises(ConfigError, match=r"^RANKER_CELL_MODEL_DIR: s3://\S+ is a URL"):
        RankerConfig.from_env()
    monkeypatch.delenv("RANKER_CELL_MODEL_DIR")
    monkeypatch.setenv("RANKER_MODEL_DIR", "ftp://x/models")
    with pytest.raises(ConfigError, match=r"^RANKER_MODEL_DIR: ftp://x/models: not a location"):
        RankerConfig.from_env()


def test_the_watcher_swaps_to_a_valid_model_on_s3_and_refuses_an_invalid_one(
    ranker_config: RankerConfig, s3_server: S3Server, tmp_path: Path
) -> None:
    store = Location.parse(s3_server.url("models"))
    staged = tmp_path / "staged.onnx"

    async def scenario(stub: Stub, watcher: ModelWatcher) -> tuple[str, list[str], str]:
        good = other_model(staged, -2.0)
        model_file(store, good).write_bytes(staged.read_bytes())
        write_pointer(store, Pointer(good))
        assert await watcher.check_once()
        wrong = build_model(replace(bundled_weights(), bias=-2.5), name="learned")
        model_file(store, "claimed").write_bytes(save_model(wrong, staged).read_bytes())
        model_file(store, "broken").write_bytes(b"not an onnx model")
        reasons = []
        for bad in ("broken", "claimed"):
            write_pointer(store, Pointer(bad, (good,)))
            with capture_logs() as logs:
                assert not await watcher.check_once()
                assert not await watcher.check_once()  # logged once, not retried
            reasons += [entry["reason"] for entry in logs]
        return good, reasons, (await stub.RankPage(page_request())).model_version

    good, reasons, answered = run_with_watcher(replace(ranker_config, model_dir=store), scenario)
    assert answered == good
    assert len(reasons) == 2
    assert reasons[0].startswith(f"model file {store}/broken.onnx cannot be loaded")
    assert "not the 'claimed' its name and current.json give" in reasons[1]


def test_without_a_pointer_the_newest_file_on_s3_and_its_card_are_read(
    ranker_config: RankerConfig, s3_server: S3Server, tmp_path: Path
) -> None:
    store = Location.parse(s3_server.url("models"))
    staged = tmp_path / "staged.onnx"
    watching = replace(ranker_config, model_dir=store, min_offline_estimate=0.05)

    async def scenario(stub: Stub, watcher: ModelWatcher) -> tuple[str, str, str]:
        other_model(staged, -2.5, estimate=0.01)
        (store / "low.onnx").write_bytes(staged.read_bytes())
        (store / "low.card.json").write_bytes((tmp_path / "staged.card.json").read_bytes())
        with capture_logs() as logs:
            assert not await watcher.check_once()
        good = other_model(staged, -2.0, estimate=0.2)
        (store / "zz-good.card.json").write_bytes((tmp_path / "staged.card.json").read_bytes())
        (store / "zz-good.onnx").write_bytes(staged.read_bytes())  # newest (by name on a tie)
        assert await watcher.check_once()
        return good, logs[0]["reason"], (await stub.RankPage(page_request())).model_version

    good, refusal, answered = run_with_watcher(watching, scenario)
    assert "offline estimate 0.01000 < minimum 0.05000" in refusal
    assert answered == good
