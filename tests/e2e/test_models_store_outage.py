"""A real ranker process watching models on a real S3-compatible server that goes away: it
keeps serving, says so once, and swaps again once the store is back; and a ranker given a
models URL it cannot use does not start."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

from cli.run import ensure_model
from suite.supervisor import ServiceProcess, local_suite_config
from tests.e2e.replicas import running_replicas
from tests.e2e.test_models_location import keyart_model, ranker_env, served, wait_until_served
from tests.s3_server import S3Server
from tests.unit.test_model_watch import other_model


def logged(log: Path) -> list[dict]:
    """The JSON log lines the ranker wrote."""
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


def logged_events(log: Path) -> list[str]:
    return [entry.get("event", "") for entry in logged(log)]


def wait_for_event(log: Path, event: str, timeout_s: float = 20.0) -> None:
    end = time.monotonic() + timeout_s
    while event not in logged_events(log):
        assert time.monotonic() < end, f"no {event!r} in the ranker's log after {timeout_s} s"
        time.sleep(0.1)


def test_the_ranker_keeps_serving_through_a_store_outage_and_swaps_once_it_is_back(
    tmp_path: Path,
) -> None:
    bundled = tmp_path / "image" / "bundled.onnx"
    bundled.parent.mkdir()
    ensure_model(bundled)
    first = other_model(tmp_path / "first.onnx", -2.0)
    second = other_model(tmp_path / "second.onnx", -2.5)
    store = S3Server(tmp_path)  # its own: this test stops it
    url = store.url("models")
    assert keyart_model("publish", str(tmp_path / "first.onnx"), "--models", url).returncode == 0
    log = tmp_path / "ranker.log"
    try:
        with (
            open(log, "wb") as output,
            running_replicas("ranker", ranker_env(bundled, url), tmp_path, 1, output) as rankers,
        ):
            assert served(rankers[0]) == (first, first)
            store.stop()
            wait_for_event(log, "models location unreachable; still serving")
            for _ in range(3):  # while the store is down, pages are still scored by `first`
                assert served(rankers[0]) == (first, first)
                time.sleep(0.5)
            store = S3Server(tmp_path, port=store.port)  # back, empty: publish again
            published = keyart_model("publish", str(tmp_path / "second.onnx"), "--models", url)
            assert published.returncode == 0, published.stderr
            wait_until_served(rankers, second)
    finally:
        store.stop()
    events = logged_events(log)
    assert events.count("models location unreachable; still serving") == 1
    assert events.count("models location reachable again") == 1


def test_a_ranker_given_a_models_url_it_cannot_use_does_not_start(tmp_path: Path) -> None:
    base = local_suite_config(tmp_path, tmp_path / "bundled.onnx")
    config = replace(base, extra_env={**base.extra_env, "RANKER_MODEL_DIR": "ftp://x/models"})
    log = tmp_path / "ranker.log"
    with open(log, "wb") as output:
        process = ServiceProcess("ranker", config, output)
        process.start()
        assert process.process is not None
        assert process.process.wait(60) == 1
    [refusal] = [entry for entry in logged(log) if entry.get("event") == "cannot start"]
    assert refusal["error"].startswith("RANKER_MODEL_DIR: ftp://x/models: not a location")
