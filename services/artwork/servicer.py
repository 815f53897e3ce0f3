"""ArtworkService over gRPC: validate, ask the catalog, translate to protobuf."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

import grpc
import numpy as np
from keyart.artwork.v1 import artwork_service_pb2 as pb
from keyart.artwork.v1 import artwork_service_pb2_grpc

from common.errors import InvalidArgument, Unavailable
from common.features import ARTWORK_DIM, SCHEMA_VERSION, pack
from common.logging import get_logger
from common.validation import require_path_id, require_path_ids
from services.artwork.catalog import Catalog, CatalogEntry
from services.artwork.keeper import CatalogKeeper
from services.artwork.messages import ava_tags
from services.artwork.registration import artworks_to_register
from services.artwork.titles import titles_to_delete, titles_to_upsert

# Feature rows per streamed chunk: 8,192 rows × 328 bytes ≈ 2.7 MB a message.
DEFAULT_ROWS_PER_CHUNK = 8192
MAX_ROWS_PER_CHUNK = 65536
DEFAULT_TITLES_PER_PAGE = 500
MAX_TITLES_PER_PAGE = 5000

log = get_logger(__name__)


def validate_title_ids(title_ids: Sequence[str], limit: int) -> None:
    if not title_ids:
        raise InvalidArgument("title_ids", "must list at least one title id")
    if len(title_ids) > limit:
        raise InvalidArgument("title_ids", f"{len(title_ids)} ids exceed the limit of {limit}")
    require_path_ids(title_ids, "title_ids")


def _title_candidates(entry: CatalogEntry) -> pb.TitleCandidates:
    return pb.TitleCandidates(
        title_id=entry.title.title_id,
        found=True,
        default_artwork_id=entry.default_artwork_id,
        artwork_ids=entry.artwork_ids,
        image_urls=entry.image_urls,
        first_row=entry.rows.start,
    )


def _title(entry: CatalogEntry) -> pb.Title:
    title = entry.title
    return pb.Title(
        title_id=title.title_id,
        name=title.name,
        genres=title.genres,
        cast=title.cast,
        default_artwork_id=entry.default_artwork_id,
        artworks=[
            pb.Artwork(
                artwork_id=artwork.artwork_id,
                image_url=image_url,
                tags=ava_tags(artwork),
            )
            for artwork, image_url in zip(title.artworks, entry.image_urls, strict=True)
        ],
    )


@dataclass(frozen=True)
class _Serving:
    """A catalog with its TitleCandidates messages prebuilt: copying a built message is
    several times faster than building one, and a page asks for ~1,600 of them."""

    catalog: Catalog
    candidates: dict[str, pb.TitleCandidates]

    @classmethod
    def of(cls, catalog: Catalog) -> _Serving:
        return cls(catalog, {entry.title.title_id: _title_candidates(entry) for entry in catalog})


class ArtworkServicer(artwork_service_pb2_grpc.ArtworkServiceServicer):
    """UNAVAILABLE until `serve(catalog)` (the server loads the catalog after binding)."""

    def __init__(self, max_titles_per_request: int, keeper: CatalogKeeper) -> None:
        self.max_titles_per_request = max_titles_per_request
        self._keeper = keeper
        # One write (and reload) at a time; pages keep reading the catalog being replaced.
        self._writing = asyncio.Lock()
        self._serving: _Serving | None = None

    def serve(self, catalog: Catalog) -> None:
        """Starts (or switches to) answering from `catalog`."""
        self._serving = _Serving.of(catalog)

    async def load(self) -> Catalog:
        """Reads the whole store and serves it."""
        async with self._writing:
            catalog = await asyncio.to_thread(self._keeper.load)
            self.serve(catalog)
        return catalog

    async def refresh(self) -> Catalog | None:
        """Serves the store's catalog anew if any writer changed it since the last load
        (None: unchanged). Unavailable when the store cannot be reached."""
        async with self._writing:
            catalog = await asyncio.to_thread(self._keeper.refresh)
            if catalog is not None:
                self._serving = await asyncio.to_thread(_Serving.of, catalog)
        return catalog

    def _ready(self) -> _Serving:
        if self._serving is None:
            raise Unavailable("the catalog is still loading")
        return self._serving

    async def GetCandidates(
        self, request: pb.GetCandidatesRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetCandidatesResponse:
        validate_title_ids(request.title_ids, self.max_titles_per_request)
        serving = self._ready()
        entries, features = serving.catalog.candidates(
            request.title_ids, with_features=request.include_features
        )
        return pb.GetCandidatesResponse(
            catalog_version=serving.catalog.version,
            titles=[
                serving.candidates[title_id]
                if entry is not None
                else pb.TitleCandidates(title_id=title_id, found=False)
                for title_id, entry in zip(request.title_ids, entries, strict=True)
            ],
            features=features,
            feature_dim=ARTWORK_DIM,
        )

    async def GetTitles(
        self, request: pb.GetTitlesRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetTitlesResponse:
        validate_title_ids(request.title_ids, self.max_titles_per_request)
        found, missing = self._ready().catalog.titles(request.title_ids)
        return pb.GetTitlesResponse(
            titles=[_title(entry) for entry in found], missing_title_ids=missing
        )

    async def ListTitles(
        self, request: pb.ListTitlesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListTitlesResponse:
        if request.page_size > MAX_TITLES_PER_PAGE:
            raise InvalidArgument(
                "page_size", f"{request.page_size}; the limit is {MAX_TITLES_PER_PAGE}"
            )
        if request.page_token:
            require_path_id(request.page_token, "page_token")
        catalog = self._ready().catalog
        size = request.page_size or DEFAULT_TITLES_PER_PAGE
        page = catalog.titles_after(request.page_token, size + 1)
        return pb.ListTitlesResponse(
            titles=[_title(entry) for entry in page[:size]],
            next_page_token=page[size - 1].title.title_id if len(page) > size else "",
            catalog_version=catalog.version,
        )

    async def GetCatalogInfo(
        self, request: pb.GetCatalogInfoRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetCatalogInfoResponse:
        catalog = self._ready().catalog
        return pb.GetCatalogInfoResponse(
            catalog_version=catalog.version,
            title_count=len(catalog),
            artwork_count=catalog.artwork_count,
            feature_schema=SCHEMA_VERSION,
        )

    async def StreamCatalogFeatures(
        self, request: pb.StreamCatalogFeaturesRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.StreamCatalogFeaturesResponse]:
        if request.rows_per_chunk > MAX_ROWS_PER_CHUNK:
            raise InvalidArgument(
                "rows_per_chunk", f"{request.rows_per_chunk}; the limit is {MAX_ROWS_PER_CHUNK}"
            )
        catalog = self._ready().catalog
        step = request.rows_per_chunk or DEFAULT_ROWS_PER_CHUNK
        total = catalog.artwork_count
        for first in range(0, max(total, 1), step):
            yield pb.StreamCatalogFeaturesResponse(
                catalog_version=catalog.version,
                first_row=first,
                total_rows=total,
                feature_dim=ARTWORK_DIM,
                features=catalog.matrix[first : first + step].tobytes(),
                feature_schema=SCHEMA_VERSION,
            )

    async def _write(self, change: Callable[[], Catalog]) -> tuple[_Serving, _Serving]:
        """Runs one blocking store write and serves its result: (before, after)."""
        before = self._ready()
        async with self._writing:
            after = await asyncio.to_thread(lambda: _Serving.of(change()))
            self._serving = after
        return before, after

    async def UpsertTitles(
        self, request: pb.UpsertTitlesRequest, context: grpc.aio.ServicerContext
    ) -> pb.UpsertTitlesResponse:
        titles = titles_to_upsert(request)
        before, after = await self._write(lambda: self._keeper.upsert(titles))
        catalog = after.catalog
        changed = catalog.version != before.catalog.version
        log.info(
            "titles upserted", titles=len(titles), catalog_version=catalog.version, changed=changed
        )
        return pb.UpsertTitlesResponse(
            catalog_version=catalog.version,
            changed=changed,
            title_count=len(catalog),
            artwork_count=catalog.artwork_count,
        )

    async def DeleteTitles(
        self, request: pb.DeleteTitlesRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteTitlesResponse:
        title_ids = titles_to_delete(request)
        _, after = await self._write(lambda: self._keeper.delete(title_ids))
        catalog = after.catalog
        log.info("titles deleted", titles=len(title_ids), catalog_version=catalog.version)
        return pb.DeleteTitlesResponse(
            catalog_version=catalog.version,
            title_count=len(catalog),
            artwork_count=catalog.artwork_count,
        )

    async def RegisterArtworks(
        self, request: pb.RegisterArtworksRequest, context: grpc.aio.ServicerContext
    ) -> pb.RegisterArtworksResponse:
        artworks = artworks_to_register(request)
        _, serving = await self._write(
            lambda: self._keeper.register(
                request.title_id, artworks, replace=request.replace_existing
            )
        )
        log.info(
            "artworks registered",
            title_id=request.title_id,
            artworks=len(artworks),
            replace=request.replace_existing,
            catalog_version=serving.catalog.version,
        )
        entry = serving.catalog.titles([request.title_id])[0][0]
        row_of = {artwork_id: row for row, artwork_id in enumerate(entry.artwork_ids)}
        rows = np.asarray(entry.features)[[row_of[artwork.artwork_id] for artwork in artworks]]
        return pb.RegisterArtworksResponse(
            catalog_version=serving.catalog.version,
            artwork_ids=[artwork.artwork_id for artwork in artworks],
            features=pack(rows),
            feature_dim=ARTWORK_DIM,
        )
