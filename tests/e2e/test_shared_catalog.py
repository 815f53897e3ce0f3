"""One catalog for every replica: artwork server processes on one real PostgreSQL database.

A write through one replica is served by the others within ARTWORK_CATALOG_POLL_S, with the
same catalog_version; the database stopped under a page load: pages keep being served from
the catalog held, writes answer UNAVAILABLE, and after its restart a write lands and is served.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
from keyart.artwork.v1 import artwork_service_pb2 as pb
from keyart.artwork.v1.artwork_service_pb2_grpc import ArtworkServiceStub

from cli.run import ensure_model
from cli.seed import seeded_suite
from demo.catalog import demo_titles
from services.artwork.postgres_store import PostgresCatalogStore
from suite.supervisor import ServiceProcess, Suite, free_address, local_suite_config
from tests.chaos import audit, background_load, render_plan
from tests.e2e.replicas import running_replicas
from tests.postgres_server import PostgresServer

POLL_S = 0.3
# What a loaded 2-core machine may add to one poll interval: the reload of the demo catalog.
RELOAD_SLACK_S = 2.0
TITLES = ("title-00001", "title-00002")


def shared_store_env(url: str, data_dir: Path) -> dict[str, str]:
    return {
        "ARTWORK_STORE": url,
        "ARTWORK_CATALOG_POLL_S": str(POLL_S),
        "ARTWORK_DB": str(data_dir / "unused.db"),
    }


def seeded(url: str) -> str:
    PostgresCatalogStore(url).upsert_titles(demo_titles())
    return url


def new_artwork(title_id: str, name: str) -> pb.NewArtwork:
    return pb.NewArtwork(
        artwork_id=f"{title_id}/{name}",
        tags=pb.AvaTags(
            cast=["Eileen Collins"], tones=["drama"], visual_quality=0.7, composition=0.6
        ),
    )


def register(address: str, title_id: str, name: str) -> pb.RegisterArtworksResponse:
    with grpc.insecure_channel(address) as channel:
        return ArtworkServiceStub(channel).RegisterArtworks(
            pb.RegisterArtworksRequest(title_id=title_id, artworks=[new_artwork(title_id, name)]),
            timeout=10,
        )


def catalog_version(address: str) -> str:
    with grpc.insecure_channel(address) as channel:
        return str(
            ArtworkServiceStub(channel)
            .GetCatalogInfo(pb.GetCatalogInfoRequest(), timeout=5)
            .catalog_version
        )


def artwork_ids(address: str, title_id: str) -> list[str]:
    with grpc.insecure_channel(address) as channel:
        response = ArtworkServiceStub(channel).GetCandidates(
            pb.GetCandidatesRequest(title_ids=[title_id]), timeout=5
        )
    return list(response.titles[0].artwork_ids)


def seconds_until_version(address: str, version: str, timeout_s: float = 10.0) -> float:
    started = time.monotonic()
    while catalog_version(address) != version:
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"{address} did not serve catalog {version} in {timeout_s} s")
        time.sleep(0.02)
    return time.monotonic() - started


@pytest.fixture
def two_replicas(postgres_url: str, tmp_path: Path) -> Iterator[list[str]]:
    """Two artwork server processes on one freshly seeded database."""
    env = shared_store_env(seeded(postgres_url), tmp_path)
    with running_replicas("artwork", env, tmp_path) as addresses:
        yield addresses
    assert not (tmp_path / "unused.db").exists()  # the SQLite store was never opened


def test_a_write_through_one_replica_is_served_by_the_other_within_the_poll(
    two_replicas: list[str],
) -> None:
    first, second = two_replicas
    assert catalog_version(first) == catalog_version(second)
    written = register(first, TITLES[0], "shared-1")
    assert catalog_version(first) == written.catalog_version
    waited_s = seconds_until_version(second, written.catalog_version)
    print(f"  the other replica served the write {waited_s:.2f} s later (poll {POLL_S} s)")
    assert waited_s <= POLL_S + RELOAD_SLACK_S
    assert f"{TITLES[0]}/shared-1" in artwork_ids(second, TITLES[0])


def test_writes_through_both_replicas_at_once_lose_nothing(two_replicas: list[str]) -> None:
    per_replica = 5
    both_ready = threading.Barrier(2)
    failures: list[BaseException] = []

    def write(address: str, title_id: str) -> None:
        both_ready.wait()
        try:
            for i in range(per_replica):
                register(address, title_id, f"concurrent-{i}")
        except grpc.RpcError as error:
            failures.append(error)

    threads = [
        threading.Thread(target=write, args=(address, title_id))
        for address, title_id in zip(two_replicas, TITLES, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    expected = {f"concurrent-{i}" for i in range(per_replica)}
    deadline = time.monotonic() + POLL_S + RELOAD_SLACK_S
    while len({catalog_version(address) for address in two_replicas}) > 1:
        assert time.monotonic() < deadline, "the replicas still serve different catalogs"
        time.sleep(0.02)
    for address in two_replicas:
        for title_id in TITLES:
            names = {a.split("/", 1)[1] for a in artwork_ids(address, title_id)}
            assert expected <= names, (address, title_id)


@pytest.fixture
def suite_on_postgres(
    postgres_server: PostgresServer, postgres_url: str, tmp_path: Path
) -> Iterator[Suite]:
    """The four services, artwork's catalog in PostgreSQL; the demo viewers seeded."""
    model = tmp_path / "models" / "bundled.onnx"
    ensure_model(model)
    env = shared_store_env(seeded(postgres_url), tmp_path)
    try:
        with seeded_suite(tmp_path, model, env) as suite:
            yield suite
    finally:
        if postgres_server.process is None:  # a failed test must not leave it stopped
            postgres_server.start()


def test_the_database_stopped_under_load_pages_go_on_writes_wait_for_its_return(
    postgres_server: PostgresServer,
    suite_on_postgres: Suite,
    tmp_path: Path,
) -> None:
    artwork = suite_on_postgres.services["artwork"].address
    before = catalog_version(artwork)
    gateway = suite_on_postgres.services["gateway"].address
    with background_load(render_plan(gateway, 250, 6.0)) as load:
        postgres_server.stop()
        with pytest.raises(grpc.RpcError) as refused:
            register(artwork, TITLES[0], "during-outage")
        time.sleep(10 * POLL_S)  # polls fail meanwhile; the catalog held is served
        assert catalog_version(artwork) == before
        postgres_server.start()
        written = register(artwork, TITLES[0], "after-restart")
    result = load.result()
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "catalog store (PostgreSQL at 127.0.0.1:" in str(refused.value.details())
    assert written.catalog_version != before
    assert catalog_version(artwork) == written.catalog_version
    assert artwork_ids(artwork, TITLES[0])[-1] == f"{TITLES[0]}/after-restart"
    assert f"{TITLES[0]}/during-outage" not in artwork_ids(artwork, TITLES[0])
    pages = audit(result)
    print(f"  {pages.pages} pages during the outage, {result.errors} failed")
    assert pages.pages > 0 and result.errors == 0
    assert pages.unexplained_tiles == 0
    assert "FALLBACK_REASON_CATALOG_UNAVAILABLE" not in pages.fallback_reasons
    log = (tmp_path / "services.log").read_text()
    # Many polls failed; the warning was written once (rate-limited), and the return noted.
    assert log.count("catalog not refreshed; serving the catalog held") == 1
    assert "catalog store reachable again" in log


def test_a_database_unreachable_at_start_stops_the_server_naming_the_store(
    tmp_path: Path,
) -> None:
    url = f"postgresql://keyart:s3cret@{free_address()}/catalog"
    config = local_suite_config(tmp_path, tmp_path / "unused.onnx")
    env = {**config.extra_env, **shared_store_env(url, tmp_path)}
    with open(tmp_path / "artwork.log", "wb") as log:
        artwork = ServiceProcess("artwork", replace(config, extra_env=env), log)
        artwork.start()
        assert artwork.process is not None
        assert artwork.process.wait(30) == 1
    lines = [json.loads(line) for line in (tmp_path / "artwork.log").read_text().splitlines()]
    (failed,) = [line for line in lines if line.get("event") == "cannot start"]
    assert "catalog store (PostgreSQL at 127.0.0.1:" in failed["error"]
    assert "s3cret" not in (tmp_path / "artwork.log").read_text()
