"""Deciding a page: fan out, rank once, fall back tile by tile.

Profile is asked for the viewer's features while artwork is asked only for
titles the gateway's catalog cache misses; then the ranker scores every
candidate in one call (one per catalog version, in the rare page that spans
a catalog change). A dependency that is late, down, behind an open breaker
or answers nonsense becomes a Degradation, and the tiles it affects fall
back; the page itself never fails.
"""

from __future__ import annotations

import asyncio
import enum
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from operator import attrgetter
from typing import TypeVar

import grpc
import numpy as np

from common import features
from gateway import tile_wire
from gateway.backends import (
    Backends,
    MalformedReply,
    Ranking,
    RankRequest,
    TitleCandidates,
    ViewerFeatures,
)
from gateway.breaker import CircuitBreaker
from gateway.catalog_cache import CatalogCache
from gateway.page_request import PageRequest

T = TypeVar("T")

# Share of the page budget kept for the ranker while profile and artwork answer.
RANKER_SHARE = 0.4


class FallbackReason(enum.Enum):
    NONE = 0
    COLD_START = 1
    PROFILE_UNAVAILABLE = 2
    RANKER_UNAVAILABLE = 3
    CATALOG_UNAVAILABLE = 4
    UNKNOWN_TITLE = 5


@dataclass(frozen=True)
class Degradation:
    dependency: str  # "profile", "artwork" or "ranker"
    status_code: str
    detail: str


@dataclass(frozen=True)
class TitleGroup:
    """A page's titles of one catalog version, with the per-title columns its rank
    request and its impression record both use (built once, 1,600 titles a page)."""

    catalog_version: str
    titles: list[TitleCandidates]
    title_ids: list[str]
    counts: list[int]
    first_rows: list[int]

    @classmethod
    def of(cls, catalog_version: str, titles: list[TitleCandidates]) -> TitleGroup:
        return cls(
            catalog_version,
            titles,
            list(map(_TITLE_ID, titles)),
            list(map(len, map(_ARTWORK_IDS, titles))),
            list(map(_FIRST_ROW, titles)),
        )


_TITLE_ID = attrgetter("title_id")
_ARTWORK_IDS = attrgetter("artwork_ids")
_FIRST_ROW = attrgetter("first_row")
_CATALOG_VERSION = attrgetter("catalog_version")
_RANKED_PREFIXES = attrgetter("tiles.ranked_prefixes")


@dataclass(frozen=True)
class RankedInputs:
    """What a page's artwork was chosen from, for the impression log (gateway/impressions.py)."""

    viewer: ViewerFeatures | None  # None: ranked with the cold-start vector
    groups: list[tuple[TitleGroup, Ranking | None]]  # None: the ranker did not answer


@dataclass(frozen=True)
class RenderedPage:
    page_id: str
    rows: list[bytes]  # RenderPageResponse.rows entries, encoded (gateway/tile_wire.py)
    fallbacks: Counter[FallbackReason]  # titles shown for each reason other than NONE
    degradations: list[Degradation]
    model_version: str
    inputs: RankedInputs | None = None
    ranked_at: float = 0.0  # loop time when the ranker had answered (or was given up on)


class TailEstimate:
    """A moving average of the work left once the ranker has answered (tiles, the
    response message), so the ranker's timeout leaves room for it and a page whose
    ranker is late still lands inside its budget."""

    def __init__(self, initial_s: float = 0.005, weight: float = 0.2) -> None:
        self.seconds = initial_s
        self._weight = weight

    def observe(self, seconds: float) -> None:
        self.seconds += self._weight * (seconds - self.seconds)

    @property
    def reserve_s(self) -> float:
        return 1.5 * self.seconds + 0.002


class Deadline:
    """The page's end, on the event loop's clock."""

    def __init__(self, seconds: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._end = self._loop.time() + seconds

    def remaining(self, keep: float = 0.0) -> float:
        return self._end - self._loop.time() - keep


@dataclass(frozen=True)
class StartedPage:
    """A page whose profile call is on its way (`PageRenderer.start`)."""

    deadline: Deadline
    keep_for_ranker: float  # budget the profile and artwork calls leave to the ranker
    viewer: asyncio.Future[ViewerFeatures | Degradation]


class PageRenderer:
    def __init__(
        self, backends: Backends, cache: CatalogCache, breakers: dict[str, CircuitBreaker]
    ) -> None:
        self._backends = backends
        self._cache = cache
        self._breakers = breakers
        self.tail = TailEstimate()

    def _refusal(self, dependency: str, timeout: float) -> Degradation | None:
        """Why a call to `dependency` must not go out now, or None (claiming a half-open probe)."""
        if timeout <= 0:
            return Degradation(dependency, "DEADLINE_EXCEEDED", "no budget left for the call")
        if not self._breakers[dependency].allow():
            return Degradation(dependency, "UNAVAILABLE", "circuit breaker open: failing fast")
        return None

    async def _call(
        self, dependency: str, timeout: float, call: Callable[[float], Awaitable[T]]
    ) -> T | Degradation:
        """Runs `call(timeout)` unless the budget is spent or the breaker is open.

        A failed or skipped call becomes a Degradation; the outcome feeds the breaker.
        """
        refused = self._refusal(dependency, timeout)
        if refused is not None:
            return refused
        return await _settle(dependency, self._breakers[dependency], call(timeout))

    @asynccontextmanager
    async def start(
        self, head: PageRequest, *, budget_s: float, request_id: str
    ) -> AsyncIterator[StartedPage]:
        """Sends the profile call for `head`'s viewer at once, so that it is answered while
        the caller reads the page's rows; a page that ends early cancels it."""
        deadline = Deadline(budget_s)
        keep_for_ranker = budget_s * RANKER_SHARE + self.tail.reserve_s
        timeout = deadline.remaining(keep_for_ranker)
        refused = self._refusal("profile", timeout)
        if refused is None:
            # `viewer_features` creates the gRPC call now; one turn of the loop sends it.
            sent = self._backends.viewer_features(head.user_id, timeout, request_id)
            viewer = asyncio.ensure_future(_settle("profile", self._breakers["profile"], sent))
            await asyncio.sleep(0)
        else:
            viewer = asyncio.get_running_loop().create_future()
            viewer.set_result(refused)
        try:
            yield StartedPage(deadline, keep_for_ranker, viewer)
        finally:
            viewer.cancel()  # a no-op once answered

    async def finish(
        self, started: StartedPage, page: PageRequest, *, page_id: str, request_id: str
    ) -> RenderedPage:
        """Ranks `page` (its rows read) once its viewer's features are in."""
        deadline = started.deadline
        title_ids = page.unique_title_ids()
        found, missing = self._cache.lookup(title_ids)
        fetched: dict[str, TitleCandidates] | Degradation = {}
        if missing:
            fetched = await self._call(
                "artwork",
                deadline.remaining(started.keep_for_ranker),
                lambda t: self._backends.candidates(missing, t, request_id),
            )
        unseen = FallbackReason.UNKNOWN_TITLE
        if isinstance(fetched, Degradation):
            unseen = FallbackReason.CATALOG_UNAVAILABLE
        else:
            self._cache.store(fetched)
        if missing:  # in page order; titles neither cached nor fetched are left out
            fetched_now = fetched if isinstance(fetched, dict) else {}
            found = [entry for entry in map(fetched_now.get, title_ids, found) if entry is not None]
        groups = [TitleGroup.of(version, titles) for version, titles in by_catalog_version(found)]
        context = features.pack(
            features.context_vector(
                page.context.device_type, page.context.local_hour, page.context.day_of_week
            )
        )
        requests = [
            self._backends.rank_request(
                context=context,
                catalog_version=group.catalog_version,
                first_rows=group.first_rows,
                candidate_counts=group.counts,
                page_id=page_id,
                user_id=page.user_id,
                title_ids=group.title_ids,
            )
            for group in groups
        ]
        viewer = await started.viewer
        degradations = [result for result in (viewer, fetched) if isinstance(result, Degradation)]
        if isinstance(viewer, ViewerFeatures) and viewer.schema_version != features.SCHEMA_VERSION:
            viewer = Degradation(
                "profile", "FAILED_PRECONDITION", f"schema {viewer.schema_version}"
            )
            degradations.append(viewer)
        viewer_packed = (
            viewer.packed
            if isinstance(viewer, ViewerFeatures)
            else features.pack(features.cold_start_vector())
        )
        rankings: list[Ranking | Degradation] = await asyncio.gather(
            *(
                self._rank(request, viewer_packed, group, deadline, request_id)
                for group, request in zip(groups, requests)
            )
        )
        ranked_at = asyncio.get_running_loop().time()

        tiles: list[list[bytes]] = []  # per group, its titles' tile pieces in order
        fallbacks: Counter[FallbackReason] = Counter()
        model_version = ""
        logged = RankedInputs(viewer if isinstance(viewer, ViewerFeatures) else None, [])
        for group, ranking in zip(groups, rankings):
            logged.groups.append((group, ranking if isinstance(ranking, Ranking) else None))
            if isinstance(ranking, Degradation):
                if ranking.status_code == "FAILED_PRECONDITION":
                    self._cache.mark_stale()  # the ranker dropped a version we still cache
                degradations.append(ranking)
                tiles.append(default_tiles(group))
                fallbacks[FallbackReason.RANKER_UNAVAILABLE] += len(group.titles)
            else:
                model_version = ranking.model_version
                reason = viewer_fallback(viewer)
                tiles.append(ranked_tiles(group, ranking, reason))
                fallbacks[reason] += len(group.titles)
        rows = assemble_rows(page, groups, tiles, unseen, fallbacks)
        del fallbacks[FallbackReason.NONE]
        return RenderedPage(
            page_id, rows, fallbacks, degradations, model_version, logged, ranked_at
        )

    async def _rank(
        self,
        request: RankRequest,
        viewer_packed: bytes,
        group: TitleGroup,
        deadline: Deadline,
        request_id: str,
    ) -> Ranking | Degradation:
        ranking = await self._call(
            "ranker",
            deadline.remaining(self.tail.reserve_s),
            lambda t: self._backends.rank(request, viewer_packed, t, request_id),
        )
        if isinstance(ranking, Ranking) and not _fits(ranking, group.counts):
            return Degradation("ranker", "INTERNAL", "ranking does not match the candidates sent")
        return ranking


async def _settle(
    dependency: str, breaker: CircuitBreaker, pending: Awaitable[T]
) -> T | Degradation:
    """`pending`'s result, or the Degradation its failure means; the outcome feeds the breaker."""
    code = grpc.StatusCode.CANCELLED
    try:
        result = await pending
        code = grpc.StatusCode.OK
        return result
    except grpc.aio.AioRpcError as error:
        code = error.code()
        return Degradation(dependency, code.name, error.details() or "")
    except MalformedReply as error:
        code = grpc.StatusCode.INTERNAL
        return Degradation(dependency, code.name, str(error))
    finally:
        breaker.record(code)


def _fits(ranking: Ranking, counts: list[int]) -> bool:
    """One decision per title (the three arrays are as long as each other), each in range."""
    return ranking.chosen_indices.size == len(counts) and bool(
        (ranking.chosen_indices < np.asarray(counts)).all()
    )


def default_tiles(group: TitleGroup) -> list[bytes]:
    """Each title's default artwork, unranked (the ranker did not answer), as tile pieces."""
    reason = FallbackReason.RANKER_UNAVAILABLE.value
    return tile_wire.as_pieces(
        [title.tiles.unranked(title.default_index, reason) for title in group.titles]
    )


def ranked_tiles(group: TitleGroup, ranking: Ranking, reason: FallbackReason) -> list[bytes]:
    """Each title's chosen artwork as tile pieces; `reason` NONE means personalized."""
    return tile_wire.ranked_tiles(
        map(_RANKED_PREFIXES, group.titles),
        ranking.chosen_indices,
        ranking.scores,
        ranking.propensities,
        reason.value,
    )


def assemble_rows(
    page: PageRequest,
    groups: list[TitleGroup],
    pieces: list[list[bytes]],
    unseen: FallbackReason,
    fallbacks: Counter[FallbackReason],
) -> list[bytes]:
    """The page's rows in request order from each group's tile pieces (two a title,
    tile_wire.ranked_tiles); a title without a tile falls back for `unseen`, counted once
    in `fallbacks`."""
    if len(groups) == 1 and groups[0].title_ids == page.title_ids:
        # Every title once, in page order (nearly every page): rows are runs of the pieces.
        rows, start = [], 0
        for row_id, titles in page.rows:
            end = start + 2 * len(titles)
            rows.append(tile_wire.row(row_id, pieces[0][start:end]))
            start = end
        return rows
    choices: dict[str, bytes] = {}
    for group, group_pieces in zip(groups, pieces):
        choices.update(zip(group.title_ids, tile_wire.whole_tiles(group_pieces)))
    rows = []
    for row_id, titles in page.rows:
        row_tiles = list(map(choices.get, titles))
        if not all(row_tiles):  # a tile is never empty bytes: a falsy one is a title without one
            for at, title in enumerate(titles):
                if row_tiles[at] is None:
                    row_tiles[at] = choices.get(title) or _unseen(title, unseen, choices, fallbacks)
        rows.append(tile_wire.row(row_id, row_tiles))
    return rows


def _unseen(
    title: str,
    unseen: FallbackReason,
    choices: dict[str, bytes],
    fallbacks: Counter[FallbackReason],
) -> bytes:
    tile = choices[title] = tile_wire.title_only(title, unseen.value)
    fallbacks[unseen] += 1
    return tile


def viewer_fallback(viewer: ViewerFeatures | Degradation) -> FallbackReason:
    """Why tiles ranked for this viewer are not personalized, or NONE."""
    if isinstance(viewer, Degradation):
        return FallbackReason.PROFILE_UNAVAILABLE
    if not viewer.known:
        return FallbackReason.COLD_START
    return FallbackReason.NONE


def by_catalog_version(
    titles: list[TitleCandidates],
) -> list[tuple[str, list[TitleCandidates]]]:
    """The titles grouped by the catalog version they came from, each group in the order
    given (one group on almost every page)."""
    versions = set(map(_CATALOG_VERSION, titles))
    if len(versions) == 1:
        return [(versions.pop(), titles)]
    groups: dict[str, list[TitleCandidates]] = {}
    for title in titles:
        groups.setdefault(title.catalog_version, []).append(title)
    return list(groups.items())
