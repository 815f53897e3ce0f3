"""The gateway's learning logs: every ranked page's decisions, and every acknowledged event.

A decision names its candidates and their rows in the catalog version it was
ranked under, not their feature vectors (the gateway does not hold them; the
ranker does): offline tools resolve rows from a snapshot of that version.

Impressions are serialized and written on the log's writer thread; a page is
never slowed or failed by its log (when the writer is behind, the page is
dropped from the log and counted). Feedback is different: ReportEvent is
acknowledged only after its line is fsynced, so an acknowledged event is in
the log even if the gateway dies right after (see common/segment_log.py).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

from common import features
from common.config import env_float, env_int, env_str
from common.errors import ResourceExhausted, Unavailable
from common.log_schema import (
    FEEDBACK,
    IMPRESSIONS,
    FeedbackEvent,
    PageImpression,
    TileDecision,
    header,
)
from common.logging import get_logger
from common.segment_log import SegmentLog, SegmentSettings
from gateway.events import parse_event
from gateway.page_request import PageRequest
from gateway.render import RenderedPage
from keyart.gateway.v1 import gateway_service_pb2 as pb

log = get_logger(__name__)

DEFAULT_POLICY = "default_fallback"  # the ranker did not answer: the title's default, p = 1


@dataclass(frozen=True)
class LearningLogConfig:
    directory: Path | None  # None: logging off
    segment_bytes: int
    segment_s: float
    max_queued: int

    @classmethod
    def from_env(cls) -> LearningLogConfig:
        directory = env_str("GATEWAY_LOG_DIR", "var/logs")
        return cls(
            directory=Path(directory) if directory else None,
            segment_bytes=env_int("GATEWAY_LOG_SEGMENT_BYTES", 64 << 20, minimum=1 << 10),
            segment_s=env_float("GATEWAY_LOG_SEGMENT_S", 3600.0, minimum=1.0),
            max_queued=env_int("GATEWAY_LOG_MAX_QUEUED", 10_000, minimum=1),
        )

    def settings(self, directory: Path, kind: str) -> SegmentSettings:
        return SegmentSettings(directory, kind, self.segment_bytes, self.segment_s, self.max_queued)


def page_records(page: PageRequest, rendered: RenderedPage, time_ms: int) -> list[dict]:
    """The page's one `page` record (runs on the writer thread, off the event loop)."""
    inputs = rendered.inputs
    if inputs is None:
        return []
    viewer = inputs.viewer
    known = viewer is not None and viewer.known
    tiles = []
    policy = DEFAULT_POLICY
    for titles, ranking in inputs.groups:
        if ranking is not None:
            policy = ranking.policy
        for t, title in enumerate(titles):
            if ranking is None:
                chosen = title.artwork_ids.index(title.default_artwork_id)
                propensity, score = 1.0, 0.0
            else:
                chosen = ranking.chosen_indices[t]
                propensity, score = ranking.propensities[t], ranking.scores[t]
            tiles.append(
                TileDecision(
                    title_id=title.title_id,
                    candidate_ids=title.artwork_ids,
                    catalog_version=title.catalog_version,
                    first_row=title.first_row,
                    chosen=chosen,
                    propensity=propensity,
                    score=score,
                    ranked=ranking is not None,
                    personalized=ranking is not None and known,
                )
            )
    context = page.context
    impression = PageImpression(
        page_id=rendered.page_id,
        user_id=page.user_id,
        time_ms=time_ms,
        context={
            "device_type": pb.DeviceType.Name(context.device_type),
            "country": context.country,
            "local_hour": context.local_hour,
            "day_of_week": pb.DayOfWeek.Name(context.day_of_week),
        },
        context_features=features.context_vector(
            context.device_type, context.local_hour, context.day_of_week
        ),
        viewer_known=known,
        viewer_features=(
            features.unpack(viewer.packed, features.VIEWER_DIM, field="viewer")[0]
            if viewer is not None
            else features.cold_start_vector()
        ),
        model_version=rendered.model_version,
        policy=policy,
        tiles=tuple(tiles),
    )
    return [impression.to_record()]


class LearningLogs:
    """The impression and feedback logs; `start()` before serving, `close()` after."""

    def __init__(self, config: LearningLogConfig) -> None:
        self._impressions: SegmentLog | None = None
        self._feedback: SegmentLog | None = None
        if config.directory is not None:
            self._impressions = SegmentLog(
                config.settings(config.directory, IMPRESSIONS), header(IMPRESSIONS)
            )
            self._feedback = SegmentLog(
                config.settings(config.directory, FEEDBACK), header(FEEDBACK)
            )

    def start(self) -> None:
        for segment_log in (self._impressions, self._feedback):
            if segment_log is not None:
                segment_log.start()

    async def close(self) -> None:
        for segment_log in (self._impressions, self._feedback):
            if segment_log is not None:
                await asyncio.to_thread(segment_log.close)

    def log_page(self, page: PageRequest, rendered: RenderedPage) -> None:
        """Queues the page's decisions; never waits for the disk."""
        if self._impressions is None or rendered.inputs is None or not rendered.inputs.groups:
            return
        served_ms = int(time.time() * 1000)  # now, not when the writer gets to it
        try:
            self._impressions.append(
                lambda: page_records(page, rendered, served_ms)
            )
        except ResourceExhausted:
            log.warning("impression log behind; page not logged", page_id=rendered.page_id)

    async def log_feedback(self, request: pb.ReportEventRequest) -> None:
        """Returns once the event's line is on disk."""
        if self._feedback is None:
            return
        event = parse_event(request, int(time.time() * 1000))
        record = FeedbackEvent(
            event_id=event.event_id,
            user_id=event.user_id,
            page_id=event.page_id,
            title_id=event.title_id,
            artwork_id=event.artwork_id,
            kind=pb.EventKind.Name(event.kind).removeprefix("EVENT_KIND_"),
            occurred_at_ms=event.occurred_at_ms,
        ).to_record()
        try:
            await asyncio.wrap_future(self._feedback.append(lambda: [record]))
        except OSError as error:
            raise Unavailable(
                f"could not log the event ({error.strerror}); retry with the same event_id"
            ) from error
