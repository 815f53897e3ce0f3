"""The learning logs' one interface, whichever sink GATEWAY_LOG_SINK names."""

from __future__ import annotations

from typing import Protocol

from common.config import ConfigError
from common.events import FeedbackEvent
from gateway.impressions import FetchCatalog, LearningLogConfig, LearningLogs
from gateway.page_request import PageRequest
from gateway.render import RenderedPage
from gateway.stream_log import NatsLogs


class LogSink(Protocol):
    def start(self) -> None: ...

    async def close(self) -> None: ...

    def log_page(self, page: PageRequest, rendered: RenderedPage) -> None:
        """Queues the page's decisions; a page never waits for its log."""

    async def log_feedback(self, event: FeedbackEvent) -> None:
        """Returns once the event is durable (Unavailable when it cannot be made so)."""


def open_learning_logs(config: LearningLogConfig, fetch_catalog: FetchCatalog) -> LogSink:
    """Segment files in GATEWAY_LOG_DIR, or the JetStream streams (spilling to that directory)."""
    if config.stream is None:
        return LearningLogs(config, fetch_catalog)
    if config.directory is None:
        raise ConfigError("GATEWAY_LOG_SINK=nats://… needs GATEWAY_LOG_DIR for its spill files")
    return NatsLogs(config.stream, config.directory, fetch_catalog)
