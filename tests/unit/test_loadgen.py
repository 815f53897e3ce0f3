"""The load generator: percentiles on known latencies, ghz's config and report formats."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from keyart.gateway.v1 import gateway_service_pb2 as pb

from loadgen.ghz import ConfigProblem, format_summary, json_report, load_config
from loadgen.reference import LOADTEST_DIR, configs, reference_request
from loadgen.runner import RESENDS, LoadPlan, LoadResult, percentile, run_load

DELAYS_MS = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert [percentile(values, p) for p in (10, 50, 90, 99, 100)] == [10, 50, 90, 99, 100]
    assert percentile([], 50) == 0.0
    assert percentile([7.0], 99) == 7.0


Handler = Callable[[bytes, grpc.aio.ServicerContext], Awaitable[bytes]]


async def load_against(handler: Handler, **plan: Any) -> LoadResult:
    """Runs `plan` against a local server whose one method (/test.Local/Call) is `handler`."""
    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "test.Local", {"Call": grpc.unary_unary_rpc_method_handler(handler)}
            )
        ]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        return await run_load(LoadPlan(f"127.0.0.1:{port}", "/test.Local/Call", b"x", **plan))
    finally:
        await server.stop(None)


def known_latencies(concurrency: int) -> LoadResult:
    """Runs 100 calls against a server whose i-th call sleeps DELAYS_MS[i % 10] and fails every 25th."""
    calls = [0]

    async def handler(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        index = calls[0]
        calls[0] += 1
        await asyncio.sleep(DELAYS_MS[index % len(DELAYS_MS)] / 1000)
        if index % 25 == 24:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "planned failure")
        return b"ok"

    return asyncio.run(load_against(handler, concurrency=concurrency, total=100))


def cut_off_calls(retry: bool, cut: int) -> list[tuple[str, str]]:
    """Runs one call against a server that fails its first `cut` calls UNAVAILABLE after
    sending response headers (as a server killed mid-response does), past gRPC's own retry."""
    calls = [0]

    async def handler(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        calls[0] += 1
        if calls[0] <= cut:
            await context.send_initial_metadata(())
            await context.abort(grpc.StatusCode.UNAVAILABLE, "Stream removed")
        return b"ok"

    result = asyncio.run(load_against(handler, total=1, retry=retry))
    return [(record.code, record.detail) for record in result.records]


def test_a_retrying_plan_sends_a_call_cut_off_mid_response_again() -> None:
    assert cut_off_calls(retry=True, cut=RESENDS) == [("OK", "")]
    assert cut_off_calls(retry=True, cut=RESENDS + 1) == [("UNAVAILABLE", "Stream removed")]
    assert cut_off_calls(retry=False, cut=1) == [("UNAVAILABLE", "Stream removed")]


def test_run_load_measures_known_latencies_and_counts_statuses() -> None:
    result = known_latencies(concurrency=1)
    assert len(result.records) == 100
    assert result.errors == 4
    assert {r.detail for r in result.records if r.code != "OK"} == {"planned failure"}
    all_ms = [r.latency_s * 1000 for r in result.records]
    # Each call takes at least its planned delay; scheduling only adds to it.
    for pct, floor in ((10, 10), (50, 50), (90, 90), (99, 100)):
        assert floor <= percentile(all_ms, pct) < floor + 60
    assert result.wall_s * 1000 >= sum(DELAYS_MS) * 10


def test_concurrency_overlaps_calls() -> None:
    result = known_latencies(concurrency=10)
    assert len(result.records) == 100
    assert result.wall_s * 1000 < sum(DELAYS_MS) * 10 / 2  # well under the serial 5.5 s


def test_committed_loadtest_configs_match_the_reference_page() -> None:
    for name, config in configs().items():
        assert json.loads((LOADTEST_DIR / name).read_text()) == config


def test_ghz_config_becomes_a_plan_with_the_reference_request() -> None:
    run = load_config(LOADTEST_DIR / "render_page.json", host="127.0.0.1:1")
    assert run.plan.method == "/keyart.gateway.v1.PageService/RenderPage"
    assert run.plan.target == "127.0.0.1:1"
    assert (run.plan.concurrency, run.plan.total, run.plan.duration_s) == (8, None, 20.0)
    request = pb.RenderPageRequest.FromString(run.plan.request)
    assert request.user_id == reference_request()["user_id"]
    assert sum(len(row.title_ids) for row in request.rows) == 1600


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"rps": 100}, "unsupported ghz options ['rps']"),
        ({"insecure": False}, 'TLS needs "cacert"'),
        ({"insecure": False, "cacert": "missing.pem"}, "cacert: "),
        ({"insecure": False, "cacert": "x", "cert": "c.pem"}, 'mTLS needs both "cert" and "key"'),
        ({"call": "keyart.gateway.v1.PageService.Nope"}, "is not a method keyart serves"),
        ({"duration": "ten seconds"}, "duration:"),
    ],
)
def test_unsupported_or_bad_options_are_refused_by_name(
    tmp_path: Path, change: dict, problem: str
) -> None:
    config = {**configs()["render_page_smoke.json"], **change}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    with pytest.raises(ConfigProblem, match=problem.replace("[", r"\[").replace("]", r"\]")):
        load_config(path)


def test_reports_have_ghz_sections_and_fields() -> None:
    result = known_latencies(concurrency=2)
    summary = format_summary(result)
    for section in (
        "Summary:",
        "Count:\t100",
        "Requests/sec:",
        "Response time histogram:",
        "Latency distribution:",
        "  50 % in ",
        "Status code distribution:",
        "[OK]\t96 responses",
        "[UNAVAILABLE]\t4 responses",
        "Error distribution:",
    ):
        assert section in summary
    run = load_config(LOADTEST_DIR / "render_page_smoke.json")
    report = json_report(result, run)
    assert report["count"] == 100
    assert report["statusCodeDistribution"] == {"OK": 96, "UNAVAILABLE": 4}
    assert [p["percentage"] for p in report["latencyDistribution"]] == [10, 25, 50, 75, 90, 95, 99]
    assert report["fastest"] <= report["average"] <= report["slowest"]
    assert sum(bucket["count"] for bucket in report["histogram"]) == 100
