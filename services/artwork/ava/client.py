"""The AVA pipeline's side of the artwork service's gRPC API."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from keyart.artwork.v1 import artwork_service_pb2 as pb
from keyart.artwork.v1.artwork_service_pb2_grpc import ArtworkServiceStub

from common import addresses
from common.errors import NotFound
from services.artwork.messages import ava_tags
from services.artwork.model import Artwork

DEFAULT_ARTWORK_TARGET = addresses.ARTWORK


class ArtworkCatalogClient:
    def __init__(self, target: str = DEFAULT_ARTWORK_TARGET, timeout_s: float = 30.0) -> None:
        self._channel = grpc.insecure_channel(target)
        self._stub = ArtworkServiceStub(self._channel)
        self._timeout_s = timeout_s

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> ArtworkCatalogClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def require_title(self, title_id: str) -> None:
        """NotFound unless the catalog has the title (checked before any analysis)."""
        response = self._stub.GetTitles(
            pb.GetTitlesRequest(title_ids=[title_id]), timeout=self._timeout_s
        )
        if response.missing_title_ids:
            raise NotFound(f"title {title_id!r} is not in the catalog")

    def register(
        self, title_id: str, artworks: Sequence[Artwork], *, replace: bool
    ) -> pb.RegisterArtworksResponse:
        request = pb.RegisterArtworksRequest(
            title_id=title_id,
            replace_existing=replace,
            artworks=[
                pb.NewArtwork(artwork_id=artwork.artwork_id, tags=ava_tags(artwork))
                for artwork in artworks
            ],
        )
        return self._stub.RegisterArtworks(request, timeout=self._timeout_s)
