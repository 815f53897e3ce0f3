"""The two stories, end to end: real processes, real gRPC, exploration off."""

from __future__ import annotations

import uuid

import grpc
import pytest
from keyart.gateway.v1 import gateway_service_pb2 as pb
from keyart.profile.v1 import profile_service_pb2, profile_service_pb2_grpc

from common.features import aesthetic_score
from demo.catalog import demo_titles, titles_by_genre
from demo.pages import demo_page
from suite.client import PageClient
from suite.supervisor import SuiteConfig


def default_artwork(title_id: str) -> str:
    title = next(title for title in demo_titles() if title.title_id == title_id)
    best = max(title.artworks, key=lambda art: aesthetic_score(art.visual_quality, art.composition))
    return best.artwork_id


def tile_for(response: pb.RenderPageResponse, title_id: str) -> pb.Tile:
    return next(tile for row in response.rows for tile in row.tiles if tile.title_id == title_id)


@pytest.mark.parametrize(
    ("user_id", "title_id", "artwork_id"),
    [
        ("romance-fan", "good-will-hunting", "good-will-hunting/damon-driver"),
        ("comedy-fan", "good-will-hunting", "good-will-hunting/robin-williams"),
        ("uma-fan", "pulp-fiction", "pulp-fiction/uma-thurman"),
        ("travolta-fan", "pulp-fiction", "pulp-fiction/john-travolta"),
    ],
)
def test_each_fan_sees_the_artwork_that_fits_them(
    client: PageClient, user_id: str, title_id: str, artwork_id: str
) -> None:
    response = client.render_page(user_id, demo_page())
    tile = tile_for(response, title_id)
    assert tile.artwork_id == artwork_id
    assert tile.personalized
    assert tile.fallback_reason == pb.FALLBACK_REASON_UNSPECIFIED
    assert tile.propensity == pytest.approx(1.0)
    assert tile.image_url.endswith(f"{artwork_id}.png")
    assert list(response.degradations) == []
    assert response.model_version


def test_page_keeps_request_order(client: PageClient) -> None:
    rows = demo_page()
    response = client.render_page("romance-fan", rows)
    assert [row.row_id for row in response.rows] == [row_id for row_id, _ in rows]
    assert [[tile.title_id for tile in row.tiles] for row in response.rows] == [
        titles for _, titles in rows
    ]


def test_new_viewer_gets_each_titles_default_not_personalized(client: PageClient) -> None:
    rows = demo_page()
    response = client.render_page("new-viewer", rows)
    tiles = [tile for row in response.rows for tile in row.tiles]
    assert len(tiles) == sum(len(titles) for _, titles in rows)
    for tile in tiles:
        assert tile.artwork_id == default_artwork(tile.title_id)
        assert not tile.personalized
        assert tile.fallback_reason == pb.FALLBACK_REASON_COLD_START
    assert tile_for(response, "good-will-hunting").artwork_id == "good-will-hunting/neutral"


def test_new_viewer_who_plays_comedies_is_shown_robin_williams(client: PageClient) -> None:
    user_id = f"convert-{uuid.uuid4().hex[:8]}"
    page = [("featured", ["good-will-hunting"])]
    before = tile_for(client.render_page(user_id, page), "good-will-hunting")
    assert before.artwork_id == "good-will-hunting/neutral"
    assert not before.personalized
    for title_id in titles_by_genre("comedy")[:6]:
        client.report_event(user_id=user_id, title_id=title_id, kind=pb.EVENT_KIND_QUALIFIED_PLAY)
    after = tile_for(client.render_page(user_id, page), "good-will-hunting")
    assert after.artwork_id == "good-will-hunting/robin-williams"
    assert after.personalized


def test_retried_event_changes_the_profile_once(
    client: PageClient, suite_config: SuiteConfig
) -> None:
    user_id = f"retry-{uuid.uuid4().hex[:8]}"
    title_id = titles_by_genre("comedy")[0]
    first = client.report_event(
        event_id="evt-retry-1", user_id=user_id, title_id=title_id, kind=pb.EVENT_KIND_PLAY_START
    )
    again = client.report_event(
        event_id="evt-retry-1", user_id=user_id, title_id=title_id, kind=pb.EVENT_KIND_PLAY_START
    )
    assert (first.duplicate, again.duplicate) == (False, True)
    with grpc.insecure_channel(suite_config.addresses["profile"]) as channel:
        profile = profile_service_pb2_grpc.ProfileServiceStub(channel).GetViewerFeatures(
            profile_service_pb2.GetViewerFeaturesRequest(user_id=user_id), timeout=5
        )
    assert profile.known
    assert profile.event_count == 1
