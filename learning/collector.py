"""`keyart collect`: both JetStream streams into the Parquet dataset, each message once.

Each stream is read by a durable pull consumer (explicit acks). Messages
are gathered into a batch until it holds `flush_decisions` decisions or
feedback rows, or `flush_s` passed since its first message; the batch is
then staged, committed to the journal and renamed into the dataset
(learning/collect_journal.py), and only then are its messages acknowledged.
The dataset is a local directory or a filesystem URL (common/storage.py); on an
object store a file is durable once its upload returned, so the acks follow
the uploads.
So an acknowledged message is in the dataset; a message in the dataset and
not acknowledged (a crash, a lost ack) comes again and is skipped by its
sequence number.

At start the consumers are (re)created to deliver from the first sequence
the journal does not hold: messages a killed collector had fetched come again
at once, not after the ack wait.

A page's catalog snapshot is fetched from the NATS object store
(gateway/stream_catalogs.py) into `DATASET/.collect/catalogs/` (for a dataset on
an object store, into a temporary directory on the local disk: what is not
there after a restart is fetched again). A page whose
snapshot is not there yet is left unacknowledged (delivered again shortly)
for up to `snapshot_wait_s` after it was served; after that its decisions
are skipped and counted, as `dataset compact` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, ConsumerInfo, DeliverPolicy
from nats.js.errors import NotFoundError

from common.atomic_files import write_atomically
from common.catalog_snapshot import snapshot_path
from common.events import FeedbackEvent
from common.log_schema import LogFormatError, PageImpression
from common.logging import get_logger
from common.metrics import (
    COLLECTOR_CONNECTED,
    COLLECTOR_LAG,
    COLLECTOR_LAST_COMMIT,
    COLLECTOR_MESSAGES,
    COLLECTOR_PARTS,
)
from common.storage import Location
from gateway.stream_config import CATALOGS_BUCKET
from learning import collect_journal as journal_files
from learning.collect_batch import (
    StagedBatch,
    StreamMessage,
    decode_feedback,
    decode_page,
    stage,
)
from learning.compact import KEYART_INFO, Catalogs, known_action_sets
from learning.parquet_layout import create

log = get_logger(__name__)

NATS_ERRORS = (NatsError, asyncio.TimeoutError, OSError)
RETRY_S = 1.0
REDELIVER_S = 1.0
IDLE_WAIT_S, BUSY_WAIT_S = (
    0.5,
    0.05,
)  # how long a pull waits for a first message  # a page waiting for its catalog snapshot comes again after this


@dataclass(frozen=True)
class CollectorConfig:
    url: str
    dataset: Location
    impressions_stream: str = "KEYART_IMPRESSIONS"
    feedback_stream: str = "KEYART_FEEDBACK"
    catalogs_bucket: str = CATALOGS_BUCKET
    durable: str = "keyart-collector"  # its consumers: `<durable>-<stream name, lower case>`
    flush_decisions: int = 32_768  # rows per batch (decisions, or feedback rows)
    flush_s: float = 10.0  # a batch is committed at the latest this long after its first message
    # Messages asked for per pull. A page message is about 100 KB, and nats-server cuts a
    # client with more than 64 MB unread ("slow consumer"), so impressions are pulled few at a time.
    fetch_impressions: int = 16
    fetch_feedback: int = 256
    ack_wait_s: float = 120.0  # longer than a batch takes, so nothing is redelivered while held
    snapshot_wait_s: float = 300.0


@dataclass
class Pending:
    """The batch being gathered: messages not yet acknowledged, and what they decode to."""

    messages: list[tuple[Msg, StreamMessage]] = field(default_factory=list)
    sequences: set[tuple[str, int]] = field(default_factory=set)  # a redelivery is not added twice
    # Later deliveries of messages this batch or the one committing holds: acknowledged with
    # this batch, once the message is durable (the first delivery's ack may go to a consumer
    # recreated since).
    redelivered: list[Msg] = field(default_factory=list)
    pages: list[PageImpression] = field(default_factory=list)
    events: list[FeedbackEvent] = field(default_factory=list)
    decisions: int = 0
    started: float = 0.0

    def rows(self) -> int:
        return max(self.decisions, len(self.events))


def durable_name(config: CollectorConfig, stream: str) -> str:
    return f"{config.durable}-{stream.lower()}"


def consumer_lag(info: ConsumerInfo) -> int:
    """Messages not yet delivered to the consumer, or delivered and not acknowledged."""
    return (info.num_pending or 0) + (info.num_ack_pending or 0)


async def _ack(messages: list[Msg]) -> None:
    for msg in messages:
        # A lost ack: delivered again later, and skipped (its sequence is in the journal).
        with contextlib.suppress(*NATS_ERRORS):
            await msg.ack()


def _sequences(pending: Pending) -> dict[str, list[int]]:
    """The batch's stream sequence numbers, by stream."""
    sequences: dict[str, list[int]] = {}
    for _, message in pending.messages:
        sequences.setdefault(message.stream, []).append(message.sequence)
    return sequences


def _stream_message(stream: str, msg: Msg) -> StreamMessage:
    return StreamMessage(stream, msg.metadata.sequence.stream, msg.headers or {}, msg.data)


class Collector:
    def __init__(self, config: CollectorConfig) -> None:
        self._config = config
        self._root = config.dataset
        self._client = Client()
        self._js: JetStreamContext | None = None
        self._subscriptions: dict[str, JetStreamContext.PullSubscription] = {}
        self._pending = Pending()
        self._committing: Pending | None = None  # the batch the committer holds
        self._reconnected = False  # set by the client's callback: subscribe again
        self._fetch_wait_s = IDLE_WAIT_S
        self._commit_task: asyncio.Task[None] | None = None
        self._temporary: tempfile.TemporaryDirectory[str] | None = None  # the catalog cache's
        self._catalog_dir = self._catalog_cache()
        self._catalogs = Catalogs(self._catalog_dir)
        self._cached = {
            path.name.removeprefix("catalog-").removesuffix(".npy")
            for path in self._catalog_dir.glob("catalog-*.npy")
        }
        create(self._root, KEYART_INFO)
        self._lock = journal_files.lock(self._root)
        if self._lock is None:
            log.info(
                "the dataset is on an object store: no lock; one collector per dataset is "
                "the deployment's job (docs/collector.md)",
                dataset=str(self._root),
            )
        self.journal = journal_files.read_journal(self._root)
        journal_files.recover(self._root, self.journal)
        self._known = known_action_sets(self._root)

    def _catalog_cache(self) -> Path:
        """Where fetched catalog snapshots are kept (see the module docstring)."""
        local = self._root.local_path
        if local is not None:
            return local / journal_files.STAGING / "catalogs"
        self._temporary = tempfile.TemporaryDirectory(prefix="keyart-collect-catalogs-")
        return Path(self._temporary.name)

    @property
    def _streams(self) -> tuple[str, str]:
        return self._config.impressions_stream, self._config.feedback_stream

    async def run(self, stop: asyncio.Event, once: bool = False) -> None:
        """Collects until `stop` is set (committing what it holds), or with `once` until the
        streams hold nothing more."""
        await self._connect(stop)
        try:
            while not stop.is_set():
                if self._reconnected:
                    await self._connect(stop)  # deliveries the lost connection held come again
                fetched = await self._fetch_round()
                if self._due() or (once and fetched == 0):
                    await self._flush()
                if fetched == 0:
                    if once:
                        await self._committed()  # its acks count in the lag
                    if await self._lag() == 0 and once:
                        return
            await self._flush()
            await self._committed()
        finally:
            if self._client.is_connected:
                # The acks are sent; not drain(): its pull subscriptions would hold it 30 s.
                with contextlib.suppress(*NATS_ERRORS):
                    await self._client.flush(timeout=2)
                await self._client.close()
            COLLECTOR_CONNECTED.set(0)

    def _due(self) -> bool:
        pending = self._pending
        return bool(pending.messages) and (
            pending.rows() >= self._config.flush_decisions
            or time.monotonic() - pending.started >= self._config.flush_s
        )

    async def _connect(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                if not self._client.is_connected:
                    await self._client.connect(
                        servers=[self._config.url],
                        connect_timeout=2,
                        reconnect_time_wait=1,
                        max_reconnect_attempts=-1,
                        disconnected_cb=self._on_disconnected,
                        reconnected_cb=self._on_reconnected,
                        error_cb=self._on_error,
                    )
                self._js = self._client.jetstream(timeout=5)
                self._reconnected = False
                for old in self._subscriptions.values():  # their consumers are recreated
                    with contextlib.suppress(*NATS_ERRORS):
                        await old.unsubscribe()
                for stream in self._streams:
                    self._subscriptions[stream] = await self._subscribe(self._js, stream)
                COLLECTOR_CONNECTED.set(1)
                log.info("collector reading", url=self._config.url, streams=list(self._streams))
                return
            except NotFoundError:
                log.warning("streams not there yet: waiting for a gateway to create them")
            except NATS_ERRORS as error:
                log.warning("NATS not reachable yet", url=self._config.url, error=repr(error))
            await asyncio.sleep(RETRY_S)

    async def _on_disconnected(self) -> None:
        COLLECTOR_CONNECTED.set(0)
        log.warning("NATS disconnected; reconnecting")

    async def _on_reconnected(self) -> None:
        # The messages delivered to the lost connection and not acknowledged would come again
        # only after the ack wait: the consumers are recreated from the journal's first gap.
        self._reconnected = True
        log.info("NATS reconnected; the consumers are recreated", url=self._config.url)

    async def _on_error(self, error: Exception) -> None:
        log.warning("NATS client error", error=repr(error))

    async def _subscribe(
        self, js: JetStreamContext, stream: str
    ) -> JetStreamContext.PullSubscription:
        """The stream's durable consumer, made to deliver from the journal's first gap."""
        info = await js.stream_info(stream)
        state = self.journal.stream(stream)
        if state.committed.last() > info.state.last_seq:
            log.warning(
                "the stream's sequences are behind the journal's: it was recreated; "
                "collecting it anew",
                stream=stream,
                journal_last=state.committed.last(),
                stream_last=info.state.last_seq,
            )
            state.committed = journal_files.SequenceRanges()
        start = state.committed.first_missing()
        if info.state.first_seq > start and info.state.messages:
            log.error(
                "messages expired from the stream before they were collected",
                stream=stream,
                first_missing=start,
                first_in_stream=info.state.first_seq,
            )
        durable = durable_name(self._config, stream)
        with contextlib.suppress(NotFoundError):
            await js.delete_consumer(stream, durable)
        await js.add_consumer(
            stream,
            ConsumerConfig(
                durable_name=durable,
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=start,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=self._config.ack_wait_s,
                max_ack_pending=-1,
            ),
        )
        return await js.pull_subscribe_bind(durable, stream=stream)

    async def _fetch_round(self) -> int:
        """Pulls from both streams once; returns how many new messages were gathered."""
        gathered = received = 0
        for stream, subscription in self._subscriptions.items():
            batch = (
                self._config.fetch_impressions
                if stream == self._config.impressions_stream
                else self._config.fetch_feedback
            )
            try:
                messages = await subscription.fetch(batch, timeout=self._fetch_wait_s)
            except NatsTimeout:
                continue
            except NATS_ERRORS as error:
                log.warning("fetch failed; retrying", stream=stream, error=repr(error))
                await asyncio.sleep(RETRY_S)
                continue
            received += len(messages)
            for msg in messages:
                gathered += await self._gather(stream, msg)
                if self._due():  # bounds the batch, whatever one pull brought
                    await self._flush()
        # While messages flow, a stream that has none holds the round up only briefly.
        self._fetch_wait_s = BUSY_WAIT_S if received else IDLE_WAIT_S
        return gathered

    async def _gather(self, stream: str, msg: Msg) -> int:
        message = _stream_message(stream, msg)
        if (stream, message.sequence) in self._pending.sequences or (
            self._committing is not None
            and (stream, message.sequence) in self._committing.sequences
        ):
            self._pending.redelivered.append(msg)
            return 0
        if message.sequence in self.journal.stream(stream).committed:
            COLLECTOR_MESSAGES.labels(stream, "already_collected").inc()
            await msg.ack()
            return 0
        try:
            if stream == self._config.feedback_stream:
                self._pending.events.append(decode_feedback(message))
            else:
                page = decode_page(message)
                if not await self._snapshots_ready(page, msg):
                    return 0
                self._pending.pages.append(page)
                self._pending.decisions += len(page.tiles)
        except LogFormatError as error:
            # It can never be read: acknowledged, so it does not block the stream.
            log.error("message refused", stream=stream, sequence=message.sequence, error=str(error))
            COLLECTOR_MESSAGES.labels(stream, "refused").inc()
            await msg.ack()
            return 0
        if not self._pending.messages:
            self._pending.started = time.monotonic()
        self._pending.messages.append((msg, message))
        self._pending.sequences.add((stream, message.sequence))
        return 1

    async def _snapshots_ready(self, page: PageImpression, msg: Msg) -> bool:
        """True when every catalog the page names is cached, or waiting longer is pointless
        (its decisions are then skipped); False: asked to be delivered again later."""
        missing = {t.catalog_version for t in page.tiles} - self._cached
        for version in sorted(missing):
            if await self._fetch_snapshot(version):
                missing.discard(version)
        if not missing or time.time() * 1000 - page.time_ms > self._config.snapshot_wait_s * 1000:
            return True
        log.info(
            "page waits for its catalog snapshot",
            sequence=msg.metadata.sequence.stream,
            catalog_versions=sorted(missing),
        )
        await msg.nak(delay=REDELIVER_S)
        return False

    async def _fetch_snapshot(self, version: str) -> bool:
        assert self._js is not None
        try:
            store = await self._js.object_store(self._config.catalogs_bucket)
            result = await store.get(version)
        except NotFoundError:  # no bucket yet, or not this version yet
            return False
        except NATS_ERRORS as error:
            log.warning("catalog snapshot not fetched", catalog_version=version, error=repr(error))
            return False
        assert result.data is not None
        await asyncio.to_thread(
            write_atomically, snapshot_path(self._catalog_dir, version), result.data
        )
        self._cached.add(version)
        return True

    async def _flush(self) -> None:
        """Hands the pending batch to the committer and starts a new one. One batch commits
        at a time, on a thread, while the loop decodes the next."""
        pending, self._pending = self._pending, Pending()
        if not pending.messages:
            await self._committed()  # the redelivered ones are durable once it is
            await _ack(pending.redelivered)
            return
        await self._committed()
        self._committing = pending
        self._commit_task = asyncio.create_task(self._commit_and_ack(pending))

    async def _committed(self) -> None:
        """Waits for the batch being committed, if any (its failure is raised here)."""
        if self._commit_task is not None:
            task, self._commit_task = self._commit_task, None
            await task
        self._committing = None

    async def _commit_and_ack(self, pending: Pending) -> None:
        """Stages, commits and moves in the batch, then acknowledges its messages."""
        staged = await asyncio.to_thread(self._commit, pending)
        await _ack([msg for msg, _ in pending.messages] + pending.redelivered)
        for stream in self._streams:
            count = sum(1 for _, m in pending.messages if m.stream == stream)
            COLLECTOR_MESSAGES.labels(stream, "collected").inc(count)
        COLLECTOR_PARTS.inc(staged.parts)
        COLLECTOR_LAST_COMMIT.set(self.journal.totals.last_commit_ms / 1000)
        log.info(
            "batch collected",
            sequences={
                stream: [min(numbers), max(numbers), len(numbers)]
                for stream, numbers in _sequences(pending).items()
            },
            messages=len(pending.messages),
            decisions=staged.decisions,
            feedback=staged.feedback,
            parts=staged.parts,
            skipped_decisions=staged.skipped_decisions,
        )

    def _commit(self, pending: Pending) -> StagedBatch:
        batch = journal_files.new_batch(self._root)
        staged = stage(batch, pending.pages, pending.events, self._catalogs, self._known)
        totals = self.journal.totals
        totals.decisions += staged.decisions
        totals.feedback += staged.feedback
        totals.action_sets += staged.action_sets
        totals.parts += staged.parts
        totals.skipped_decisions += staged.skipped_decisions
        journal_files.commit(self._root, self.journal, batch, _sequences(pending))
        if staged.skipped_decisions:
            log.warning(
                "decisions skipped: no catalog snapshot arrived in time",
                decisions=staged.skipped_decisions,
                catalog_versions=sorted(staged.unresolved_versions),
            )
        return staged

    async def _lag(self) -> int:
        """Messages in the streams not yet acknowledged by this collector."""
        lag = 0
        for stream, subscription in self._subscriptions.items():
            try:
                info = await subscription.consumer_info()
            except NATS_ERRORS:
                return -1
            behind = consumer_lag(info)
            COLLECTOR_LAG.labels(stream).set(behind)
            lag += behind
        return lag
