"""Wiring and lifecycle of the artwork server: `python -m services.artwork.server`."""

from __future__ import annotations

import asyncio
import functools

from keyart.artwork.v1 import artwork_service_pb2, artwork_service_pb2_grpc

from common.errors import Unavailable
from common.logging import get_logger
from common.server import ServingServer, run_service, run_until_signalled
from common.sqlite_files import CorruptDatabase
from services.artwork.catalog import Catalog
from services.artwork.catalog_poll import poll_catalog
from services.artwork.catalog_store import CatalogStore
from services.artwork.config import ArtworkConfig
from services.artwork.keeper import CatalogKeeper
from services.artwork.postgres_store import PostgresCatalogStore
from services.artwork.servicer import ArtworkServicer
from services.artwork.store import ArtworkStore

SERVICE_NAME = artwork_service_pb2.DESCRIPTOR.services_by_name["ArtworkService"].full_name

log = get_logger(__name__)


def open_store(config: ArtworkConfig) -> CatalogStore:
    """The store `ARTWORK_STORE` names (an SQLite file's integrity checked as it opens)."""
    if config.store == "sqlite":
        return ArtworkStore(config.db_path, check=True)
    return PostgresCatalogStore(config.store)


def catalog_keeper(config: ArtworkConfig) -> CatalogKeeper:
    """The configured store, opened on first use, and the catalog served from it."""
    return CatalogKeeper(functools.partial(open_store, config), config.image_base_url)


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
    stop_polling = asyncio.Event()
    polling: list[asyncio.Task[None]] = []

    async def started() -> None:
        catalog = await servicer.load()
        log.info(
            "catalog loaded",
            titles=len(catalog),
            artworks=catalog.artwork_count,
            catalog_version=catalog.version,
        )
        polling.append(
            asyncio.create_task(poll_catalog(servicer.refresh, config.catalog_poll_s, stop_polling))
        )

    async def stopped() -> None:
        stop_polling.set()
        await asyncio.gather(*polling)

    await run_until_signalled(server, service="artwork", on_started=started, on_stopped=stopped)


def main() -> None:
    # A store unreachable at start (Unavailable) stops the process, naming the store.
    run_service("artwork", ArtworkConfig.from_env, serve, fatal=(CorruptDatabase, Unavailable))


if __name__ == "__main__":
    main()
