"""ReportEvent: check the event against the catalog, then apply it to the viewer's profile."""

from __future__ import annotations

import grpc
from keyart.gateway.v1 import gateway_service_pb2 as pb

from common.errors import AlreadyExists, InvalidArgument, NotFound, Unavailable
from common.events import FeedbackEvent
from common.validation import require_id, require_path_id
from gateway.backends import Backends

# Events stamped further ahead than this are refused (clock skew allowance).
MAX_FUTURE_MS = 24 * 3_600_000


def parse_event(request: pb.ReportEventRequest, now_ms: int) -> FeedbackEvent:
    if request.kind == pb.EVENT_KIND_UNSPECIFIED or request.kind not in pb.EventKind.values():
        raise InvalidArgument("kind", f"{request.kind} is not a known EventKind")
    occurred_at_ms = now_ms
    if request.HasField("occurred_at"):
        stamp = request.occurred_at
        if stamp.seconds <= 0 or not 0 <= stamp.nanos < 1_000_000_000:
            raise InvalidArgument("occurred_at", "is not a valid time after 1970")
        occurred_at_ms = stamp.seconds * 1000 + stamp.nanos // 1_000_000
        if occurred_at_ms > now_ms + MAX_FUTURE_MS:
            raise InvalidArgument("occurred_at", "is more than a day in the future")
    return FeedbackEvent(
        event_id=require_id(request.event_id, "event_id"),
        user_id=require_id(request.user_id, "user_id"),
        page_id=request.page_id and require_id(request.page_id, "page_id"),
        title_id=require_path_id(request.title_id, "title_id"),
        artwork_id=request.artwork_id and require_path_id(request.artwork_id, "artwork_id"),
        kind=request.kind,
        occurred_at_ms=occurred_at_ms,
    )


class EventReporter:
    def __init__(self, backends: Backends, timeout_s: float) -> None:
        self._backends = backends
        self._timeout_s = timeout_s

    async def report(self, event: FeedbackEvent, request_id: str) -> bool:
        """Applies the event once; returns True when it had already been recorded."""
        try:
            tags = await self._backends.title_tags(event.title_id, self._timeout_s, request_id)
            if tags is None:
                raise NotFound(f"title_id: {event.title_id!r} is not in the catalog")
            if event.artwork_id and event.artwork_id not in tags.artwork_ids:
                raise InvalidArgument(
                    "artwork_id", f"{event.artwork_id!r} is not a candidate of {event.title_id!r}"
                )
            return await self._backends.apply_event(event, tags, self._timeout_s, request_id)
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.ALREADY_EXISTS:  # a reused event id
                raise AlreadyExists(error.details() or "event_id: already recorded") from None
            raise Unavailable(
                f"could not record the event ({error.code().name}); retry with the same event_id"
            ) from error
