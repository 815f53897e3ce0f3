"""Deciding a page: fan out to profile and artwork, rank once, fall back tile by tile.

A dependency that is late, down or answers nonsense becomes a Degradation
and the tiles it affects fall back; the page itself never fails.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import grpc

from common import features
from gateway.backends import Backends, PageCandidates, Ranking, ViewerFeatures
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
class TileChoice:
    title_id: str
    artwork_id: str = ""
    image_url: str = ""
    personalized: bool = False
    score: float = 0.0
    propensity: float = 1.0
    fallback: FallbackReason = FallbackReason.NONE


@dataclass(frozen=True)
class RenderedPage:
    page_id: str
    rows: list[tuple[str, list[TileChoice]]]
    degradations: list[Degradation]
    model_version: str


class Deadline:
    """The page's end, on the event loop's clock."""

    def __init__(self, seconds: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._end = self._loop.time() + seconds

    def remaining(self, keep: float = 0.0) -> float:
        return self._end - self._loop.time() - keep


async def _attempt(
    dependency: str, timeout: float, call: Callable[[float], Awaitable[T]]
) -> T | Degradation:
    """Runs `call(timeout)`; a failed or skipped call becomes a Degradation."""
    if timeout <= 0:
        return Degradation(dependency, "DEADLINE_EXCEEDED", "no budget left for the call")
    try:
        return await call(timeout)
    except grpc.aio.AioRpcError as error:
        return Degradation(dependency, error.code().name, error.details() or "")


class PageRenderer:
    def __init__(self, backends: Backends) -> None:
        self._backends = backends

    async def render(
        self, page: PageRequest, *, page_id: str, budget_s: float, request_id: str
    ) -> RenderedPage:
        deadline = Deadline(budget_s)
        keep_for_ranker = budget_s * RANKER_SHARE
        title_ids = page.unique_title_ids()
        viewer, catalog = await asyncio.gather(
            _attempt(
                "profile",
                deadline.remaining(keep_for_ranker),
                lambda t: self._backends.viewer_features(page.user_id, t, request_id),
            ),
            _attempt(
                "artwork",
                deadline.remaining(keep_for_ranker),
                lambda t: self._backends.candidates(title_ids, t, request_id),
            ),
        )
        degradations = [result for result in (viewer, catalog) if isinstance(result, Degradation)]
        if isinstance(viewer, ViewerFeatures) and viewer.schema_version != features.SCHEMA_VERSION:
            degradations.append(
                Degradation("profile", "FAILED_PRECONDITION", f"schema {viewer.schema_version}")
            )
            viewer = degradations[-1]

        choices: dict[str, TileChoice]
        model_version = ""
        if isinstance(catalog, Degradation):
            choices = {
                title: TileChoice(title, fallback=FallbackReason.CATALOG_UNAVAILABLE)
                for title in title_ids
            }
        else:
            ranking = await self._rank(page, catalog, viewer, deadline, page_id, request_id)
            if isinstance(ranking, Degradation):
                degradations.append(ranking)
                choices = _defaults(catalog)
            else:
                model_version = ranking.model_version
                choices = _ranked(catalog, ranking, viewer)
        rows = [
            (
                row_id,
                [
                    choices.get(title) or TileChoice(title, fallback=FallbackReason.UNKNOWN_TITLE)
                    for title in titles
                ],
            )
            for row_id, titles in page.rows
        ]
        return RenderedPage(page_id, rows, degradations, model_version)

    async def _rank(
        self,
        page: PageRequest,
        catalog: PageCandidates,
        viewer: ViewerFeatures | Degradation,
        deadline: Deadline,
        page_id: str,
        request_id: str,
    ) -> Ranking | Degradation:
        counts = [len(title.artwork_ids) for title in catalog.titles.values()]
        if not counts:
            return Ranking((), (), (), "")
        viewer_packed = (
            viewer.packed
            if isinstance(viewer, ViewerFeatures)
            else features.pack(features.cold_start_vector())
        )
        context = features.pack(
            features.context_vector(
                page.context.device_type, page.context.local_hour, page.context.day_of_week
            )
        )
        ranking = await _attempt(
            "ranker",
            deadline.remaining(),
            lambda t: self._backends.rank(
                viewer=viewer_packed,
                context=context,
                artwork=catalog.packed_features,
                candidate_counts=counts,
                page_id=page_id,
                timeout=t,
                request_id=request_id,
            ),
        )
        if isinstance(ranking, Ranking) and not _fits(ranking, counts):
            return Degradation("ranker", "INTERNAL", "ranking does not match the candidates sent")
        return ranking


def _fits(ranking: Ranking, counts: list[int]) -> bool:
    return (
        len(ranking.chosen_indices) == len(ranking.scores) == len(ranking.propensities) == len(counts)
        and all(index < count for index, count in zip(ranking.chosen_indices, counts))
    )


def _defaults(catalog: PageCandidates) -> dict[str, TileChoice]:
    return {
        title.title_id: TileChoice(
            title.title_id,
            artwork_id=title.default_artwork_id,
            image_url=title.image_url_of(title.default_artwork_id),
            fallback=FallbackReason.RANKER_UNAVAILABLE,
        )
        for title in catalog.titles.values()
    }


def _ranked(
    catalog: PageCandidates, ranking: Ranking, viewer: ViewerFeatures | Degradation
) -> dict[str, TileChoice]:
    if isinstance(viewer, Degradation):
        reason = FallbackReason.PROFILE_UNAVAILABLE
    elif not viewer.known:
        reason = FallbackReason.COLD_START
    else:
        reason = FallbackReason.NONE
    return {
        title.title_id: TileChoice(
            title.title_id,
            artwork_id=title.artwork_ids[index],
            image_url=title.image_urls[index],
            personalized=reason is FallbackReason.NONE,
            score=score,
            propensity=propensity,
            fallback=reason,
        )
        for title, index, score, propensity in zip(
            catalog.titles.values(),
            ranking.chosen_indices,
            ranking.scores,
            ranking.propensities,
        )
    }
