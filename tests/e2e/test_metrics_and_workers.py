"""Prometheus metrics on every server, and the gateway as two workers on one port."""

from __future__ import annotations

import re
import urllib.request
from dataclasses import replace

from suite.client import PageClient
from suite.supervisor import START_ORDER, ServiceProcess, Suite, SuiteConfig, free_address

GWH = [("featured", ["good-will-hunting"])]


def scrape(address: str) -> str:
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as response:
        return response.read().decode()


def sample(text: str, name: str, **labels: str) -> float:
    """The value of the sample `name{labels…}` (labels in any order)."""
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {name} {labels}")


def test_every_server_serves_metrics(
    suite: Suite, suite_config: SuiteConfig, client: PageClient
) -> None:
    client.render_page("romance-fan", GWH)
    client.render_page("romance-fan", [("r", ["no-such-title"])])
    metrics = {
        name: scrape(suite_config.extra_env[f"{name.upper()}_METRICS_ADDRESS"])
        for name in START_ORDER
    }
    render = "/keyart.gateway.v1.PageService/RenderPage"
    assert (
        sample(metrics["gateway"], "keyart_rpc_duration_seconds_count", method=render, code="OK")
        >= 2
    )
    assert (
        sample(metrics["gateway"], "keyart_gateway_fallback_tiles_total", reason="unknown_title")
        >= 1
    )
    assert (
        sample(
            metrics["gateway"],
            "keyart_rpc_duration_seconds_bucket",
            method=render,
            code="OK",
            le="+Inf",
        )
        >= 2
    )
    ranker_model = re.search(
        r'keyart_ranker_model_info\{model_version="(bundled-[0-9a-f]+)"\} 1\.0', metrics["ranker"]
    )
    assert ranker_model is not None
    assert sample(metrics["ranker"], "keyart_ranker_choices_total", kind="exploit") >= 1
    assert (
        sample(metrics["ranker"], "keyart_ranker_choices_total", kind="explore") == 0
    )  # exploration off
    rank = "/keyart.ranker.v1.RankerService/RankPage"
    assert (
        sample(metrics["ranker"], "keyart_rpc_duration_seconds_count", method=rank, code="OK") >= 1
    )
    features = "/keyart.profile.v1.ProfileService/GetViewerFeatures"
    assert (
        sample(metrics["profile"], "keyart_rpc_duration_seconds_count", method=features, code="OK")
        >= 1
    )
    info = "/keyart.artwork.v1.ArtworkService/GetCatalogInfo"
    assert (
        sample(metrics["artwork"], "keyart_rpc_duration_seconds_count", method=info, code="OK") >= 1
    )


def test_two_gateway_workers_share_a_port_and_their_metrics(
    suite: Suite, suite_config: SuiteConfig
) -> None:
    gateway_address, metrics_address = free_address(), free_address()
    config = replace(
        suite_config,
        addresses={**suite_config.addresses, "gateway": gateway_address},
        extra_env={
            **suite_config.extra_env,
            "GATEWAY_WORKERS": "2",
            "GATEWAY_METRICS_ADDRESS": metrics_address,
        },
    )
    workers = ServiceProcess("gateway", config)
    workers.start()
    try:
        workers.wait_serving()
        pages = 0
        for _ in range(20):  # fresh connections, so both workers get some
            with PageClient(gateway_address) as client:
                tile = client.render_page("comedy-fan", GWH).rows[0].tiles[0]
            assert tile.artwork_id == "good-will-hunting/robin-williams"
            pages += 1
        text = scrape(metrics_address)
        render = "/keyart.gateway.v1.PageService/RenderPage"
        assert sample(text, "keyart_rpc_duration_seconds_count", method=render, code="OK") == pages
    finally:
        assert workers.stop() == 0
