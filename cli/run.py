"""`keyart run`: the whole suite on localhost with embedded stores, in the foreground."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO

from cli.preview_process import preview_process
from cli.seed import seed_viewers
from common import addresses
from common.config import env_str
from demo.images import draw_missing, progress_printer
from suite.client import PageClient
from suite.supervisor import ServiceProcess, Suite, SuiteConfig


def suite_config_from_env() -> SuiteConfig:
    data_dir = Path(env_str("KEYART_DATA_DIR", "var"))
    return SuiteConfig(
        data_dir=data_dir,
        model_path=Path(env_str("RANKER_MODEL_PATH", str(data_dir / "models" / "bundled.onnx"))),
        addresses={
            name: env_str(f"{name.upper()}_ADDRESS", default)
            for name, default in addresses.DEFAULTS.items()
        },
        image_dir=Path(env_str("KEYART_IMAGE_DIR", str(data_dir / "images"))),
    )


def ensure_model(path: Path) -> None:
    """Builds the bundled model from its recipe when no model file is there yet."""
    if not path.exists():
        subprocess.run(
            [sys.executable, "-m", "services.ranker.model_recipe", "--out", str(path)], check=True
        )


@dataclass(frozen=True)
class RunningDemo:
    suite: Suite
    preview: ServiceProcess
    events_applied: int
    events_already_there: int


@contextmanager
def demo_suite(
    config: SuiteConfig, token: str, log: IO[bytes] | None = None
) -> Iterator[RunningDemo]:
    """The four services (an empty catalog seeded with the demo), the demo viewers' histories
    reported with `token`, and the preview, which renders pages with `token` too.

    `token` is the bearer token a gateway with GATEWAY_AUTH_TOKENS_FILE requires ("" for none).
    """
    suite = Suite(config, log)
    preview = preview_process(
        replace(config, extra_env={**config.extra_env, "KEYART_TOKEN": token}), log
    )
    suite.start()
    try:
        with PageClient(config.addresses["gateway"], token=token) as client:
            applied, duplicates = seed_viewers(client)
        preview.start()
        preview.wait_serving()
        yield RunningDemo(suite, preview, applied, duplicates)
    finally:
        preview.stop()
        suite.stop()


def run(token: str) -> int:
    config = suite_config_from_env()
    ensure_model(config.model_path)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with demo_suite(config, token) as demo:
        drawn, present = draw_missing(config.image_dir, progress=progress_printer())
        gateway = config.addresses["gateway"]
        print(
            f"keyart is ready: gateway on {gateway} "
            f"(demo catalog: {demo.suite.demo_titles_imported or 'already'} titles imported; "
            f"demo viewers seeded: {demo.events_applied} new events, "
            f"{demo.events_already_there} already there; "
            f"demo pictures: {drawn} drawn, {present} already there).\n"
            f"Preview: http://{demo.preview.address}/?user=romance-fan&user=comedy-fan\n"
            f"Try: .venv/bin/keyart page --user romance-fan --target {gateway}\n"
            "Ctrl-C stops all four services and the preview.",
            flush=True,
        )
        while not stop.wait(0.5):
            crashed = demo.suite.exited() + (["preview"] if demo.preview.exited() else [])
            if crashed:
                print(f"keyart: {', '.join(crashed)} exited; stopping the suite", file=sys.stderr)
                return 1
        return 0
