"""Fixtures shared by the unit tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.server import ServerSettings
from common.storage import Location
from services.ranker.config import RankerConfig
from services.ranker.model_recipe import build_model, bundled_weights, save_model
from tests.s3_server import S3Server


@pytest.fixture(params=["local", "s3"])
def dataset_root(request: pytest.FixtureRequest, tmp_path: Path) -> Location:
    """Where a dataset goes: a local directory, or a bucket on a real S3-compatible server
    over loopback (tests/s3_server.py)."""
    if request.param == "local":
        return Location.local(tmp_path / "dataset")
    server: S3Server = request.getfixturevalue("s3_server")
    return Location.parse(server.url("dataset"))


@pytest.fixture
def ranker_config(tmp_path: Path) -> RankerConfig:
    """A ranker on a loopback port with the bundled model and no exploration."""
    return RankerConfig(
        server=ServerSettings("127.0.0.1:0", 8 << 20, 8 << 20, grace_s=0.5),
        model_path=save_model(build_model(bundled_weights()), tmp_path / "bundled.onnx"),
        exploration="off",
        epsilon=0.1,
        seed=0,
        intra_op_threads=1,
        max_candidates=100,
        artwork_target="127.0.0.1:1",
        catalog_poll_s=60.0,
        catalog_wait_s=0.0,
    )
