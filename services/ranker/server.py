"""The ranker process: serves RankPage once its model has loaded.

Health stays NOT_SERVING while the model loads; a model that cannot load ends
the process with a non-zero status instead of serving a guess.
"""

from __future__ import annotations

import asyncio

from keyart.ranker.v1 import ranker_service_pb2, ranker_service_pb2_grpc

from common.logging import get_logger
from common.metrics import MODEL_INFO
from common.server import ServingServer, run_service, run_until_signalled
from common.storage import Location
from services.ranker.catalog_features import CatalogFeatures
from services.ranker.cell_models import CellModels
from services.ranker.config import RankerConfig
from services.ranker.model import ModelError, RankingModel
from services.ranker.model_watch import ModelWatcher, WatchSettings
from services.ranker.servicer import RankerServicer

SERVICE_NAME = ranker_service_pb2.DESCRIPTOR.services_by_name["RankerService"].full_name

log = get_logger(__name__)


def build_server(
    config: RankerConfig,
    catalog: CatalogFeatures | None = None,
    cell_models: CellModels | None = None,
) -> tuple[ServingServer, RankerServicer]:
    """The server with RankerService registered; it answers UNAVAILABLE until `load_model`."""
    servicer = RankerServicer(
        config.policy(),
        max_candidates=config.max_candidates,
        catalog=catalog,
        cell_models=cell_models,
    )
    server = ServingServer(config.server, [SERVICE_NAME])
    ranker_service_pb2_grpc.add_RankerServiceServicer_to_server(servicer, server.server)
    return server, servicer


async def load_model(config: RankerConfig, servicer: RankerServicer) -> None:
    model = await asyncio.to_thread(
        RankingModel, config.model_path, intra_op_threads=config.intra_op_threads
    )
    serve_model(servicer, model)
    log.info("model loaded", path=str(config.model_path), model_version=model.version)


def serve_model(servicer: RankerServicer, model: RankingModel) -> None:
    """Swaps `model` in and moves the model-version metric with it."""
    previous = servicer.model_version
    servicer.use_model(model)
    if previous and previous != model.version:
        MODEL_INFO.labels(previous).set(0)
    MODEL_INFO.labels(model.version).set(1)


def model_watcher(config: RankerConfig, servicer: RankerServicer) -> ModelWatcher | None:
    """The hot-swap watcher of RANKER_MODEL_DIR, if one is configured."""
    if config.model_dir is None:
        return None
    settings = WatchSettings(
        config.model_dir,
        config.model_poll_s,
        config.min_offline_estimate,
        config.intra_op_threads,
        config.model_swap,
    )
    return ModelWatcher(
        settings,
        lambda model: serve_model(servicer, model),
        lambda: servicer.model_version,
        Location.local(config.model_path),
    )


async def serve(config: RankerConfig) -> None:
    catalog = CatalogFeatures(
        config.artwork_target, config.server.max_receive_bytes, tls=config.artwork_tls
    )
    cell_models = (
        None
        if config.cell_model_dir is None
        else CellModels(config.cell_model_dir, config.intra_op_threads)
    )
    server, servicer = build_server(config, catalog, cell_models)
    log.info(
        "configured",
        model_path=str(config.model_path),
        model_dir=str(config.model_dir or ""),
        cell_model_dir=str(config.cell_model_dir or ""),
        policy=config.policy().name,
        sticky_s=config.sticky_s,
    )
    refresher: asyncio.Task[None] | None = None
    watcher = model_watcher(config, servicer)
    stop_watching = asyncio.Event()
    watching: list[asyncio.Task[None]] = []

    async def started() -> None:
        nonlocal refresher
        await load_model(config, servicer)
        if watcher is not None:  # a new replica serves what a published directory names at once
            await watcher.check_once()
        if cell_models is not None:  # loaded before SERVING: an experiment may name them at once
            await cell_models.check_once()
            watching.append(
                asyncio.create_task(cell_models.run(config.model_poll_s, stop_watching))
            )
        await catalog.first_load(config.catalog_wait_s)
        refresher = asyncio.create_task(catalog.keep_fresh(config.catalog_poll_s))
        if watcher is not None:
            watching.append(asyncio.create_task(watcher.run(stop_watching)))

    async def stopped() -> None:
        if refresher is not None:
            refresher.cancel()
        stop_watching.set()
        await asyncio.gather(*watching)
        await catalog.close()

    await run_until_signalled(server, service="ranker", on_started=started, on_stopped=stopped)


def main() -> None:
    run_service("ranker", RankerConfig.from_env, serve, fatal=(ModelError,))


if __name__ == "__main__":
    main()
