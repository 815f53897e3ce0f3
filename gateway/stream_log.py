"""The learning logs on NATS JetStream (GATEWAY_LOG_SINK=nats://host:port), docs/event-stream.md.

The gateway is a grpc.aio server, so the nats-py client runs on the server's
own event loop; rendering a page's record (about half a millisecond: the
titles' entries are encoded once per catalog version, gateway/stream_records.py)
runs on one worker thread, off the loop.

- Impressions: `log_page` only queues the page (bounded, GATEWAY_NATS_BUFFER_PAGES);
  one publisher task renders each and publishes it, keeping up to
  GATEWAY_NATS_PUBLISH_WINDOW pages awaiting JetStream's ack at once, so a slow
  ack does not hold the queue (figures: docs/benchmarks.md).
  A page that cannot be queued, published or acked goes to the spill
  (gateway/spill.py), which is replayed once the broker is back. The page id
  is the message id, so a page both acked late and replayed is stored once.
- Feedback: `log_feedback` returns only once JetStream acked the event, with
  the event id as the message id; not connected, or no ack within
  GATEWAY_NATS_PUBLISH_TIMEOUT_S → Unavailable (gRPC UNAVAILABLE, retryable).
- The connection is made in the background, so the gateway starts and serves
  with the broker down; once connected, nats-py reconnects by itself, and the
  streams are created or updated on every (re)connect.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import orjson
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from common.errors import Unavailable
from common.events import FeedbackEvent
from common.log_schema import FEEDBACK, IMPRESSIONS, feedback_record
from common.logging import get_logger
from common.metrics import STREAM_CONNECTED, STREAM_FEEDBACK, STREAM_IMPRESSIONS
from gateway.impressions import CatalogSnapshots, FetchCatalog
from gateway.page_request import PageRequest
from gateway.render import RenderedPage
from gateway.spill import Spill
from gateway.stream_catalogs import CatalogUploads
from gateway.stream_config import NatsSinkConfig, StreamSettings
from gateway.stream_records import PageMessages, message_headers

log = get_logger(__name__)

RETRY_S = 1  # between connect attempts, and how often a waiting publisher checks the spill
PUBLISH_ERRORS = (NatsError, asyncio.TimeoutError, OSError)

# A queued page: what it was, what was served, when.
QueuedPage = tuple[PageRequest, RenderedPage, int]


def _kept(record: dict) -> dict:
    return record


def stream_config(settings: StreamSettings, config: NatsSinkConfig) -> StreamConfig:
    """Limits retention on file storage: old messages go by age or total size, never by use."""
    return StreamConfig(
        name=settings.name,
        subjects=[settings.subject],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=settings.max_age_s,
        max_bytes=settings.max_bytes,
        num_replicas=config.replicas,
        duplicate_window=config.duplicate_window_s,
    )


class NatsLogs:
    """The impression and feedback logs on JetStream; `start()` on the loop, `close()` after."""

    def __init__(
        self,
        config: NatsSinkConfig,
        log_dir: Path,
        fetch_catalog: FetchCatalog | None = None,
    ) -> None:
        self._config = config
        self._client = Client()
        self._js: JetStreamContext | None = None
        self._queue: asyncio.Queue[QueuedPage] = asyncio.Queue(config.buffer_pages)
        self._spill = Spill(config.spill_dir, config.spill_max_bytes, config.buffer_pages)
        self._render_pool = ThreadPoolExecutor(1, thread_name_prefix="stream-records")
        self._messages = PageMessages()
        self._window = asyncio.Semaphore(config.publish_window)
        self._in_flight: set[asyncio.Task[None]] = set()
        self._uploads = CatalogUploads(log_dir, config.catalogs_bucket, config.replicas, RETRY_S)
        self._snapshots = (
            None
            if fetch_catalog is None
            else CatalogSnapshots(log_dir, fetch_catalog, self._uploads.add)
        )
        self._tasks: list[asyncio.Task[None]] = []
        STREAM_CONNECTED.set(0)

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._connect()),
            asyncio.create_task(self._publish()),
            asyncio.create_task(self._uploads.run(self._connected_js, PUBLISH_ERRORS)),
        ]

    async def close(self) -> None:
        """Publishes what is queued (for up to two publish timeouts), lets the pages in flight
        be acked or spilled (one more timeout at most), spills the rest, then disconnects."""
        self._tasks[0].cancel()
        self._tasks[2].cancel()  # a snapshot not uploaded yet is uploaded at the next start
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), 2 * self._config.publish_timeout_s)
        self._tasks[1].cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._in_flight:  # each ends acked or spilled; none is cancelled
            await asyncio.wait(set(self._in_flight))
        while not self._queue.empty():
            self._spill_page(*self._queue.get_nowait())
        if self._snapshots is not None:
            await self._snapshots.close()
        if self._client.is_connected:
            await self._client.drain()
        await self._spill.close()
        self._render_pool.shutdown()

    @property
    def _connected(self) -> bool:
        return self._js is not None and self._client.is_connected

    def _connected_js(self) -> JetStreamContext | None:
        return self._js if self._connected else None

    async def _connect(self) -> None:
        while True:
            try:
                await self._client.connect(
                    servers=[self._config.url],
                    connect_timeout=2,
                    reconnect_time_wait=RETRY_S,
                    max_reconnect_attempts=-1,
                    disconnected_cb=self._disconnected,
                    reconnected_cb=self._reconnected,
                    error_cb=self._error,
                )
                break
            except (NatsError, OSError) as error:
                log.warning("NATS not reachable yet", url=self._config.url, error=str(error))
                await asyncio.sleep(RETRY_S)
        self._js = self._client.jetstream(timeout=self._config.publish_timeout_s)
        await self._reconnected()

    async def _ensure_streams(self, js: JetStreamContext) -> None:
        for settings in (self._config.impressions, self._config.feedback):
            wanted = stream_config(settings, self._config)
            try:
                await js.update_stream(wanted)
            except NotFoundError:
                await js.add_stream(wanted)

    async def _reconnected(self) -> None:
        if self._js is None:
            return
        try:
            await self._ensure_streams(self._js)
        except PUBLISH_ERRORS as error:
            log.error("JetStream streams not set up", url=self._config.url, error=str(error))
            return
        STREAM_CONNECTED.set(1)
        log.info("NATS connected", url=self._config.url)

    async def _disconnected(self) -> None:
        STREAM_CONNECTED.set(0)
        log.warning("NATS disconnected; impressions spill, ReportEvent is UNAVAILABLE")

    async def _error(self, error: Exception) -> None:
        log.warning("NATS client error", error=str(error))

    def log_page(self, page: PageRequest, rendered: RenderedPage) -> None:
        """Queues the page for the stream, or spills it when the buffer is full; never waits."""
        if rendered.inputs is None or not rendered.inputs.groups:
            return
        served_ms = int(time.time() * 1000)
        try:
            self._queue.put_nowait((page, rendered, served_ms))
        except asyncio.QueueFull:
            self._spill_page(page, rendered, served_ms)
        if self._snapshots is not None:
            self._snapshots.note(group.catalog_version for group, _ in rendered.inputs.groups)

    def _spill_page(self, page: PageRequest, rendered: RenderedPage, served_ms: int) -> None:
        """The spill's writer renders the record (off the loop)."""
        self._spill.add(partial(self._messages.record, page, rendered, served_ms), rendered.page_id)

    async def _publish(self) -> None:
        """The one publisher: replays the spill when connected, then publishes the queued
        pages in order, each as soon as one of the window's slots is free."""
        loop = asyncio.get_running_loop()
        while True:
            if self._connected and self._spill.pending:
                await self._replay()
            try:
                queued = await asyncio.wait_for(self._queue.get(), RETRY_S)
            except TimeoutError:
                continue
            try:
                message = await loop.run_in_executor(
                    self._render_pool, self._messages.encoded, *queued
                )
                await self._window.acquire()
            except asyncio.CancelledError:  # close(): the page goes to the spill, not lost
                self._spill_page(*queued)
                self._queue.task_done()
                raise
            task = asyncio.create_task(self._publish_queued(queued[1].page_id, message))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

    async def _publish_queued(self, page_id: str, message: tuple[dict, bytes] | None) -> None:
        """Holds one of the window's slots until the page is acked or spilled."""
        try:
            if message is not None and not await self._publish_page(page_id, message[1]):
                self._spill.add(partial(_kept, message[0]), page_id)
        finally:
            self._window.release()
            self._queue.task_done()

    async def _publish_page(self, page_id: str, body: bytes) -> bool:
        """True once JetStream acked the page's message."""
        if not self._connected:
            return False
        assert self._js is not None
        try:
            await self._js.publish(
                self._config.impressions.subject,
                body,
                headers=message_headers(IMPRESSIONS, page_id),
            )
        except PUBLISH_ERRORS as error:
            log.warning(
                "impression not published; spilled", error=str(error) or type(error).__name__
            )
            return False
        STREAM_IMPRESSIONS.labels("published").inc()
        return True

    async def _windowed(self, page_id: str, body: bytes) -> bool:
        async with self._window:
            return await self._publish_page(page_id, body)

    async def _replay(self) -> None:
        """Publishes the spilled files oldest first, a window's worth at a time, deleting
        each file once all of it is acked."""
        window = self._config.publish_window
        for path in await self._spill.files_to_replay():
            messages = await asyncio.to_thread(Spill.messages, path)
            for at in range(0, len(messages), window):
                chunk = messages[at : at + window]
                acked = await asyncio.gather(*(self._windowed(*message) for message in chunk))
                STREAM_IMPRESSIONS.labels("replayed").inc(sum(acked))
                if not all(acked):
                    return  # the broker went again: the file stays for the next replay
            await asyncio.to_thread(self._spill.replayed, path)
            log.info("spilled impressions replayed", path=str(path), pages=len(messages))

    async def log_feedback(self, event: FeedbackEvent) -> None:
        """Returns once JetStream acked the event; Unavailable when it cannot say so in time."""
        if not self._connected:
            STREAM_FEEDBACK.labels("unavailable").inc()
            raise Unavailable(
                f"the event stream ({self._config.url}) is not connected; "
                "retry with the same event_id"
            )
        assert self._js is not None
        try:
            ack = await self._js.publish(
                self._config.feedback.subject,
                orjson.dumps(feedback_record(event)),
                timeout=self._config.publish_timeout_s,
                headers=message_headers(FEEDBACK, event.event_id),
            )
        except PUBLISH_ERRORS as error:
            STREAM_FEEDBACK.labels("unavailable").inc()
            raise Unavailable(
                f"the event stream did not acknowledge the event within "
                f"{self._config.publish_timeout_s:g} s ({type(error).__name__}); "
                "retry with the same event_id"
            ) from error
        STREAM_FEEDBACK.labels("duplicate" if ack.duplicate else "stored").inc()
