"""Shared pieces of the fault, overload, durability and soak runs: a suite whose backends sit
behind DelayProxies, load in the background, what a page says about its fallbacks, RSS.

Short by default (`make test`); `KEYART_CHAOS_LONG=1` (`make chaos`) scales the runs up.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from keyart.gateway.v1 import gateway_service_pb2 as pb

from cli.run import ensure_model
from cli.seed import seed_viewers
from demo.pages import reference_page
from loadgen.runner import LoadPlan, LoadResult, percentile, run_load
from suite.client import PageClient
from suite.supervisor import Suite, SuiteConfig, local_suite_config
from tests.e2e.delay_proxy import DelayProxy

BACKENDS = ("profile", "artwork", "ranker")
RENDER_PAGE = "/keyart.gateway.v1.PageService/RenderPage"
VIEWER = "romance-fan"
LONG = os.environ.get("KEYART_CHAOS_LONG", "") not in ("", "0")


def scaled(short: float, long: float) -> float:
    """`short` under `make test`, `long` under `make chaos`."""
    return long if LONG else short


@dataclass
class ProxiedSuite:
    suite: Suite
    proxies: dict[str, DelayProxy]
    config: SuiteConfig
    client: PageClient

    @property
    def gateway(self) -> str:
        return self.config.addresses["gateway"]


@contextmanager
def proxied_suite(
    data_dir: Path, extra_env: dict[str, str] | None = None
) -> Iterator[ProxiedSuite]:
    """The four real processes; the gateway reaches each backend through a DelayProxy."""
    model = data_dir / "models" / "bundled.onnx"
    ensure_model(model)
    config = local_suite_config(data_dir, model)
    with ExitStack() as stack:
        proxies = {
            name: stack.enter_context(DelayProxy(config.addresses[name])) for name in BACKENDS
        }
        config = replace(
            config,
            extra_env={
                **config.extra_env,
                **{f"{name.upper()}_TARGET": proxy.address for name, proxy in proxies.items()},
                **(extra_env or {}),
            },
        )
        log = stack.enter_context(open(data_dir / "services.log", "wb"))
        suite = Suite(config, log)
        suite.start()
        stack.callback(suite.stop)
        client = stack.enter_context(PageClient(config.addresses["gateway"], timeout_s=10))
        seed_viewers(client)
        client.render_page(VIEWER, page_rows())  # connects channels, fills the catalog cache
        yield ProxiedSuite(suite, proxies, config, client)


def page_rows() -> list[tuple[str, list[str]]]:
    """The page the fault runs drive: 4 rows × 10 titles, or the 40 × 40 reference page when long."""
    rows = reference_page()
    return rows if LONG else [(row_id, titles[:10]) for row_id, titles in rows[:4]]


def page_request(budget_ms: int, rows: list[tuple[str, list[str]]] | None = None) -> bytes:
    return pb.RenderPageRequest(
        user_id=VIEWER,
        rows=[
            pb.RowRequest(row_id=row_id, title_ids=titles) for row_id, titles in rows or page_rows()
        ],
        context=pb.Context(device_type=pb.DEVICE_TYPE_TV, country="US", local_hour=21),
        budget_ms=budget_ms,
    ).SerializeToString()


def render_plan(
    target: str,
    budget_ms: int,
    duration_s: float,
    rows: list[tuple[str, list[str]]] | None = None,
    **plan: Any,
) -> LoadPlan:
    """RenderPage load for `duration_s`, with a deadline far past the budget: a late page shows
    as latency, not as an error."""
    options: dict[str, Any] = {
        "concurrency": 2,
        "total": None,
        "timeout_s": 10.0,
        "keep_responses": True,
    }
    options.update(plan)
    return LoadPlan(
        target, RENDER_PAGE, page_request(budget_ms, rows), duration_s=duration_s, **options
    )


@contextmanager
def background_load(plan: LoadPlan) -> Iterator[Future[LoadResult]]:
    """Runs `plan` in a thread while the block does its damage; the future holds the result."""
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(asyncio.run, run_load(plan))
        time.sleep(0.3)  # the load is under way before the first fault
        yield future
        future.result()


def ms(values: list[float], pct: float) -> float:
    return percentile(values, pct) * 1000


@dataclass
class PageAudit:
    """What the pages of a run said: how many degraded, and on which dependency."""

    pages: int = 0
    degraded: int = 0
    # (dependency, status code seen), e.g. ("DEPENDENCY_RANKER", "UNAVAILABLE")
    dependencies: frozenset[tuple[str, str]] = frozenset()
    fallback_reasons: frozenset[str] = frozenset()
    unexplained_tiles: int = 0  # neither personalized nor carrying a fallback reason


def audit(result: LoadResult) -> PageAudit:
    found = PageAudit()
    dependencies: set[tuple[str, str]] = set()
    reasons: set[str] = set()
    for record in result.records:
        if record.code != "OK":
            continue
        page = pb.RenderPageResponse.FromString(record.response)
        found.pages += 1
        if page.degradations:
            found.degraded += 1
            dependencies.update(
                (pb.Dependency.Name(d.dependency), d.status_code) for d in page.degradations
            )
        for row in page.rows:
            for tile in row.tiles:
                if tile.fallback_reason:
                    reasons.add(pb.FallbackReason.Name(tile.fallback_reason))
                elif not tile.personalized:
                    found.unexplained_tiles += 1
    found.dependencies = frozenset(dependencies)
    found.fallback_reasons = frozenset(reasons)
    return found


def fully_personalized(page: pb.RenderPageResponse) -> bool:
    return not page.degradations and all(
        tile.personalized for row in page.rows for tile in row.tiles
    )


def seconds_until_personalized(client: PageClient, timeout_s: float = 30.0) -> float:
    """From now until a page comes back with every tile personalized and nothing degraded."""
    started = time.monotonic()
    while not fully_personalized(client.render_page(VIEWER, page_rows())):
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"not personalized again within {timeout_s} s")
        time.sleep(0.02)
    return time.monotonic() - started


class HealthWatch:
    """Every status a server's health Watch stream reports, from now until the stream ends."""

    def __init__(self, address: str) -> None:
        self.statuses: list[str] = []
        self._channel = grpc.insecure_channel(address)
        self._stream = health_pb2_grpc.HealthStub(self._channel).Watch(
            health_pb2.HealthCheckRequest(service="")
        )
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for update in self._stream:
                self.statuses.append(
                    health_pb2.HealthCheckResponse.ServingStatus.Name(update.status)
                )
        except grpc.RpcError:
            pass  # the server went away: the stream ends, which is what is watched for

    def wait_for(self, status: str, timeout_s: float = 5.0) -> None:
        end = time.monotonic() + timeout_s
        while status not in self.statuses and time.monotonic() < end:
            time.sleep(0.01)

    def close(self) -> list[str]:
        self._thread.join(10)
        self._stream.cancel()
        self._channel.close()
        return self.statuses
