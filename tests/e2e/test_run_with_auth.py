"""`keyart run`'s start-up (cli.run.demo_suite) with bearer-token auth on, and what the suite
logs when outsiders send it bad input: one JSON line per kind per interval, never a traceback."""

from __future__ import annotations

import json
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from keyart.gateway.v1 import gateway_service_pb2 as pb

from cli.main import build_parser
from cli.main import main as keyart
from cli.run import RunningDemo, demo_suite
from suite.client import EVENT_KINDS, PageClient
from suite.supervisor import SuiteConfig, local_suite_config
from tests.raw_requests import bad_grpc_timeout_request, send_raw

TOKEN = "local-demo-token"
EVERY_S = 2.0  # KEYART_LOG_BAD_INPUT_EVERY_S for this suite
LONG_HEADER = b"GET / HTTP/1.1\r\nHost: keyart\r\nX-Long: " + b"a" * 9000 + b"\r\n\r\n"
BAD_CHUNKED = (
    b"POST / HTTP/1.1\r\nHost: keyart\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"
)


def log_lines(path: Path) -> list[str]:
    return path.read_text(errors="replace").splitlines()


def json_events(path: Path, event: str) -> list[dict]:
    return [
        record
        for line in log_lines(path)
        if line.startswith("{") and (record := json.loads(line)).get("event") == event
    ]


@pytest.fixture(scope="module")
def demo(
    suite_config: SuiteConfig, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningDemo, SuiteConfig, Path]]:
    data_dir = tmp_path_factory.mktemp("auth-run")
    tokens = data_dir / "tokens.json"
    tokens.write_text(json.dumps({TOKEN: ["*"]}))
    base = local_suite_config(data_dir, suite_config.model_path)
    config = SuiteConfig(
        data_dir=base.data_dir,
        model_path=base.model_path,
        addresses=base.addresses,
        extra_env={
            **base.extra_env,
            "GATEWAY_AUTH_TOKENS_FILE": str(tokens),
            "KEYART_LOG_BAD_INPUT_EVERY_S": str(EVERY_S),
        },
        image_dir=base.image_dir,
    )
    log_path = data_dir / "services.log"
    with pytest.MonkeyPatch.context() as env, open(log_path, "wb") as log:
        env.setenv("KEYART_TOKEN", TOKEN)
        token = build_parser().parse_args(["run"]).token  # what `keyart run` is given
        with demo_suite(config, token, log) as running:
            yield running, config, log_path


def test_keyart_run_seeds_and_previews_through_a_gateway_requiring_a_token(
    demo: tuple[RunningDemo, SuiteConfig, Path],
) -> None:
    running, config, _ = demo
    assert running.events_applied > 0 and running.events_already_there == 0
    with PageClient(config.addresses["gateway"]) as anonymous, pytest.raises(grpc.RpcError) as no:
        anonymous.render_page("romance-fan", [("row", ["good-will-hunting"])])
    assert no.value.code() == grpc.StatusCode.UNAUTHENTICATED  # auth really is on

    url = f"http://{running.preview.address}/?user=romance-fan"
    with urllib.request.urlopen(url, timeout=10) as response:
        page = response.read().decode()
    assert "UNAUTHENTICATED" not in page and "gateway unavailable" not in page
    assert "data-personalized='true'" in page


def test_the_same_cli_event_id_twice_is_a_duplicate_and_a_page_id_is_sent(
    demo: tuple[RunningDemo, SuiteConfig, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, config, _ = demo
    with PageClient(config.addresses["gateway"], token=TOKEN) as client:
        page = client.render_page("romance-fan", [("row", ["good-will-hunting"])])
    tile = page.rows[0].tiles[0]
    argv = [
        "event", "--target", config.addresses["gateway"], "--token", TOKEN,
        "--user", "romance-fan", "--title", tile.title_id, "--artwork", tile.artwork_id,
        "--kind", "click", "--page-id", page.page_id, "--event-id", "cli-click-1",
    ]  # fmt: skip
    assert keyart(argv) == 0
    assert capsys.readouterr().out.strip() == "recorded"
    assert keyart(argv) == 0
    assert capsys.readouterr().out.strip() == "duplicate: already recorded"
    assert EVENT_KINDS["click"] == pb.EVENT_KIND_CLICK


def test_refused_calls_log_one_line_per_interval_with_a_suppressed_count(
    demo: tuple[RunningDemo, SuiteConfig, Path],
) -> None:
    _, config, log_path = demo
    calls = 30
    started = time.monotonic()
    with PageClient(config.addresses["gateway"]) as anonymous:
        for i in range(calls):
            if i == calls - 1:
                time.sleep(EVERY_S + 0.3)  # the last refusal comes after the interval
            with pytest.raises(grpc.RpcError):
                anonymous.render_page("romance-fan", [("row", ["good-will-hunting"])])
    elapsed = time.monotonic() - started
    time.sleep(0.5)
    refused = [
        line for line in json_events(log_path, "call refused") if "UNAUTHENTICATED" in line["kind"]
    ]
    assert 2 <= len(refused) <= 1 + elapsed / EVERY_S + 1, refused
    assert all(line["level"] == "warning" for line in refused)
    assert (
        sum(line["suppressed"] for line in refused) >= calls - len(refused) - 1
    )  # ≥1 test ran before
    assert refused[-1]["suppressed"] > 0


def test_malformed_http_to_the_preview_is_one_json_line_per_kind_without_traceback(
    demo: tuple[RunningDemo, SuiteConfig, Path],
) -> None:
    running, _, log_path = demo
    for _ in range(5):
        assert send_raw(running.preview.address, LONG_HEADER).startswith(b"HTTP/1.")
        assert b" 400 " in send_raw(running.preview.address, BAD_CHUNKED)[:20]
    time.sleep(0.5)
    malformed = Counter(
        line["kind"] for line in json_events(log_path, "malformed http request refused")
    )
    assert set(malformed) == {
        "malformed http request: LineTooLong",
        "malformed http request: BadHttpMessage",
    }
    assert max(malformed.values()) == 1  # five of each in well under EVERY_S
    assert "Traceback" not in log_path.read_text()


def test_grpc_core_writes_no_plain_text_lines_for_malformed_calls(
    demo: tuple[RunningDemo, SuiteConfig, Path],
) -> None:
    running, _, log_path = demo
    for service in running.suite.services.values():
        send_raw(service.address, bad_grpc_timeout_request(), timeout_s=0.5)
    time.sleep(0.5)
    text = log_path.read_text()
    assert "hpack_parser" not in text
    not_json = [line for line in log_lines(log_path) if not line.startswith("{")]
    assert not_json == []
