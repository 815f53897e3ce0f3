"""The gateway's learning logs: every ranked page's decisions, and every acknowledged event.

A decision names its candidates and their rows in the catalog version it was
ranked under, not their feature vectors (the gateway does not hold them; the
ranker does): offline tools resolve rows from a snapshot of that version,
which the gateway writes beside the segments the first time it logs a page
under the version (CatalogSnapshots), so the log stays readable after the
catalog changes.

Impressions are serialized and written on the log's writer thread; a page is
never slowed or failed by its log (when the writer is behind, the page is
dropped from the log and counted). Feedback is different: ReportEvent is
acknowledged only after its line is fsynced, so an acknowledged event is in
the log even if the gateway dies right after (see common/segment_log.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import grpc
import numpy as np
from keyart.gateway.v1 import gateway_service_pb2 as pb

from common import features
from common.catalog_snapshot import save_snapshot, snapshot_path
from common.config import env_float, env_int, env_str
from common.errors import ResourceExhausted, Unavailable
from common.events import FeedbackEvent
from common.log_schema import (
    FEEDBACK,
    IMPRESSIONS,
    DecisionColumns,
    PageImpression,
    SegmentTitle,
    feedback_record,
    header,
)
from common.logging import get_logger
from common.segment_log import SegmentLog, SegmentSettings
from gateway.page_request import PageRequest
from gateway.render import RankedInputs, RenderedPage, TitleGroup
from gateway.stream_config import NatsSinkConfig, nats_sink_from_env

log = get_logger(__name__)

DEFAULT_POLICY = "default_fallback"  # the ranker did not answer: the title's default, p = 1
CONTROL_POLICY = "default"  # an experiment's control cell: each title's default, p = 1
SNAPSHOT_RETRY_S = 5.0  # after a failed snapshot, the next page under its version tries again

# A catalog version's feature rows from the artwork service; None when it serves another now.
FetchCatalog = Callable[[str], Awaitable[np.ndarray | None]]


@dataclass(frozen=True)
class LearningLogConfig:
    directory: Path | None  # None: logging off
    segment_bytes: int
    segment_s: float
    max_queued: int  # events waiting for the feedback writer
    max_queued_pages: int  # pages waiting for the impression writer (each holds its tiles)
    impressions_sync_s: float  # impressions are fsynced at most this often (0: every batch)
    stream: NatsSinkConfig | None = None  # GATEWAY_LOG_SINK=nats://…; None: segment files

    @classmethod
    def from_env(cls) -> LearningLogConfig:
        directory = env_str("GATEWAY_LOG_DIR", "var/logs")
        return cls(
            stream=nats_sink_from_env(Path(directory)),
            directory=Path(directory) if directory else None,
            segment_bytes=env_int("GATEWAY_LOG_SEGMENT_BYTES", 64 << 20, minimum=1 << 10),
            segment_s=env_float("GATEWAY_LOG_SEGMENT_S", 3600.0, minimum=1.0),
            max_queued=env_int("GATEWAY_LOG_MAX_QUEUED", 10_000, minimum=1),
            max_queued_pages=env_int("GATEWAY_LOG_MAX_QUEUED_PAGES", 64, minimum=1),
            impressions_sync_s=env_float("GATEWAY_LOG_IMPRESSIONS_SYNC_S", 1.0, minimum=0.0),
        )

    def settings(self, directory: Path, kind: str) -> SegmentSettings:
        """Feedback is fsynced before each event is acknowledged; impressions, which
        no page waits for, every `impressions_sync_s`."""
        if kind == IMPRESSIONS:
            queued, sync_s = self.max_queued_pages, self.impressions_sync_s
        else:
            queued, sync_s = self.max_queued, 0.0
        return SegmentSettings(directory, kind, self.segment_bytes, self.segment_s, queued, sync_s)


class SegmentTitles:
    """The numbers the impression segment being written has given its titles (the log
    names a title once per segment and catalog version, then by number). Used on the
    writer thread only.

    A title is found by its first catalog row: within a catalog version the titles'
    rows are disjoint (the artwork service gives each title consecutive rows), so
    the row names the title, and a page's 1,600 numbers are one array lookup.
    """

    def __init__(self) -> None:
        self._segment = 0
        self._numbers: dict[str, np.ndarray] = {}  # catalog version → number by first row, -1: none
        self._named = 0  # titles named in the segment so far: the next number

    def number(self, segment: int, group: TitleGroup) -> tuple[np.ndarray, dict[int, SegmentTitle]]:
        """The group's title numbers in order, and the titles new to the segment by number."""
        if segment != self._segment:
            self._segment, self._numbers, self._named = segment, {}, 0
        rows = np.asarray(group.first_rows, dtype=np.int64)
        by_row = self._rows_up_to(group.catalog_version, int(rows.max(initial=-1)))
        found = by_row[rows]
        new: dict[int, SegmentTitle] = {}
        fresh = np.flatnonzero(found < 0)
        if fresh.size:
            numbers = np.arange(self._named, self._named + fresh.size)
            found[fresh] = by_row[rows[fresh]] = numbers
            self._named += fresh.size
            for at, number in zip(fresh.tolist(), numbers.tolist(), strict=True):
                title = group.titles[at]
                new[number] = SegmentTitle(
                    group.catalog_version, title.title_id, title.first_row, title.artwork_ids
                )
        return found, new

    def _rows_up_to(self, catalog_version: str, last_row: int) -> np.ndarray:
        """The version's number-by-row array, grown (doubling) to hold `last_row`."""
        by_row = self._numbers.get(catalog_version)
        if by_row is None or by_row.size <= last_row:
            size = max(last_row + 1, 2 * (0 if by_row is None else by_row.size))
            grown = np.full(size, -1, dtype=np.int64)
            if by_row is not None:
                grown[: by_row.size] = by_row
            by_row = self._numbers[catalog_version] = grown
        return by_row


# Given a page's title group, its title numbers and the titles new to the segment.
NumberTitles = Callable[[TitleGroup], tuple[np.ndarray, dict[int, SegmentTitle]]]


def decision_columns(inputs: RankedInputs, number_titles: NumberTitles) -> DecisionColumns:
    """The page's decisions as columns, built from its title groups and the ranker's
    arrays (1,600 titles a page: no object per title)."""
    known = inputs.viewer is not None and inputs.viewer.known
    new_titles: dict[int, SegmentTitle] = {}
    numbers: list[np.ndarray] = []
    chosen: list[np.ndarray | list[int]] = []
    propensities: list[np.ndarray] = []
    scores: list[np.ndarray] = []
    ranked: list[np.ndarray] = []
    for group, ranking in inputs.groups:
        n = len(group.titles)
        group_numbers, new = number_titles(group)
        numbers.append(group_numbers)
        new_titles.update(new)
        if ranking is None:  # the ranker did not answer: each title's default, p = 1
            chosen.append([title.default_index for title in group.titles])
            propensities.append(np.ones(n))
            scores.append(np.zeros(n))
        else:
            chosen.append(ranking.chosen_indices)
            propensities.append(ranking.propensities)
            scores.append(ranking.scores)
        group_ranked = np.full(n, ranking is not None)
        if ranking is not None:  # the model scored these NaN: each title's default, p = 1
            group_ranked[ranking.unscored] = False
        ranked.append(group_ranked)
    was_ranked = np.concatenate(ranked)
    return DecisionColumns(
        title_numbers=np.concatenate(numbers),
        new_titles=new_titles,
        chosen=np.concatenate(chosen),
        propensities=np.concatenate(propensities),
        scores=np.concatenate(scores),
        ranked=was_ranked,
        personalized=was_ranked & known,
    )


def page_records(
    page: PageRequest,
    rendered: RenderedPage,
    time_ms: int,
    number_titles: NumberTitles,
) -> list[dict]:
    """The page's one `page` record (runs on the writer thread, off the event loop)."""
    inputs = rendered.inputs
    if inputs is None:
        return []
    viewer = inputs.viewer
    assignment = rendered.assignment
    control = assignment is not None and assignment.cell.control
    policy = next(
        (ranking.policy for _, ranking in inputs.groups if ranking is not None),
        CONTROL_POLICY if control else DEFAULT_POLICY,
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
        viewer_known=viewer is not None and viewer.known,
        viewer_features=(
            features.unpack(viewer.packed, features.VIEWER_DIM, field="viewer")[0]
            if viewer is not None
            else features.cold_start_vector()
        ),
        model_version=rendered.model_version,
        policy=policy,
        tiles=(),
        experiment="" if assignment is None else assignment.experiment,
        cell="" if assignment is None else assignment.cell.name,
    )
    return [impression.record_with(decision_columns(inputs, number_titles))]


class CatalogSnapshots:
    """Writes `catalog-<version>.npy` beside the segments for each catalog version the
    log names, once per version, in the background (a page never waits for it).

    The rows come from the artwork service, which streams only the version it
    serves; the first page logged under a version is logged right after the
    gateway learned of it, so the version is still served. If it is not (the
    catalog changed twice within a refresh), that is logged as an error: the
    decisions under it cannot be resolved offline.
    """

    def __init__(
        self, directory: Path, fetch: FetchCatalog, on_disk: Callable[[str], None] | None = None
    ) -> None:
        """`on_disk(version)` is called once the version's snapshot is on disk."""
        self._directory = directory
        self._fetch = fetch
        self._on_disk = on_disk
        self._settled: set[str] = set()  # snapshot on disk, or the version is gone
        self._taking: dict[str, asyncio.Task[None]] = {}
        self._retry_at: dict[str, float] = {}

    def note(self, versions: Iterable[str]) -> None:
        """Starts a snapshot of each version not yet settled or being taken."""
        now = asyncio.get_running_loop().time()
        for version in versions:
            if version in self._settled or version in self._taking:
                continue
            if self._retry_at.get(version, 0.0) > now:
                continue
            self._taking[version] = asyncio.create_task(self._take(version))

    async def _take(self, version: str) -> None:
        path = snapshot_path(self._directory, version)
        try:
            if not await asyncio.to_thread(path.exists):
                matrix = await self._fetch(version)
                if matrix is None:
                    log.error(
                        "catalog version replaced before its snapshot was taken; "
                        "decisions logged under it cannot be resolved offline",
                        catalog_version=version,
                    )
                else:
                    await asyncio.to_thread(save_snapshot, self._directory, version, matrix)
                    log.info("catalog snapshot written", path=str(path), rows=matrix.shape[0])
            self._settled.add(version)
            if self._on_disk is not None and await asyncio.to_thread(path.exists):
                self._on_disk(version)
        except (grpc.aio.AioRpcError, OSError) as error:
            self._retry_at[version] = asyncio.get_running_loop().time() + SNAPSHOT_RETRY_S
            log.warning("catalog snapshot not taken yet", catalog_version=version, error=str(error))
        finally:
            del self._taking[version]

    async def close(self) -> None:
        """Cancels snapshots in flight (the next start takes them on its first page)."""
        for task in list(self._taking.values()):
            task.cancel()
        await asyncio.gather(*self._taking.values(), return_exceptions=True)


class LearningLogs:
    """The impression and feedback logs; `start()` before serving, `close()` after."""

    def __init__(
        self, config: LearningLogConfig, fetch_catalog: FetchCatalog | None = None
    ) -> None:
        """`fetch_catalog`: where catalog snapshots come from (None: none are taken)."""
        self._titles = SegmentTitles()
        self._impressions: SegmentLog | None = None
        self._feedback: SegmentLog | None = None
        self._snapshots: CatalogSnapshots | None = None
        if config.directory is not None:
            if fetch_catalog is not None:
                self._snapshots = CatalogSnapshots(config.directory, fetch_catalog)
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
        if self._snapshots is not None:
            await self._snapshots.close()
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
                lambda segment: page_records(
                    page, rendered, served_ms, partial(self._titles.number, segment)
                )
            )
        except ResourceExhausted:
            log.warning("impression log behind; page not logged", page_id=rendered.page_id)
        if self._snapshots is not None:
            self._snapshots.note(group.catalog_version for group, _ in rendered.inputs.groups)

    async def log_feedback(self, event: FeedbackEvent) -> None:
        """Returns once the event's line is on disk."""
        if self._feedback is None:
            return
        record = feedback_record(event)
        try:
            await asyncio.wrap_future(self._feedback.append(lambda _segment: [record]))
        except OSError as error:
            raise Unavailable(
                f"could not log the event ({error.strerror}); retry with the same event_id"
            ) from error
