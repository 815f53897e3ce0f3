"""Bad input gets a precise status naming the field, and the services keep serving."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from keyart.gateway.v1 import gateway_service_pb2 as pb
from keyart.gateway.v1 import gateway_service_pb2_grpc

from suite.client import PageClient
from suite.supervisor import START_ORDER, SuiteConfig, is_serving

GWH = ["good-will-hunting"]


def render(channel: grpc.Channel, request: pb.RenderPageRequest) -> pb.RenderPageResponse:
    return gateway_service_pb2_grpc.PageServiceStub(channel).RenderPage(request, timeout=5)


def page(
    context: pb.Context | None = None, rows: list[pb.RowRequest] | None = None, **fields: Any
) -> pb.RenderPageRequest:
    """The story page for a romance fan, with `context`, `rows` or other `fields` replaced."""
    request = pb.RenderPageRequest(
        user_id="romance-fan", rows=[pb.RowRequest(row_id="r", title_ids=GWH)]
    )
    if context is not None:
        request.context.CopyFrom(context)
    if rows is not None:
        del request.rows[:]
        request.rows.extend(rows)
    for name, value in fields.items():
        setattr(request, name, value)
    return request


@pytest.mark.parametrize(
    ("request_message", "field"),
    [
        (page(user_id=""), "user_id"),
        (page(user_id="x" * 129), "user_id"),
        (page(user_id="bad\x00id"), "user_id"),
        (page(rows=[]), "rows"),
        (page(rows=[pb.RowRequest(row_id=f"r{i}", title_ids=GWH) for i in range(101)]), "rows"),
        (page(rows=[pb.RowRequest(row_id="r", title_ids=GWH * 101)]), "rows[0].title_ids"),
        (page(rows=[pb.RowRequest(row_id="r", title_ids=[])]), "rows[0].title_ids"),
        (page(rows=[pb.RowRequest(row_id="", title_ids=GWH)]), "rows[0].row_id"),
        (page(rows=[pb.RowRequest(row_id="r", title_ids=["ok", ""])]), "rows[0].title_ids[1]"),
        (
            page(rows=[pb.RowRequest(row_id="r", title_ids=["ok", "a/../b"])]),
            "rows[0].title_ids[1]",
        ),
        (page(rows=[pb.RowRequest(row_id="r", title_ids=["a\\b"])]), "rows[0].title_ids[0]"),
        (page(budget_ms=-5), "budget_ms"),
        (page(budget_ms=10_000_000), "budget_ms"),
        (page(context=pb.Context(local_hour=24)), "context.local_hour"),
        (page(context=pb.Context(country="usa")), "context.country"),
        (page(context=pb.Context(device_type=99)), "context.device_type"),  # type: ignore[arg-type]  # an unknown enum number, on purpose
    ],
)
def test_bad_page_request_is_invalid_argument_naming_the_field(
    gateway_channel: grpc.Channel, request_message: pb.RenderPageRequest, field: str
) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        render(gateway_channel, request_message)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (raised.value.details() or "").startswith(f"{field}:")


def test_too_many_titles_on_the_page_is_invalid_argument(gateway_channel: grpc.Channel) -> None:
    rows = [
        pb.RowRequest(row_id=f"r{i}", title_ids=[f"t{i}-{j}" for j in range(100)])
        for i in range(41)
    ]
    with pytest.raises(grpc.RpcError) as raised:
        render(gateway_channel, page(rows=rows))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "4000 titles" in (raised.value.details() or "")


def test_unknown_title_is_a_tile_level_reason_not_a_failed_page(client: PageClient) -> None:
    response = client.render_page("romance-fan", [("r", ["no-such-title", "good-will-hunting"])])
    unknown, known = response.rows[0].tiles
    assert unknown.title_id == "no-such-title"
    assert unknown.artwork_id == ""
    assert not unknown.personalized
    assert unknown.fallback_reason == pb.FALLBACK_REASON_UNKNOWN_TITLE
    assert known.artwork_id == "good-will-hunting/damon-driver"
    assert known.personalized
    assert list(response.degradations) == []


def test_duplicated_titles_get_the_same_choice(client: PageClient) -> None:
    response = client.render_page("comedy-fan", [("a", GWH), ("b", GWH + GWH)])
    artworks = {tile.artwork_id for row in response.rows for tile in row.tiles}
    assert artworks == {"good-will-hunting/robin-williams"}


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"event_id": ""}, grpc.StatusCode.INVALID_ARGUMENT, "event_id"),
        ({"user_id": ""}, grpc.StatusCode.INVALID_ARGUMENT, "user_id"),
        ({"kind": pb.EVENT_KIND_UNSPECIFIED}, grpc.StatusCode.INVALID_ARGUMENT, "kind"),
        ({"kind": 42}, grpc.StatusCode.INVALID_ARGUMENT, "kind"),
        ({"title_id": "no-such-title"}, grpc.StatusCode.NOT_FOUND, "title_id"),
        ({"title_id": "../etc"}, grpc.StatusCode.INVALID_ARGUMENT, "title_id"),
        (
            {"artwork_id": "good-will-hunting/../../etc"},
            grpc.StatusCode.INVALID_ARGUMENT,
            "artwork_id",
        ),
        (
            {"artwork_id": "pulp-fiction/uma-thurman"},
            grpc.StatusCode.INVALID_ARGUMENT,
            "artwork_id",
        ),
    ],
)
def test_bad_event_is_refused_naming_the_field(
    gateway_channel: grpc.Channel, overrides: dict[str, object], code: grpc.StatusCode, field: str
) -> None:
    request = pb.ReportEventRequest(
        event_id="evt-bad",
        user_id="someone",
        title_id="good-will-hunting",
        kind=pb.EVENT_KIND_CLICK,
    )
    for name, value in overrides.items():
        setattr(request, name, value)
    with pytest.raises(grpc.RpcError) as raised:
        gateway_service_pb2_grpc.PageServiceStub(gateway_channel).ReportEvent(request, timeout=5)
    assert raised.value.code() == code
    assert (raised.value.details() or "").startswith(f"{field}:")


def test_a_reused_event_id_is_a_retry_only_with_the_same_content(
    gateway_channel: grpc.Channel,
) -> None:
    """AIP-155: the same id and content answers as the first did; other content is
    ALREADY_EXISTS naming the id (an event id is unique across all users)."""
    report = gateway_service_pb2_grpc.PageServiceStub(gateway_channel).ReportEvent
    first = pb.ReportEventRequest(
        event_id="evt-reused",
        user_id="reuser",
        title_id="good-will-hunting",
        artwork_id="good-will-hunting/damon-driver",
        kind=pb.EVENT_KIND_CLICK,
    )
    assert report(first, timeout=5).duplicate is False
    assert report(first, timeout=5).duplicate is True
    other_user = pb.ReportEventRequest()
    other_user.CopyFrom(first)
    other_user.user_id = "someone-else"
    with pytest.raises(grpc.RpcError) as raised:
        report(other_user, timeout=5)
    assert raised.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert (raised.value.details() or "").startswith("event_id: 'evt-reused' was already recorded")


def test_event_stamped_in_the_far_future_is_refused(gateway_channel: grpc.Channel) -> None:
    request = pb.ReportEventRequest(
        event_id="evt-future",
        user_id="someone",
        title_id="good-will-hunting",
        kind=pb.EVENT_KIND_CLICK,
    )
    request.occurred_at.seconds = 4_000_000_000
    with pytest.raises(grpc.RpcError) as raised:
        gateway_service_pb2_grpc.PageServiceStub(gateway_channel).ReportEvent(request, timeout=5)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (raised.value.details() or "").startswith("occurred_at:")


def test_services_keep_serving_after_bad_input(
    client: PageClient, suite_config: SuiteConfig
) -> None:
    assert all(is_serving(suite_config.addresses[name]) for name in START_ORDER)
    response = client.render_page("uma-fan", [("r", ["pulp-fiction"])])
    assert response.rows[0].tiles[0].artwork_id == "pulp-fiction/uma-thurman"


def test_every_server_offers_health_and_reflection(suite_config: SuiteConfig) -> None:
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
        ProtoReflectionDescriptorDatabase,
    )

    expected = {
        "gateway": "keyart.gateway.v1.PageService",
        "profile": "keyart.profile.v1.ProfileService",
        "artwork": "keyart.artwork.v1.ArtworkService",
        "ranker": "keyart.ranker.v1.RankerService",
    }
    for name, service in expected.items():
        with grpc.insecure_channel(suite_config.addresses[name]) as channel:
            health = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=5
            )
            assert health.status == health_pb2.HealthCheckResponse.SERVING
            assert service in ProtoReflectionDescriptorDatabase(channel).get_services()
