"""The suite's configuration with the gateway logging to a NATS server (GATEWAY_LOG_SINK)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from cli.run import ensure_model
from suite.supervisor import SuiteConfig, local_suite_config


def nats_suite_config(data_dir: Path, nats_url: str, **env: str) -> SuiteConfig:
    """The four services on loopback, the bundled model, the gateway's learning logs on
    `nats_url` and its log directory `data_dir/logs`; `env` adds to the services' settings."""
    model_path = data_dir / "models" / "bundled.onnx"
    ensure_model(model_path)
    base = local_suite_config(data_dir, model_path)
    return replace(
        base,
        extra_env={
            **base.extra_env,
            "GATEWAY_LOG_SINK": nats_url,
            "GATEWAY_LOG_DIR": str(data_dir / "logs"),
            **env,
        },
    )
