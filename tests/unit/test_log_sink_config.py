"""GATEWAY_LOG_SINK and the stream settings: parsed once, a bad value refused naming it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from common.config import ConfigError
from gateway.stream_config import NatsSinkConfig, nats_sink_from_env

ROOT = Path(__file__).resolve().parents[2]


def sink_from(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> NatsSinkConfig | None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return nats_sink_from_env(Path("logs"))


def test_files_is_the_default_sink(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEWAY_LOG_SINK", raising=False)
    assert sink_from(monkeypatch, {}) is None
    assert sink_from(monkeypatch, {"GATEWAY_LOG_SINK": "files"}) is None


def test_a_nats_url_gives_two_streams_with_the_documented_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = sink_from(monkeypatch, {"GATEWAY_LOG_SINK": "nats://broker:4222"})
    assert config is not None
    assert config.url == "nats://broker:4222"
    assert (config.impressions.name, config.impressions.subject) == (
        "KEYART_IMPRESSIONS",
        "keyart.impressions",
    )
    assert (config.feedback.name, config.feedback.subject) == ("KEYART_FEEDBACK", "keyart.feedback")
    assert (config.impressions.max_age_s, config.impressions.max_bytes) == (7 * 86_400.0, 10 << 30)
    assert (config.duplicate_window_s, config.publish_timeout_s) == (600.0, 2.0)
    assert config.spill_dir == Path("logs") / "spill"


def test_stream_settings_are_read_from_their_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    config = sink_from(
        monkeypatch,
        {
            "GATEWAY_LOG_SINK": "nats://127.0.0.1:4333",
            "GATEWAY_NATS_FEEDBACK_STREAM": "PLAYS",
            "GATEWAY_NATS_FEEDBACK_SUBJECT": "plays.v1",
            "GATEWAY_NATS_REPLICAS": "3",
        },
    )
    assert config is not None
    assert (config.feedback.name, config.feedback.subject, config.replicas) == (
        "PLAYS",
        "plays.v1",
        3,
    )


@pytest.mark.parametrize(
    "raw",
    [
        "nats",
        "redis://host:4222",
        "nats://host",
        "nats://:4222",
        "nats://host:port",
        "nats://h:1/x",
    ],
)
def test_a_bad_sink_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    with pytest.raises(
        ConfigError, match=r"GATEWAY_LOG_SINK=.* is neither 'files' nor nats://host:port"
    ):
        sink_from(monkeypatch, {"GATEWAY_LOG_SINK": raw})


def test_a_bad_limit_is_refused_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="GATEWAY_NATS_PUBLISH_TIMEOUT_S"):
        sink_from(
            monkeypatch,
            {"GATEWAY_LOG_SINK": "nats://h:4222", "GATEWAY_NATS_PUBLISH_TIMEOUT_S": "soon"},
        )


def test_the_gateway_refuses_to_start_with_a_bad_sink(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "GATEWAY_LOG_SINK": "kafka://broker:9092",
        "GATEWAY_LOG_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "gateway.server"],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    output = done.stdout + done.stderr
    assert (
        "GATEWAY_LOG_SINK='kafka://broker:9092' is neither 'files' nor nats://host:port" in output
    )
    assert "Traceback" not in output
