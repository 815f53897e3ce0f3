"""Faults under load, real processes on loopback: kill -9, slow and stalled dependencies,
SIGTERM, a gateway restart. No page fails; late or dead dependencies become fallbacks.

Short runs under `make test`; `make chaos` runs them longer on the reference page and
prints the figures.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from keyart.gateway.v1 import gateway_service_pb2 as pb

from loadgen.runner import LoadResult
from tests.chaos import (
    BACKENDS,
    VIEWER,
    HealthWatch,
    ProxiedSuite,
    audit,
    background_load,
    fully_personalized,
    ms,
    page_rows,
    proxied_suite,
    render_plan,
    scaled,
    seconds_until_personalized,
)

BUDGET_MS = 200
SLOW_S = 0.5  # what a slow dependency adds to every reply
# What a dead or late dependency turns a tile into.
REASON = {
    "profile": "FALLBACK_REASON_PROFILE_UNAVAILABLE",
    "ranker": "FALLBACK_REASON_RANKER_UNAVAILABLE",
    "artwork": "FALLBACK_REASON_CATALOG_UNAVAILABLE",
}
# The tiles each faulty backend affects: none for artwork, every title being in the gateway's cache.
FALLBACKS = {"profile": {REASON["profile"]}, "ranker": {REASON["ranker"]}, "artwork": set()}


def assert_fallbacks_explained(result: LoadResult, backend: str) -> None:
    """Every tile is personalized or says why not; the faulty backend's tiles fall back as
    FALLBACKS says. Another dependency may only have been late (DEADLINE_EXCEEDED): a restart
    competes for the two shared cores."""
    pages = audit(result)
    print(f"  {pages.degraded} of {pages.pages} pages degraded: {sorted(pages.dependencies)}")
    assert pages.unexplained_tiles == 0
    others = {(d, code) for d, code in pages.dependencies if d != f"DEPENDENCY_{backend.upper()}"}
    assert {code for _, code in others} <= {"DEADLINE_EXCEEDED"}
    late = {REASON[d.removeprefix("DEPENDENCY_").lower()] for d, _ in others}
    assert pages.fallback_reasons <= FALLBACKS[backend] | late
    if FALLBACKS[backend]:
        assert pages.degraded > 0  # the fault was seen, and answered with fallbacks


@pytest.fixture(scope="module")
def chaos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxiedSuite]:
    with proxied_suite(tmp_path_factory.mktemp("faults")) as running:
        yield running


@pytest.fixture(autouse=True)
def personalized_before_and_after(chaos: ProxiedSuite) -> Iterator[None]:
    seconds_until_personalized(chaos.client)
    yield
    for proxy in chaos.proxies.values():
        proxy.delay_s = 0.0
        proxy.resume()
    for service in chaos.suite.services.values():
        if service.exited():
            service.start()
            service.wait_serving()


def assert_no_page_failed_or_waited(result: LoadResult, what: str) -> None:
    """No page failed, and none waited for the fault (SLOW_S). Whether p99 stayed within
    budget + 10 ms is printed, not asserted: on the shared two-core machine it follows the
    neighbours' load (docs/reliability.md)."""
    latencies = [record.latency_s for record in result.records]
    p99 = ms(latencies, 99)
    print(
        f"\n{what}: {len(latencies)} pages, {result.errors} failed, p99 {p99:.1f} ms,"
        f" max {ms(latencies, 100):.1f} ms (budget {BUDGET_MS} ms;"
        f" p99 {'within' if p99 <= BUDGET_MS + 10 else 'PAST'} budget + 10 ms)"
    )
    assert result.errors == 0, {r.code + ": " + r.detail for r in result.records if r.code != "OK"}
    assert p99 < SLOW_S * 1000


@pytest.mark.parametrize("backend", BACKENDS)
def test_kill_9_under_load_fails_no_page_and_recovers(chaos: ProxiedSuite, backend: str) -> None:
    service = chaos.suite.services[backend]
    outage_s = scaled(1.0, 5.0)
    with background_load(render_plan(chaos.gateway, BUDGET_MS, scaled(3.0, 15.0))) as load:
        service.kill()
        time.sleep(outage_s)
        service.start()
        service.wait_serving()
        recovery_s = seconds_until_personalized(chaos.client)
    result = load.result()
    assert_no_page_failed_or_waited(result, f"kill -9 {backend}")
    print(f"  personalized again {recovery_s:.2f} s after {backend} reported SERVING")
    assert_fallbacks_explained(result, backend)


@pytest.mark.parametrize("mode", ["slow", "stalled"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_slow_or_stalled_dependency_keeps_the_page_in_budget(
    chaos: ProxiedSuite, backend: str, mode: str
) -> None:
    proxy = chaos.proxies[backend]
    if mode == "slow":
        proxy.delay_s = SLOW_S
    else:
        proxy.stall()
    try:
        with background_load(render_plan(chaos.gateway, BUDGET_MS, scaled(2.0, 10.0))) as load:
            pass
    finally:
        proxy.delay_s = 0.0
        proxy.resume()
    result = load.result()
    assert_no_page_failed_or_waited(result, f"{mode} {backend}")
    assert_fallbacks_explained(result, backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_sigterm_under_load_goes_not_serving_first_and_fails_nothing(
    chaos: ProxiedSuite, backend: str
) -> None:
    service = chaos.suite.services[backend]
    with background_load(render_plan(chaos.gateway, BUDGET_MS, scaled(2.5, 10.0))) as load:
        watch = HealthWatch(service.address)
        watch.wait_for("SERVING")
        code = service.stop()
        statuses = watch.close()
        service.start()
        service.wait_serving()
    result = load.result()
    assert_no_page_failed_or_waited(result, f"SIGTERM {backend}")
    assert code == 0
    assert statuses[0] == "SERVING" and statuses[-1] == "NOT_SERVING"  # told before it went away


def test_sigterm_lets_an_in_flight_page_finish(chaos: ProxiedSuite) -> None:
    """The gateway is told to stop while a page waits on a slow ranker: the page still completes."""
    gateway = chaos.suite.services["gateway"]
    chaos.proxies["ranker"].delay_s = 0.4
    answered: list[pb.RenderPageResponse] = []
    page = threading.Thread(
        target=lambda: answered.append(
            chaos.client.render_page(VIEWER, page_rows(), budget_ms=3000)
        )
    )
    watch = HealthWatch(gateway.address)
    watch.wait_for("SERVING")
    page.start()
    time.sleep(0.15)
    code = gateway.stop()
    page.join()
    statuses = watch.close()
    gateway.start()
    gateway.wait_serving()
    assert code == 0
    assert statuses[-1] == "NOT_SERVING"
    assert len(answered) == 1 and fully_personalized(answered[0])


def test_gateway_restart_under_load_loses_nothing_with_retries(chaos: ProxiedSuite) -> None:
    """Once under `make test`; 25 times under `make chaos`, since the CANCELLED of gRPC's stop
    race (docs/reliability.md) showed in about one restart of ten before clients retried it."""
    gateway = chaos.suite.services["gateway"]
    restarts = int(scaled(1, 25))
    failed: dict[str, int] = {}
    pages = 0
    for _ in range(restarts):
        plan = render_plan(chaos.gateway, BUDGET_MS, 4.0, retry=True, keep_responses=False)
        with background_load(plan) as load:
            time.sleep(0.5)
            started = time.monotonic()
            gateway.stop()
            gateway.start()
            gateway.wait_serving()
            restart_s = time.monotonic() - started
        result = load.result()
        latencies = [record.latency_s for record in result.records]
        pages += len(latencies)
        for record in result.records:
            if record.code != "OK":
                key = f"{record.code}: {record.detail}"
                failed[key] = failed.get(key, 0) + 1
        print(
            f"\ngateway restarted under load in {restart_s:.2f} s: {len(latencies)} pages, "
            f"{result.errors} failed, longest wait {ms(latencies, 100):.0f} ms (retry policy)"
        )
        assert ms(latencies, 100) >= restart_s * 500  # a call did wait out the restart
    print(f"summary: restarts={restarts} pages={pages} failed={sum(failed.values())}")
    assert failed == {}
