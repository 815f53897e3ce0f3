"""Wiring and lifecycle of the artwork server: `python -m services.artwork.server`."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence

from keyart.artwork.v1 import artwork_service_pb2, artwork_service_pb2_grpc

from common.logging import get_logger
from common.server import ServingServer, run_service, run_until_signalled
from common.sqlite_files import CorruptDatabase
from services.artwork.catalog import Catalog
from services.artwork.config import ArtworkConfig
from services.artwork.model import Artwork
from services.artwork.servicer import ArtworkServicer
from services.artwork.store import ArtworkStore

SERVICE_NAME = artwork_service_pb2.DESCRIPTOR.services_by_name["ArtworkService"].full_name

log = get_logger(__name__)


def load_catalog(config: ArtworkConfig) -> Catalog:
    """Opens the store and reads every title (an empty store serves an empty catalog). Blocking."""
    store = ArtworkStore(config.db_path, check=True)
    return Catalog(store.load_titles(), config.image_base_url)


def register_artworks(
    config: ArtworkConfig, title_id: str, artworks: Sequence[Artwork], replace: bool
) -> Catalog:
    """Stores one title's new artworks (all or none) and rebuilds the catalog. Blocking."""
    store = ArtworkStore(config.db_path)
    store.add_artworks(title_id, artworks, replace=replace)
    catalog = Catalog(store.load_titles(), config.image_base_url)
    log.info(
        "artworks registered",
        title_id=title_id,
        artworks=len(artworks),
        replace=replace,
        catalog_version=catalog.version,
    )
    return catalog


def build_server(config: ArtworkConfig) -> tuple[ServingServer, ArtworkServicer]:
    """The server with the servicer registered and no catalog yet (UNAVAILABLE until set)."""
    server = ServingServer(config.server, [SERVICE_NAME])
    servicer = ArtworkServicer(
        config.max_titles_per_request, functools.partial(register_artworks, config)
    )
    artwork_service_pb2_grpc.add_ArtworkServiceServicer_to_server(servicer, server.server)
    return server, servicer


async def serve(config: ArtworkConfig) -> None:
    server, servicer = build_server(config)

    async def load() -> None:
        catalog = await asyncio.to_thread(load_catalog, config)
        servicer.serve(catalog)
        log.info(
            "catalog loaded",
            titles=len(catalog),
            artworks=catalog.artwork_count,
            catalog_version=catalog.version,
        )

    await run_until_signalled(server, service="artwork", on_started=load)


def main() -> None:
    run_service("artwork", ArtworkConfig.from_env, serve, fatal=(CorruptDatabase,))


if __name__ == "__main__":
    main()
