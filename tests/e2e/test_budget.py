"""The page under budget: slow and dead dependencies, breakers, shedding — real processes.

Each backend is reached through a DelayProxy, so a test can make it slow
without touching its code.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from keyart.gateway.v1 import gateway_service_pb2 as pb

from suite.client import PageClient
from suite.supervisor import Suite
from tests.chaos import proxied_suite
from tests.e2e.delay_proxy import DelayProxy

GWH = [("featured", ["good-will-hunting"])]


@pytest.fixture(scope="module")
def proxied(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Suite, dict[str, DelayProxy], PageClient]]:
    extra_env = {
        "GATEWAY_MAX_CONCURRENT_PAGES": "2",
        "GATEWAY_BREAKER_FAILURES": "3",
        "GATEWAY_BREAKER_OPEN_S": "0.5",
    }
    with proxied_suite(tmp_path_factory.mktemp("budget"), extra_env) as running:
        running.client.render_page("romance-fan", GWH)
        yield running.suite, running.proxies, running.client


def tile(response: pb.RenderPageResponse) -> pb.Tile:
    return response.rows[0].tiles[0]


def wait_personalized(client: PageClient, timeout_s: float = 10) -> pb.Tile:
    end = time.monotonic() + timeout_s
    while True:
        current = tile(client.render_page("romance-fan", GWH))
        if current.personalized or time.monotonic() > end:
            return current
        time.sleep(0.1)


def test_slow_ranker_past_the_budget_falls_back_without_waiting(proxied) -> None:
    _, proxies, client = proxied
    proxies["ranker"].delay_s = 0.6
    try:
        started = time.monotonic()
        response = client.render_page("romance-fan", GWH, budget_ms=150)
        elapsed = time.monotonic() - started
    finally:
        proxies["ranker"].delay_s = 0.0
    assert elapsed < 0.5  # the page did not wait for the 0.6 s ranker
    assert [(d.dependency, d.status_code) for d in response.degradations] == [
        (pb.DEPENDENCY_RANKER, "DEADLINE_EXCEEDED")
    ]
    assert tile(response).artwork_id == "good-will-hunting/neutral"
    assert tile(response).fallback_reason == pb.FALLBACK_REASON_RANKER_UNAVAILABLE
    assert wait_personalized(client).artwork_id == "good-will-hunting/damon-driver"


def test_slow_profile_ranks_with_the_cold_start_vector(proxied) -> None:
    _, proxies, client = proxied
    proxies["profile"].delay_s = 0.6
    try:
        response = client.render_page("romance-fan", GWH, budget_ms=150)
    finally:
        proxies["profile"].delay_s = 0.0
    assert [(d.dependency, d.status_code) for d in response.degradations] == [
        (pb.DEPENDENCY_PROFILE, "DEADLINE_EXCEEDED")
    ]
    assert not tile(response).personalized
    assert tile(response).fallback_reason == pb.FALLBACK_REASON_PROFILE_UNAVAILABLE
    assert tile(response).artwork_id == "good-will-hunting/neutral"
    assert response.model_version  # the ranker still ranked the page
    assert wait_personalized(client).personalized


def test_dead_artwork_service_serves_cached_titles(proxied) -> None:
    suite, _, client = proxied
    client.render_page("romance-fan", GWH)  # GWH is now in the gateway's catalog cache
    artwork = suite.services["artwork"]
    artwork.stop()
    try:
        response = client.render_page("romance-fan", [("r", ["good-will-hunting", "title-00042"])])
    finally:
        artwork.start()
        artwork.wait_serving()
    cached, unseen = response.rows[0].tiles
    assert cached.artwork_id == "good-will-hunting/damon-driver"
    assert cached.personalized
    assert unseen.artwork_id == ""
    assert unseen.fallback_reason == pb.FALLBACK_REASON_CATALOG_UNAVAILABLE
    assert [d.dependency for d in response.degradations] == [pb.DEPENDENCY_ARTWORK]


def test_dead_profile_opens_the_breaker_and_recovery_closes_it(proxied) -> None:
    suite, _, client = proxied
    profile = suite.services["profile"]
    profile.stop()
    try:
        details = [client.render_page("romance-fan", GWH).degradations[0].detail for _ in range(5)]
    finally:
        profile.start()
        profile.wait_serving()
    assert "circuit breaker open" not in details[0]
    assert "circuit breaker open: failing fast" in details[-1]
    assert wait_personalized(client).artwork_id == "good-will-hunting/damon-driver"


def test_pages_beyond_the_concurrency_limit_are_shed_at_once(proxied) -> None:
    _, proxies, client = proxied
    proxies["ranker"].delay_s = 0.5

    def render() -> tuple[str, float]:
        started = time.monotonic()
        try:
            client.render_page("romance-fan", GWH, budget_ms=2000)
            return "OK", time.monotonic() - started
        except grpc.RpcError as error:
            return error.code().name, time.monotonic() - started

    try:
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda _: render(), range(4)))
    finally:
        proxies["ranker"].delay_s = 0.0
    codes = sorted(code for code, _ in results)
    assert codes.count("OK") >= 1
    assert "RESOURCE_EXHAUSTED" in codes
    assert set(codes) <= {"OK", "RESOURCE_EXHAUSTED"}
    shed = [elapsed for code, elapsed in results if code == "RESOURCE_EXHAUSTED"]
    assert max(shed) < 0.45  # refused without waiting for the slow page ahead of it
