"""Starts the real four server processes once per test session, on free loopback ports."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from cli.client import PageClient
from cli.seed import seed_viewers
from cli.supervisor import START_ORDER, Suite, SuiteConfig


def free_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def build_model(path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "services.ranker.model_recipe", "--out", str(path)], check=True
    )


@pytest.fixture(scope="session")
def suite_config(tmp_path_factory: pytest.TempPathFactory) -> SuiteConfig:
    data_dir = tmp_path_factory.mktemp("suite")
    model_path = data_dir / "models" / "bundled.onnx"
    build_model(model_path)
    return suite_config_in(data_dir, model_path)


def suite_config_in(data_dir: Path, model_path: Path) -> SuiteConfig:
    """A suite on fresh loopback ports whose stores live in `data_dir`, whatever the environment says."""
    return SuiteConfig(
        data_dir=data_dir,
        model_path=model_path,
        addresses={name: free_address() for name in (*START_ORDER, "preview")},
        extra_env={
            "PROFILE_DB": str(data_dir / "profile.db"),
            "ARTWORK_DB": str(data_dir / "catalog.db"),
        },
        image_dir=data_dir / "images",
    )


@pytest.fixture(scope="session")
def suite(suite_config: SuiteConfig) -> Iterator[Suite]:
    with open(suite_config.data_dir / "services.log", "wb") as log:
        running = Suite(suite_config, log)
        running.start()
        with PageClient(suite_config.addresses["gateway"]) as client:
            seed_viewers(client)
        yield running
        running.stop()


@pytest.fixture(scope="session")
def client(suite: Suite, suite_config: SuiteConfig) -> Iterator[PageClient]:
    with PageClient(suite_config.addresses["gateway"]) as page_client:
        yield page_client


@pytest.fixture(scope="session")
def gateway_channel(suite: Suite, suite_config: SuiteConfig) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(suite_config.addresses["gateway"]) as channel:
        yield channel
