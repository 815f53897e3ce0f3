"""Wiring and lifecycle of the artwork server: `python -m services.artwork.server`."""

from __future__ import annotations

import functools

from keyart.artwork.v1 import artwork_service_pb2, artwork_service_pb2_grpc

from common.logging import get_logger
from common.server import ServingServer, run_service, run_until_signalled
from common.sqlite_files import CorruptDatabase
from services.artwork.catalog import Catalog
from services.artwork.config import ArtworkConfig
from services.artwork.keeper import CatalogKeeper
from services.artwork.servicer import ArtworkServicer
from services.artwork.store import ArtworkStore

SERVICE_NAME = artwork_service_pb2.DESCRIPTOR.services_by_name["ArtworkService"].full_name

log = get_logger(__name__)


def catalog_keeper(config: ArtworkConfig) -> CatalogKeeper:
    """The configured store (an SQLite file's integrity checked when it opens) and its catalog."""
    return CatalogKeeper(
        functools.partial(ArtworkStore, config.db_path, check=True), config.image_base_url
    )


def load_catalog(config: ArtworkConfig) -> Catalog:
    """Opens the store and reads every title (an empty store serves an empty catalog). Blocking."""
    return catalog_keeper(config).load()


def build_server(config: ArtworkConfig) -> tuple[ServingServer, ArtworkServicer]:
    """The server with the servicer registered and no catalog yet (UNAVAILABLE until set)."""
    server = ServingServer(config.server, [SERVICE_NAME])
    servicer = ArtworkServicer(config.max_titles_per_request, catalog_keeper(config))
    artwork_service_pb2_grpc.add_ArtworkServiceServicer_to_server(servicer, server.server)
    return server, servicer


async def serve(config: ArtworkConfig) -> None:
    server, servicer = build_server(config)

    async def load() -> None:
        catalog = await servicer.load()
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
