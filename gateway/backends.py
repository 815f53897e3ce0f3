"""The gateway's clients of profile, artwork and ranker: one channel each, typed results."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from keyart.artwork.v1 import artwork_service_pb2 as artwork_pb
from keyart.artwork.v1 import artwork_service_pb2_grpc as artwork_grpc
from keyart.profile.v1 import profile_service_pb2 as profile_pb
from keyart.profile.v1 import profile_service_pb2_grpc as profile_grpc
from keyart.ranker.v1 import ranker_service_pb2 as ranker_pb
from keyart.ranker.v1 import ranker_service_pb2_grpc as ranker_grpc

from common import ranking_wire
from common.catalog_stream import stream_features
from common.channels import backend_channel, request_metadata
from common.events import FeedbackEvent
from common.experiments import Cell
from gateway.config import GatewayConfig
from gateway.tile_wire import CandidateTiles


@dataclass(frozen=True)
class ViewerFeatures:
    known: bool
    schema_version: str
    packed: bytes


@dataclass(frozen=True)
class TitleCandidates:
    """A title's candidates as of `catalog_version`, whose rows `first_row`… hold their features."""

    title_id: str
    default_artwork_id: str
    artwork_ids: tuple[str, ...]
    image_urls: tuple[str, ...]
    catalog_version: str
    first_row: int

    @cached_property
    def default_index(self) -> int:
        """Where the default artwork is among the candidates (what a page shows unranked)."""
        return self.artwork_ids.index(self.default_artwork_id)

    @cached_property
    def tiles(self) -> CandidateTiles:
        """Encoded once per title and catalog version (the catalog cache keeps it)."""
        return CandidateTiles(self.title_id, self.artwork_ids, self.image_urls)


@dataclass(frozen=True)
class TitleTags:
    title_id: str
    genres: tuple[str, ...]
    cast: tuple[str, ...]
    artwork_ids: frozenset[str]


def _no_titles() -> np.ndarray:
    return np.zeros(0, dtype=ranking_wire.TITLE)


@dataclass(frozen=True)
class Ranking:
    """Per title, in the order sent: arrays as the ranker packed them (common/ranking_wire.py);
    `unscored`: the titles the model scored NaN or infinity, which got no choice."""

    chosen_indices: np.ndarray
    scores: np.ndarray
    propensities: np.ndarray
    model_version: str
    policy: str = ""
    unscored: np.ndarray = field(default_factory=_no_titles)  # ascending title indexes


class MalformedReply(Exception):
    """A dependency answered OK with a message that cannot be what it means."""


RankRequest = ranker_pb.RankPageRequest


async def _viewer_features(call: Awaitable[profile_pb.GetViewerFeaturesResponse]) -> ViewerFeatures:
    response = await call
    return ViewerFeatures(response.known, response.schema_version, response.features)


class Backends:
    """Channels are created once here and closed by `close()`."""

    def __init__(self, config: GatewayConfig) -> None:
        size = config.backend_max_message_bytes
        self._channels = [
            backend_channel(target, size, config.backend_tls)
            for target in (config.profile_target, config.artwork_target, config.ranker_target)
        ]
        profile_channel, artwork_channel, ranker_channel = self._channels
        self._profile = profile_grpc.ProfileServiceStub(profile_channel)
        self._artwork = artwork_grpc.ArtworkServiceStub(artwork_channel)
        self._ranker = ranker_grpc.RankerServiceStub(ranker_channel)

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()

    def viewer_features(
        self, user_id: str, timeout: float, request_id: str
    ) -> Awaitable[ViewerFeatures]:
        """Creates the call now (the renderer sends it before reading the page's rows)."""
        call = self._profile.GetViewerFeatures(
            profile_pb.GetViewerFeaturesRequest(user_id=user_id),
            timeout=timeout,
            metadata=request_metadata(request_id),
        )
        return _viewer_features(call)

    async def candidates(
        self, title_ids: list[str], timeout: float, request_id: str
    ) -> dict[str, TitleCandidates]:
        """The found titles that have candidates; unknown ids are left out."""
        response = await self._artwork.GetCandidates(
            artwork_pb.GetCandidatesRequest(title_ids=title_ids),
            timeout=timeout,
            metadata=request_metadata(request_id),
        )
        version = response.catalog_version
        return {
            title.title_id: TitleCandidates(
                title_id=title.title_id,
                default_artwork_id=title.default_artwork_id,
                artwork_ids=tuple(title.artwork_ids),
                image_urls=tuple(title.image_urls),
                catalog_version=version,
                first_row=title.first_row,
            )
            for title in response.titles
            if title.found and title.artwork_ids
        }

    async def catalog_features(self, version: str) -> np.ndarray | None:
        """Catalog `version`'s feature rows; None when the artwork service serves another."""
        return await stream_features(self._artwork, version)

    async def held_models(self, timeout: float) -> set[str]:
        """The model versions the ranker holds (an experiment's cells may name them)."""
        response = await self._ranker.ListModels(ranker_pb.ListModelsRequest(), timeout=timeout)
        return set(response.model_versions)

    async def catalog_version(self, timeout: float) -> str:
        response = await self._artwork.GetCatalogInfo(
            artwork_pb.GetCatalogInfoRequest(), timeout=timeout
        )
        return response.catalog_version

    async def title_tags(self, title_id: str, timeout: float, request_id: str) -> TitleTags | None:
        response = await self._artwork.GetTitles(
            artwork_pb.GetTitlesRequest(title_ids=[title_id]),
            timeout=timeout,
            metadata=request_metadata(request_id),
        )
        if not response.titles:
            return None
        title = response.titles[0]
        return TitleTags(
            title_id=title.title_id,
            genres=tuple(title.genres),
            cast=tuple(title.cast),
            artwork_ids=frozenset(artwork.artwork_id for artwork in title.artworks),
        )

    @staticmethod
    def rank_request(
        *,
        context: bytes,
        catalog_version: str,
        first_rows: list[int],
        candidate_counts: list[int],
        page_id: str,
        user_id: str = "",
        title_ids: list[str] | None = None,
        cell: Cell | None = None,
    ) -> RankRequest:
        """A page's rank request but for the viewer's features (built while the profile answers),
        with the model and exploration of the viewer's experiment cell, if it names them."""
        request = ranker_pb.RankPageRequest(
            context_features=context,
            catalog_version=catalog_version,
            first_rows=first_rows,
            candidate_counts=candidate_counts,
            page_id=page_id,
            user_id=user_id,
            title_ids=title_ids,
        )
        if cell is not None:
            request.model_version = cell.model_version
            if cell.exploration is not None:
                request.exploration.SetInParent()  # set even when greedy (both 0)
                request.exploration.epsilon = cell.exploration.epsilon
                request.exploration.temperature = cell.exploration.temperature
        return request

    async def rank(
        self, request: RankRequest, viewer: bytes, timeout: float, request_id: str
    ) -> Ranking:
        request.viewer_features = viewer
        response = await self._ranker.RankPage(
            request, timeout=timeout, metadata=request_metadata(request_id)
        )
        try:
            arrays = ranking_wire.unpack(
                response.chosen_indices, response.scores, response.propensities
            )
            unscored = ranking_wire.unpack_unscored(response.unscored_titles, arrays.chosen.size)
        except ValueError as error:
            raise MalformedReply(str(error)) from None
        return Ranking(
            *arrays, model_version=response.model_version, policy=response.policy, unscored=unscored
        )

    async def apply_event(
        self, event: FeedbackEvent, tags: TitleTags, timeout: float, request_id: str
    ) -> bool:
        """Returns True when the event was a duplicate."""
        response = await self._profile.ApplyEvent(
            profile_pb.ApplyEventRequest(
                event_id=event.event_id,
                user_id=event.user_id,
                title_id=event.title_id,
                kind=event.kind,
                occurred_at_unix_ms=event.occurred_at_ms,
                genres=tags.genres,
                cast=tags.cast,
                page_id=event.page_id,
                artwork_id=event.artwork_id,
            ),
            timeout=timeout,
            metadata=request_metadata(request_id),
        )
        return response.duplicate
