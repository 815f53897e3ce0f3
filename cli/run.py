"""`keyart run`: the whole suite on localhost with embedded stores, in the foreground."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

from cli.client import PageClient
from cli.preview_process import preview_process
from cli.seed import seed_viewers
from cli.supervisor import Suite, SuiteConfig
from common.config import env_str
from demo.images import draw_missing

DEFAULT_ADDRESSES = {
    "gateway": "127.0.0.1:50051",
    "profile": "127.0.0.1:50052",
    "artwork": "127.0.0.1:50053",
    "ranker": "127.0.0.1:50054",
    "preview": "127.0.0.1:8080",
}


def suite_config_from_env() -> SuiteConfig:
    data_dir = Path(env_str("KEYART_DATA_DIR", "var"))
    return SuiteConfig(
        data_dir=data_dir,
        model_path=Path(env_str("RANKER_MODEL_PATH", str(data_dir / "models" / "bundled.onnx"))),
        addresses={
            name: env_str(f"{name.upper()}_ADDRESS", default)
            for name, default in DEFAULT_ADDRESSES.items()
        },
        image_dir=Path(env_str("KEYART_IMAGE_DIR", str(data_dir / "images"))),
    )


def ensure_model(path: Path) -> None:
    """Builds the bundled model from its recipe when no model file is there yet."""
    if not path.exists():
        subprocess.run(
            [sys.executable, "-m", "services.ranker.model_recipe", "--out", str(path)], check=True
        )


def run() -> int:
    config = suite_config_from_env()
    ensure_model(config.model_path)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    suite = Suite(config)
    preview = preview_process(config)
    suite.start()
    try:
        gateway = config.addresses["gateway"]
        with PageClient(gateway) as client:
            applied, duplicates = seed_viewers(client)
        drawn, present = draw_missing(config.image_dir)
        preview.start()
        preview.wait_serving()
        print(
            f"keyart is ready: gateway on {gateway} "
            f"(demo viewers seeded: {applied} new events, {duplicates} already there; "
            f"demo pictures: {drawn} drawn, {present} already there).\n"
            f"Preview: http://{preview.address}/?user=romance-fan&user=comedy-fan\n"
            f"Try: .venv/bin/keyart page --user romance-fan --target {gateway}\n"
            "Ctrl-C stops all four services and the preview.",
            flush=True,
        )
        while not stop.wait(0.5):
            crashed = suite.exited() + (["preview"] if preview.exited() else [])
            if crashed:
                print(f"keyart: {', '.join(crashed)} exited; stopping the suite", file=sys.stderr)
                return 1
        return 0
    finally:
        preview.stop()
        suite.stop()
