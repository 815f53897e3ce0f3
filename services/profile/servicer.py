"""ProfileService: proto in → profile store → proto out."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TypeVar

import grpc
from keyart.profile.v1 import profile_service_pb2 as pb
from keyart.profile.v1 import profile_service_pb2_grpc

from common import features
from common.errors import AlreadyExists, InvalidArgument
from common.events import FeedbackEvent
from common.validation import require_id, require_path_id
from services.profile.store import ProfileStore, ReusedEventId
from services.profile.taste import EVENT_WEIGHTS

MAX_TAGS = 64
# Events in one ApplyEvents batch: one store transaction each.
MAX_EVENTS_PER_BATCH = 5000
T = TypeVar("T")


def event_from_request(request: pb.ApplyEventRequest, at: str = "") -> FeedbackEvent:
    """The event `request` describes; errors name the field after `at` (e.g. `events[3].`)."""
    if request.kind not in EVENT_WEIGHTS:
        raise InvalidArgument(f"{at}kind", f"{request.kind} is not a known event kind")
    if request.occurred_at_unix_ms <= 0:
        raise InvalidArgument(f"{at}occurred_at_unix_ms", "must be a positive Unix time in ms")
    unknown = features.unknown_genres(request.genres)
    if unknown:
        raise InvalidArgument(f"{at}genres", f"unknown genres {unknown[:5]}")
    if len(request.genres) > MAX_TAGS or len(request.cast) > MAX_TAGS:
        raise InvalidArgument(
            f"{at}cast" if len(request.cast) > MAX_TAGS else f"{at}genres",
            f"more than {MAX_TAGS} entries",
        )
    for i, name in enumerate(request.cast):
        require_id(name, f"{at}cast[{i}]")
    return FeedbackEvent(
        event_id=require_id(request.event_id, f"{at}event_id"),
        user_id=require_id(request.user_id, f"{at}user_id"),
        title_id=require_path_id(request.title_id, f"{at}title_id"),
        kind=request.kind,
        occurred_at_ms=request.occurred_at_unix_ms,
        page_id=request.page_id and require_id(request.page_id, f"{at}page_id"),
        artwork_id=request.artwork_id and require_path_id(request.artwork_id, f"{at}artwork_id"),
        genres=tuple(request.genres),
        cast=tuple(request.cast),
    )


class ProfileServicer(profile_service_pb2_grpc.ProfileServiceServicer):
    def __init__(self, store: ProfileStore) -> None:
        self._store = store
        # The store is used from one thread, off the event loop (SQLite needs that).
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="profile-store")

    async def _blocking(self, call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def GetViewerFeatures(
        self, request: pb.GetViewerFeaturesRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetViewerFeaturesResponse:
        user_id = require_id(request.user_id, "user_id")
        now_ms = int(time.time() * 1000)
        taste = await self._blocking(lambda: self._store.taste(user_id, now_ms))
        vector = (
            features.viewer_vector(taste.genres, taste.cast)
            if taste.known
            else features.cold_start_vector()
        )
        return pb.GetViewerFeaturesResponse(
            known=taste.known,
            features=features.pack(vector),
            schema_version=features.SCHEMA_VERSION,
            event_count=taste.event_count,
        )

    async def ApplyEvent(
        self, request: pb.ApplyEventRequest, context: grpc.aio.ServicerContext
    ) -> pb.ApplyEventResponse:
        event = event_from_request(request)
        applied = await self._blocking(lambda: self._store.apply(event))
        return pb.ApplyEventResponse(duplicate=not applied)

    async def ApplyEvents(
        self,
        request_iterator: AsyncIterator[pb.ApplyEventsRequest],
        context: grpc.aio.ServicerContext,
    ) -> pb.ApplyEventsResponse:
        applied = duplicates = offset = 0
        user_ids: set[str] = set()
        async for request in request_iterator:
            if len(request.events) > MAX_EVENTS_PER_BATCH:
                raise InvalidArgument(
                    "events",
                    f"{len(request.events)} in one batch; the limit is {MAX_EVENTS_PER_BATCH}",
                )
            events = [
                event_from_request(item, f"events[{offset + i}].")
                for i, item in enumerate(request.events)
            ]
            try:
                outcome = await self._blocking(partial(self._store.apply_batch, events))
            except ReusedEventId as error:
                raise AlreadyExists(f"events[{offset + error.index}].{error}") from None
            applied += outcome.applied
            duplicates += outcome.duplicates
            user_ids |= outcome.user_ids
            offset += len(events)
        return pb.ApplyEventsResponse(
            applied_count=applied, duplicate_count=duplicates, viewer_count=len(user_ids)
        )

    async def close(self) -> None:
        await self._blocking(self._store.close)
        self._executor.shutdown()
