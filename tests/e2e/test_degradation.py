"""The page never fails: a stopped ranker means default artwork, said out loud."""

from __future__ import annotations

import time

from keyart.gateway.v1 import gateway_service_pb2 as pb

from demo.pages import demo_page
from suite.client import PageClient
from suite.supervisor import Suite
from tests.e2e.test_stories import default_artwork, tile_for


def test_stopped_ranker_falls_back_to_defaults_then_recovers(
    suite: Suite, client: PageClient
) -> None:
    ranker = suite.services["ranker"]
    assert ranker.stop() == 0  # SIGTERM: a clean, graceful exit
    try:
        response = client.render_page("romance-fan", demo_page())
        tiles = [tile for row in response.rows for tile in row.tiles]
        for tile in tiles:
            assert tile.artwork_id == default_artwork(tile.title_id)
            assert not tile.personalized
            assert tile.fallback_reason == pb.FALLBACK_REASON_RANKER_UNAVAILABLE
        assert [d.dependency for d in response.degradations] == [pb.DEPENDENCY_RANKER]
        assert response.degradations[0].status_code in {"UNAVAILABLE", "DEADLINE_EXCEEDED"}
        assert response.model_version == ""
    finally:
        ranker.start()
        ranker.wait_serving()

    deadline = time.monotonic() + 10
    while True:
        tile = tile_for(client.render_page("romance-fan", demo_page()), "good-will-hunting")
        if tile.personalized or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert tile.personalized
    assert tile.artwork_id == "good-will-hunting/damon-driver"
