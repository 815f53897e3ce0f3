"""A gateway learning log written by the gateway's own writer (gateway/impressions.py).

Seeded pages with explored choices (every tenth the ranker did not answer) under two
catalog versions (only `cat-1`
has a snapshot beside the segments), and qualified plays: some within the
reward window, some after it, some for other pages, a retried event, a click.
Small segments, and a gateway restarted every 30 pages, so the log has several
files of each kind.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np
from keyart.gateway.v1.gateway_service_pb2 import EVENT_KIND_CLICK as CLICK
from keyart.gateway.v1.gateway_service_pb2 import EVENT_KIND_QUALIFIED_PLAY as QUALIFIED_PLAY

from common.catalog_snapshot import save_snapshot
from common.events import FeedbackEvent
from common.features import ARTWORK_DIM, SCHEMA_VERSION, VIEWER_DIM, pack
from gateway.backends import Ranking, TitleCandidates, ViewerFeatures
from gateway.impressions import LearningLogConfig, LearningLogs
from gateway.page_request import PageContext, PageRequest
from gateway.render import RankedInputs, RenderedPage, TitleGroup

SNAPSHOT_VERSION, UNSNAPSHOTTED_VERSION = "cat-1", "cat-2"
TITLES = 12
CANDIDATES = 3
DEVICES = (1, 2, 3)  # DeviceType numbers: a mix of devices
SESSION_PAGES = 30


def config(directory: Path, segment_bytes: int = 4_096) -> LearningLogConfig:
    return LearningLogConfig(directory, segment_bytes, 3600.0, 1_000, 1_000, 0.0)


def catalog(
    version: str, titles: int = TITLES, candidates: int = CANDIDATES
) -> list[TitleCandidates]:
    """`titles` titles of `candidates` candidates each, title t's rows from t × candidates."""
    return [
        TitleCandidates(
            f"title-{t:04d}",
            f"title-{t:04d}/a0",
            tuple(f"title-{t:04d}/a{c}" for c in range(candidates)),
            tuple(f"u/{t}/{c}" for c in range(candidates)),
            version,
            t * candidates,
        )
        for t in range(titles)
    ]


def _rendered(
    rng: np.random.Generator, page_id: str, ranked: bool
) -> tuple[PageRequest, RenderedPage]:
    """A page; not `ranked`: the ranker did not answer (each title's default, p = 1)."""
    groups: list[tuple[TitleGroup, Ranking | None]] = []
    for version, shown in ((SNAPSHOT_VERSION, 5), (UNSNAPSHOTTED_VERSION, 1)):
        titles = [catalog(version)[t] for t in rng.choice(TITLES, shown, replace=False)]
        epsilon = 0.3
        best = rng.integers(0, CANDIDATES, shown)
        chosen = np.where(rng.random(shown) < epsilon, rng.integers(0, CANDIDATES, shown), best)
        propensity = np.where(
            chosen == best, 1 - epsilon + epsilon / CANDIDATES, epsilon / CANDIDATES
        )
        ranking = Ranking(
            chosen.astype("<u4"),
            rng.random(shown).astype("<f4"),
            propensity.astype("<f4"),
            "model-1",
            "epsilon_greedy(epsilon=0.3)",
        )
        groups.append((TitleGroup.of(version, titles), ranking if ranked else None))
    viewer = ViewerFeatures(True, SCHEMA_VERSION, pack(rng.random(VIEWER_DIM)))
    rendered = RenderedPage(page_id, [], Counter(), [], "model-1", RankedInputs(viewer, groups))
    device = int(rng.choice(DEVICES))
    titles_shown = tuple(title.title_id for group, _ in groups for title in group.titles)
    page = PageRequest(
        f"viewer-{rng.integers(0, 20)}",
        (("row", titles_shown),),
        PageContext(device, "US", int(rng.integers(0, 24)), int(rng.integers(1, 8))),
        200,
    )
    return page, rendered


def _plays(rng: np.random.Generator, page_ids: list[str], now_ms: int) -> list[FeedbackEvent]:
    events = []
    for n, page_id in enumerate(page_ids):
        title = f"title-{rng.integers(0, TITLES):04d}"  # played or not shown on that page
        late = rng.random() < 0.2  # after the 30-minute reward window
        at = now_ms + (2 * 3600_000 if late else int(rng.integers(0, 600_000)))
        kind = CLICK if n % 7 == 0 else QUALIFIED_PLAY
        events.append(FeedbackEvent(f"e-{n}", "viewer", page_id, title, "", kind, at))
    return events + events[:3]  # retried events: the same ids again


async def _write(directory: Path, pages: int, seed: int, logs: LearningLogs | None) -> None:
    """Without `logs`: a gateway started and stopped for each SESSION_PAGES pages (a new
    segment each time, however the writer batched them), then one for the plays."""
    rng = np.random.default_rng(seed)
    page_ids = []
    for first in range(0, pages, SESSION_PAGES):
        async with _session(directory, logs) as session:
            for n in range(first, min(pages, first + SESSION_PAGES)):
                page, rendered = _rendered(rng, f"page-{seed}-{n:04d}", ranked=n % 10 != 0)
                session.log_page(page, rendered)
                page_ids.append(rendered.page_id)
    async with _session(directory, logs) as session:
        for event in _plays(rng, page_ids, int(np.datetime64("now", "ms").astype(np.int64))):
            await session.log_feedback(event)


@asynccontextmanager
async def _session(directory: Path, logs: LearningLogs | None) -> AsyncIterator[LearningLogs]:
    if logs is not None:
        yield logs
        return
    session = LearningLogs(config(directory))
    session.start()
    try:
        yield session
    finally:
        await session.close()


def write_gateway_log(
    directory: Path, pages: int = 150, seed: int = 0, logs: LearningLogs | None = None
) -> None:
    """`pages` pages and their plays into `directory`, through `logs` (left open) or a
    LearningLogs of its own (closed after); `cat-1`'s snapshot beside them."""
    asyncio.run(_write(directory, pages, seed, logs))
    rows = np.random.default_rng(99).random((TITLES * CANDIDATES, ARTWORK_DIM), np.float32)
    save_snapshot(directory, SNAPSHOT_VERSION, rows)
