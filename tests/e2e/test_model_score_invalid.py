"""The real suite serving a model that overflows on TV pages: each title it scores NaN shows
its default artwork for FALLBACK_REASON_MODEL_SCORE_INVALID, the page is not degraded, and
the ranker's circuit breaker stays closed, so other pages are still ranked."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from keyart.gateway.v1 import gateway_service_pb2 as pb

from cli.seed import seeded_suite
from common.features import ARTWORK_DIM
from common.model_contract import build_model, save_model
from demo.pages import demo_page
from services.ranker.model_recipe import bundled_weights
from suite.client import PageClient
from tests.e2e.test_stories import default_artwork

TV, MOBILE = pb.DEVICE_TYPE_TV, pb.DEVICE_TYPE_MOBILE


def overflowing_on_tv(path: Path) -> Path:
    """Artwork features 0 and 1 get ±3e38 from the bias and ±3e38 more from the TV slot of
    the context: finite on the loader's probe (context all zeros) and on mobile pages, ±inf
    on TV pages, where every candidate scores NaN (inf - inf, or 0 × inf)."""
    weights = bundled_weights()
    wc, q = weights.wc.copy(), weights.q.copy()
    huge = np.zeros(ARTWORK_DIM, np.float32)
    huge[:2] = (3e38, -3e38)
    wc[TV] += huge
    q += huge
    return save_model(build_model(replace(weights, wc=wc, q=q)), path)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PageClient]:
    data_dir = tmp_path_factory.mktemp("overflowing")
    model = overflowing_on_tv(data_dir / "models" / "overflowing.onnx")
    with (
        seeded_suite(data_dir, model) as suite,
        PageClient(suite.services["gateway"].address) as page_client,
    ):
        yield page_client


def page(client: PageClient, device: pb.DeviceType) -> pb.RenderPageResponse:
    return client.render_page("nan-viewer", demo_page(), context=pb.Context(device_type=device))


def test_titles_scored_nan_show_their_defaults_and_the_ranker_stays_in(client: PageClient) -> None:
    for _ in range(8):  # more than GATEWAY_BREAKER_FAILURES (5) pages in a row
        response = page(client, TV)
        tiles = [tile for row in response.rows for tile in row.tiles]
        assert response.degradations == []
        assert response.model_version
        for tile in tiles:
            assert tile.fallback_reason == pb.FALLBACK_REASON_MODEL_SCORE_INVALID
            assert (tile.artwork_id, tile.personalized) == (default_artwork(tile.title_id), False)
            assert (tile.score, tile.propensity) == (0.0, 1.0)
    # The breaker counted no failure: a page the model scores finitely is ranked.
    mobile = page(client, MOBILE)
    assert mobile.degradations == []
    mobile_tiles = [tile for row in mobile.rows for tile in row.tiles]
    assert {tile.fallback_reason for tile in mobile_tiles} == {pb.FALLBACK_REASON_COLD_START}
    assert all(math.isfinite(tile.score) and tile.score > 0 for tile in mobile_tiles)
