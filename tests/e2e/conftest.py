"""Starts the real four server processes once per test session, on free loopback ports."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from cli.run import ensure_model
from cli.seed import seed_viewers
from suite.client import PageClient
from suite.supervisor import Suite, SuiteConfig, local_suite_config


@pytest.fixture(scope="session")
def suite_config(tmp_path_factory: pytest.TempPathFactory) -> SuiteConfig:
    data_dir = tmp_path_factory.mktemp("suite")
    model_path = data_dir / "models" / "bundled.onnx"
    ensure_model(model_path)
    return local_suite_config(data_dir, model_path)


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
