"""Deciding a page: fan out, rank once, fall back tile by tile.

Profile is asked for the viewer's features while artwork is asked only for
titles the gateway's catalog cache misses; then the ranker scores every
candidate in one call (one per catalog version, in the rare page that spans
a catalog change). A dependency that is late, down, behind an open breaker
or answers nonsense becomes a Degradation, and the tiles it affects fall
back; the page itself never fails. A title the model scored NaN or infinity (the
ranker's `unscored` titles) shows its default artwork, without degrading the page.

A viewer in an experiment (common/experiments.py) gets the cell's policy: the
control (`default`) shows every title's default artwork without asking the ranker;
a model version or exploration settings go into the rank request. A model version
the ranker no longer holds (NOT_FOUND) ranks the page with the production model.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from operator import attrgetter
from typing import TypeVar, cast

import grpc
import numpy as np
from keyart.gateway.v1 import gateway_service_pb2 as pb

from common import features
from common.experiments import Assignment, Cell, Experiments
from common.logging import get_logger
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
from gateway.config import PageLimits
from gateway.fallbacks import PERSONALIZED, Degradation
from gateway.page_request import PageHead, PageRequest, parse_page_head, with_rows

T = TypeVar("T")

log = get_logger(__name__)

# Share of the page budget kept for the ranker while profile and artwork answer.
RANKER_SHARE = 0.4


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
    fallbacks: Counter[pb.FallbackReason]  # titles shown for each reason but PERSONALIZED
    degradations: list[Degradation]
    model_version: str
    inputs: RankedInputs | None = None
    ranked_at: float = 0.0  # loop time when the ranker had answered (or was given up on)
    assignment: Assignment | None = None  # the viewer's experiment and cell; None: production


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


@dataclass(frozen=True)
class PageCandidates:
    """A page's titles that have candidates, each once and in page order, and why the
    others have none."""

    found: list[TitleCandidates]
    unseen: pb.FallbackReason  # shown on a title without candidates
    degradation: Degradation | None  # the artwork call's, when it failed


@dataclass(frozen=True)
class GroupTiles:
    """Each title group's tiles (two pieces a title, tile_wire.ranked_tiles), the titles
    shown for each reason, and what the ranker said about the page."""

    pieces: list[list[bytes]]
    fallbacks: Counter[pb.FallbackReason]
    model_version: str  # empty when no group was ranked
    degradations: list[Degradation]


@dataclass(frozen=True)
class ServedPage:
    """A rendered page, its response encoded, and the request it answers (for the log)."""

    page: PageRequest
    rendered: RenderedPage
    response: bytes


class PageRenderer:
    """Renders a RenderPage request in the order its speed depends on (`render`)."""

    def __init__(
        self,
        backends: Backends,
        cache: CatalogCache,
        breakers: dict[pb.Dependency, CircuitBreaker],
        limits: PageLimits,
        experiments: Callable[[], Experiments] = Experiments,
    ) -> None:
        """`experiments`: the experiments in effect now (gateway/experiments_watch.py)."""
        self._backends = backends
        self._cache = cache
        self._breakers = breakers
        self._limits = limits
        self._experiments = experiments
        self._tail = TailEstimate()
        self._not_held: set[str] = set()  # cell model versions already warned about

    async def render(
        self, request: pb.RenderPageRequest, *, client_left_s: float | None, request_id: str
    ) -> ServedPage:
        """The page's head is read and its profile call sent first; its rows are read while
        the profile answers; then it is ranked (`finish`) and encoded. Bad input raises
        InvalidArgument and cancels the profile call."""
        head = parse_page_head(request, self._limits)
        budget_s = head.budget_ms / 1000
        if client_left_s is not None:
            budget_s = min(budget_s, client_left_s)
        assignment = self._experiments().assign(head.user_id, datetime.now(UTC))
        async with self.start(head, budget_s=budget_s, request_id=request_id) as started:
            page = with_rows(head, request, self._limits)
            rendered = await self.finish(
                started,
                page,
                page_id=uuid.uuid4().hex,
                request_id=request_id,
                assignment=assignment,
            )
        response = encode_page(rendered)
        self._tail.observe(asyncio.get_running_loop().time() - rendered.ranked_at)
        return ServedPage(page, rendered, response)

    @asynccontextmanager
    async def start(
        self, head: PageHead, *, budget_s: float, request_id: str
    ) -> AsyncIterator[StartedPage]:
        """Sends the profile call for `head`'s viewer at once, so that it is answered while
        the caller reads the page's rows; a page that ends early cancels it."""
        deadline = Deadline(budget_s)
        keep_for_ranker = budget_s * RANKER_SHARE + self._tail.reserve_s
        timeout = deadline.remaining(keep_for_ranker)
        refused = self._refusal(pb.DEPENDENCY_PROFILE, timeout)
        if refused is None:
            # `viewer_features` creates the gRPC call now; one turn of the loop sends it.
            sent = self._backends.viewer_features(head.user_id, timeout, request_id)
            breaker = self._breakers[pb.DEPENDENCY_PROFILE]
            viewer: asyncio.Future[ViewerFeatures | Degradation] = asyncio.ensure_future(
                _settle(pb.DEPENDENCY_PROFILE, breaker, sent)
            )
            await asyncio.sleep(0)
        else:
            viewer = asyncio.get_running_loop().create_future()
            viewer.set_result(refused)
        try:
            yield StartedPage(deadline, keep_for_ranker, viewer)
        finally:
            viewer.cancel()  # a no-op once answered

    async def finish(
        self,
        started: StartedPage,
        page: PageRequest,
        *,
        page_id: str,
        request_id: str,
        assignment: Assignment | None = None,
    ) -> RenderedPage:
        """Ranks `page` (its rows read) once its viewer's features are in:

        1. its titles' candidates, from the cache or the artwork service;
        2. the rank requests, one per catalog version, built while the profile answers;
        3. the viewer's features, or why there are none;
        4. every group ranked at once; the ranker's answer (or its absence) is the
           moment the tail estimate measures from;
        5. each group's tiles, then the rows cut from them, in request order.

        An experiment's control cell skips step 4: its tiles are the titles' defaults.
        """
        candidates = await self._candidates(page, started, request_id)
        groups = [
            TitleGroup.of(version, titles)
            for version, titles in by_catalog_version(candidates.found)
        ]
        cell = None if assignment is None else assignment.cell
        requests = self._rank_requests(page, groups, page_id, cell)  # while the profile answers
        viewer = await self._viewer(started)
        rankings: list[Ranking | Degradation | None]
        if cell is not None and cell.control:
            rankings = [None] * len(groups)
        else:
            rankings = list(
                await self._rank_groups(groups, requests, viewer, started.deadline, request_id)
            )
        ranked_at = asyncio.get_running_loop().time()
        tiles = self._group_tiles(groups, rankings, viewer)
        rows = assemble_rows(page, groups, tiles.pieces, candidates.unseen, tiles.fallbacks)
        del tiles.fallbacks[PERSONALIZED]
        degradations = [
            result for result in (viewer, candidates.degradation) if isinstance(result, Degradation)
        ]
        logged = RankedInputs(
            viewer if isinstance(viewer, ViewerFeatures) else None,
            [
                (group, r if isinstance(r, Ranking) else None)
                for group, r in zip(groups, rankings, strict=True)
            ],
        )
        return RenderedPage(
            page_id,
            rows,
            tiles.fallbacks,
            degradations + tiles.degradations,
            tiles.model_version,
            logged,
            ranked_at,
            assignment,
        )

    async def _candidates(
        self, page: PageRequest, started: StartedPage, request_id: str
    ) -> PageCandidates:
        """The page's titles from the catalog cache; the artwork service is asked only for
        the titles it misses."""
        title_ids = page.unique_title_ids()
        cached, missing = self._cache.lookup(title_ids)
        if not missing:
            found = cast(list[TitleCandidates], cached)  # no None: nothing was missing
            return PageCandidates(found, pb.FALLBACK_REASON_UNKNOWN_TITLE, None)
        fetched = await self._call(
            pb.DEPENDENCY_ARTWORK,
            started.deadline.remaining(started.keep_for_ranker),
            lambda t: self._backends.candidates(missing, t, request_id),
        )
        if isinstance(fetched, Degradation):
            unseen, degradation, fetched_now = pb.FALLBACK_REASON_CATALOG_UNAVAILABLE, fetched, {}
        else:
            self._cache.store(fetched)
            unseen, degradation, fetched_now = pb.FALLBACK_REASON_UNKNOWN_TITLE, None, fetched
        # In page order; titles neither cached nor fetched are left out.
        found = [entry for entry in map(fetched_now.get, title_ids, cached) if entry is not None]
        return PageCandidates(found, unseen, degradation)

    def _rank_requests(
        self, page: PageRequest, groups: list[TitleGroup], page_id: str, cell: Cell | None
    ) -> list[RankRequest]:
        """Each group's rank request, but for the viewer's features."""
        context = features.pack(
            features.context_vector(
                page.context.device_type, page.context.local_hour, page.context.day_of_week
            )
        )
        return [
            self._backends.rank_request(
                context=context,
                catalog_version=group.catalog_version,
                first_rows=group.first_rows,
                candidate_counts=group.counts,
                page_id=page_id,
                user_id=page.user_id,
                title_ids=group.title_ids,
                cell=cell,
            )
            for group in groups
        ]

    @staticmethod
    async def _viewer(started: StartedPage) -> ViewerFeatures | Degradation:
        """The viewer's features once in, or why the page is ranked for a cold start."""
        viewer = await started.viewer
        if isinstance(viewer, ViewerFeatures) and viewer.schema_version != features.SCHEMA_VERSION:
            return Degradation(
                pb.DEPENDENCY_PROFILE, "FAILED_PRECONDITION", f"schema {viewer.schema_version}"
            )
        return viewer

    async def _rank_groups(
        self,
        groups: list[TitleGroup],
        requests: list[RankRequest],
        viewer: ViewerFeatures | Degradation,
        deadline: Deadline,
        request_id: str,
    ) -> list[Ranking | Degradation]:
        """Every group ranked at once for the viewer (the cold-start vector without one)."""
        viewer_packed = (
            viewer.packed
            if isinstance(viewer, ViewerFeatures)
            else features.pack(features.cold_start_vector())
        )
        return await asyncio.gather(
            *(
                self._rank(request, viewer_packed, group, deadline, request_id)
                for group, request in zip(groups, requests, strict=True)
            )
        )

    def _group_tiles(
        self,
        groups: list[TitleGroup],
        rankings: list[Ranking | Degradation | None],
        viewer: ViewerFeatures | Degradation,
    ) -> GroupTiles:
        """Each group's ranked tiles, or its default tiles when its ranking failed or was not
        asked for (None: an experiment's control)."""
        pieces: list[list[bytes]] = []
        fallbacks: Counter[pb.FallbackReason] = Counter()
        degradations: list[Degradation] = []
        model_version = ""
        for group, ranking in zip(groups, rankings, strict=True):
            if ranking is None:
                pieces.append(default_tiles(group, pb.FALLBACK_REASON_EXPERIMENT_CONTROL))
                fallbacks[pb.FALLBACK_REASON_EXPERIMENT_CONTROL] += len(group.titles)
            elif isinstance(ranking, Degradation):
                if ranking.status_code == "FAILED_PRECONDITION":
                    self._cache.mark_stale()  # the ranker dropped a version we still cache
                degradations.append(ranking)
                pieces.append(default_tiles(group))
                fallbacks[pb.FALLBACK_REASON_RANKER_UNAVAILABLE] += len(group.titles)
            else:
                model_version = ranking.model_version
                reason = viewer_fallback(viewer)
                unscored = ranking.unscored.size
                pieces.append(ranked_tiles(group, ranking, reason))
                fallbacks[reason] += len(group.titles) - unscored
                if unscored:
                    fallbacks[pb.FALLBACK_REASON_MODEL_SCORE_INVALID] += unscored
        return GroupTiles(pieces, fallbacks, model_version, degradations)

    async def _rank(
        self,
        request: RankRequest,
        viewer_packed: bytes,
        group: TitleGroup,
        deadline: Deadline,
        request_id: str,
    ) -> Ranking | Degradation:
        ranking = await self._call(
            pb.DEPENDENCY_RANKER,
            deadline.remaining(self._tail.reserve_s),
            lambda t: self._backends.rank(request, viewer_packed, t, request_id),
        )
        if self._model_not_held(ranking, request):
            ranking = await self._call(
                pb.DEPENDENCY_RANKER,
                deadline.remaining(self._tail.reserve_s),
                lambda t: self._backends.rank(request, viewer_packed, t, request_id),
            )
        if not isinstance(ranking, Ranking):
            return ranking
        if not _fits(ranking, group.counts):
            return Degradation(
                pb.DEPENDENCY_RANKER, "INTERNAL", "ranking does not match the candidates sent"
            )
        return with_defaults_shown(ranking, group) if ranking.unscored.size else ranking

    def _model_not_held(self, ranking: Ranking | Degradation, request: RankRequest) -> bool:
        """True when the ranker refused the cell's model version (NOT_FOUND): `request` is
        turned into a production one (warned once per version)."""
        if not (
            isinstance(ranking, Degradation)
            and ranking.status_code == "NOT_FOUND"
            and request.model_version
        ):
            return False
        if request.model_version not in self._not_held:
            self._not_held.add(request.model_version)
            log.warning(
                "experiment cell's model is not held by the ranker; its pages are ranked "
                "with the production model",
                model_version=request.model_version,
                detail=ranking.detail,
            )
        request.model_version = ""
        return True

    def _refusal(self, dependency: pb.Dependency, timeout: float) -> Degradation | None:
        """Why a call to `dependency` must not go out now, or None (claiming a half-open probe)."""
        if timeout <= 0:
            return Degradation(dependency, "DEADLINE_EXCEEDED", "no budget left for the call")
        if not self._breakers[dependency].allow():
            return Degradation(dependency, "UNAVAILABLE", "circuit breaker open: failing fast")
        return None

    async def _call(
        self, dependency: pb.Dependency, timeout: float, call: Callable[[float], Awaitable[T]]
    ) -> T | Degradation:
        """Runs `call(timeout)` unless the budget is spent or the breaker is open.

        A failed or skipped call becomes a Degradation; the outcome feeds the breaker.
        """
        refused = self._refusal(dependency, timeout)
        if refused is not None:
            return refused
        return await _settle(dependency, self._breakers[dependency], call(timeout))


def encode_page(page: RenderedPage) -> bytes:
    """The RenderPageResponse on the wire: the page's fields, then its rows already encoded."""
    head = pb.RenderPageResponse(
        page_id=page.page_id,
        model_version=page.model_version,
        degradations=[degradation.to_proto() for degradation in page.degradations],
    )
    if page.assignment is not None:
        head.experiment = page.assignment.experiment
        head.cell = page.assignment.cell.name
    return head.SerializeToString() + b"".join(page.rows)


async def _settle(
    dependency: pb.Dependency, breaker: CircuitBreaker, pending: Awaitable[T]
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


def with_defaults_shown(ranking: Ranking, group: TitleGroup) -> Ranking:
    """`ranking` with each unscored title on its default artwork, score 0 and propensity 1:
    what its tile shows and the impression log records."""
    unscored = ranking.unscored
    chosen, scores = ranking.chosen_indices.copy(), ranking.scores.copy()
    propensities = ranking.propensities.copy()
    chosen[unscored] = [group.titles[at].default_index for at in unscored.tolist()]
    scores[unscored], propensities[unscored] = 0, 1
    return replace(ranking, chosen_indices=chosen, scores=scores, propensities=propensities)


def default_tiles(
    group: TitleGroup, reason: pb.FallbackReason = pb.FALLBACK_REASON_RANKER_UNAVAILABLE
) -> list[bytes]:
    """Each title's default artwork, unranked (the ranker did not answer, or the viewer is
    an experiment's control), as tile pieces."""
    return tile_wire.as_pieces(
        [title.tiles.unranked(title.default_index, reason) for title in group.titles]
    )


def ranked_tiles(group: TitleGroup, ranking: Ranking, reason: pb.FallbackReason) -> list[bytes]:
    """Each title's chosen artwork as tile pieces, shown for `reason` (or PERSONALIZED); an
    unscored title's for MODEL_SCORE_INVALID."""
    reasons: int | np.ndarray = reason
    if ranking.unscored.size:
        reasons = np.full(ranking.chosen_indices.size, reason, dtype=np.uint8)
        reasons[ranking.unscored] = pb.FALLBACK_REASON_MODEL_SCORE_INVALID
    return tile_wire.ranked_tiles(
        map(_RANKED_PREFIXES, group.titles),
        ranking.chosen_indices,
        ranking.scores,
        ranking.propensities,
        reasons,
    )


def assemble_rows(
    page: PageRequest,
    groups: list[TitleGroup],
    pieces: list[list[bytes]],
    unseen: pb.FallbackReason,
    fallbacks: Counter[pb.FallbackReason],
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
    for group, group_pieces in zip(groups, pieces, strict=True):
        choices.update(zip(group.title_ids, tile_wire.whole_tiles(group_pieces), strict=True))
    rows = []
    for row_id, titles in page.rows:
        found = list(map(choices.get, titles))
        if all(found):  # a tile is never empty bytes: a falsy one is a title without one
            row_tiles = cast(list[bytes], found)
        else:  # choices.get again: the title may be unseen on this row already
            row_tiles = [
                tile or choices.get(title) or _unseen(title, unseen, choices, fallbacks)
                for title, tile in zip(titles, found, strict=True)
            ]
        rows.append(tile_wire.row(row_id, row_tiles))
    return rows


def _unseen(
    title: str,
    unseen: pb.FallbackReason,
    choices: dict[str, bytes],
    fallbacks: Counter[pb.FallbackReason],
) -> bytes:
    tile = choices[title] = tile_wire.title_only(title, unseen)
    fallbacks[unseen] += 1
    return tile


def viewer_fallback(viewer: ViewerFeatures | Degradation) -> pb.FallbackReason:
    """Why tiles ranked for this viewer are not personalized, or PERSONALIZED."""
    if isinstance(viewer, Degradation):
        return pb.FALLBACK_REASON_PROFILE_UNAVAILABLE
    if not viewer.known:
        return pb.FALLBACK_REASON_COLD_START
    return PERSONALIZED


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
