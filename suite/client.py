"""A synchronous PageService client for people and scripts."""

from __future__ import annotations

import uuid
from datetime import datetime

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from keyart.gateway.v1 import gateway_service_pb2 as pb
from keyart.gateway.v1 import gateway_service_pb2_grpc

from common import addresses
from common.channels import retry_service_config

PAGE_SERVICE = pb.DESCRIPTOR.services_by_name["PageService"].full_name

DEFAULT_TARGET = addresses.GATEWAY
EVENT_KINDS = {
    "impression": pb.EVENT_KIND_IMPRESSION_SEEN,
    "click": pb.EVENT_KIND_CLICK,
    "play-start": pb.EVENT_KIND_PLAY_START,
    "qualified-play": pb.EVENT_KIND_QUALIFIED_PLAY,
}


class PageClient:
    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        timeout_s: float = 5.0,
        *,
        credentials: grpc.ChannelCredentials | None = None,
        token: str = "",
        retry: bool = False,
    ) -> None:
        """`credentials` for a gateway serving TLS; `token` when it requires a bearer token;
        `retry`: retry on UNAVAILABLE and wait for a restarting gateway (common.channels)."""
        options = [("grpc.service_config", retry_service_config(PAGE_SERVICE))] if retry else []
        self._channel = (
            grpc.secure_channel(target, credentials, options=options)
            if credentials
            else grpc.insecure_channel(target, options=options)
        )
        self._stub = gateway_service_pb2_grpc.PageServiceStub(self._channel)
        self._timeout_s = timeout_s
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> PageClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def render_page(
        self,
        user_id: str,
        rows: list[tuple[str, list[str]]],
        *,
        budget_ms: int = 0,
        context: pb.Context | None = None,
    ) -> pb.RenderPageResponse:
        request = pb.RenderPageRequest(
            user_id=user_id,
            rows=[pb.RowRequest(row_id=row_id, title_ids=titles) for row_id, titles in rows],
            context=context or pb.Context(device_type=pb.DEVICE_TYPE_TV),
            budget_ms=budget_ms,
        )
        return self._stub.RenderPage(request, timeout=self._timeout_s, metadata=self._metadata)

    def report_event(
        self,
        *,
        user_id: str,
        title_id: str,
        kind: pb.EventKind,
        event_id: str | None = None,
        artwork_id: str = "",
        page_id: str = "",
        occurred_at: datetime | None = None,
    ) -> pb.ReportEventResponse:
        stamp = None
        if occurred_at is not None:
            stamp = Timestamp()
            stamp.FromDatetime(occurred_at)
        request = pb.ReportEventRequest(
            event_id=event_id or uuid.uuid4().hex,
            user_id=user_id,
            page_id=page_id,
            title_id=title_id,
            artwork_id=artwork_id,
            kind=kind,
            occurred_at=stamp,
        )
        return self._stub.ReportEvent(request, timeout=self._timeout_s, metadata=self._metadata)
