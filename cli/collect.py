"""`keyart collect`: the event streams into the Parquet dataset (docs/collector.md)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from common.config import ConfigError, env_float, env_int, env_str
from common.logging import configure_logging
from common.metrics import start_metrics_server
from common.storage import Location, StorageError
from gateway.stream_config import parse_nats_url
from learning.collect_journal import read_journal
from learning.collect_status import status_line, stream_lags
from learning.collector import Collector, CollectorConfig
from learning.parquet_layout import DatasetError


def _config(args: argparse.Namespace) -> CollectorConfig:
    if not args.nats:
        raise ConfigError("--nats (or COLLECT_NATS_URL): the NATS server to read, nats://host:port")
    if not args.dataset:
        raise ConfigError(
            "--dataset (or COLLECT_DATASET): the dataset to write, a directory or a filesystem URL"
        )
    return CollectorConfig(
        url=parse_nats_url(args.nats, f"--nats {args.nats!r}: not nats://host:port"),
        dataset=Location.parse(args.dataset),
        impressions_stream=env_str(
            "COLLECT_IMPRESSIONS_STREAM", CollectorConfig.impressions_stream
        ),
        feedback_stream=env_str("COLLECT_FEEDBACK_STREAM", CollectorConfig.feedback_stream),
        catalogs_bucket=env_str("COLLECT_CATALOGS_BUCKET", CollectorConfig.catalogs_bucket),
        flush_decisions=env_int("COLLECT_FLUSH_ROWS", CollectorConfig.flush_decisions, minimum=1),
        flush_s=env_float("COLLECT_FLUSH_S", CollectorConfig.flush_s, minimum=0.0, maximum=3600.0),
        snapshot_wait_s=env_float(
            "COLLECT_SNAPSHOT_WAIT_S", CollectorConfig.snapshot_wait_s, minimum=0.0
        ),
    )


async def _collect(config: CollectorConfig, once: bool) -> None:
    collector = Collector(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await collector.run(stop, once=once)
    print(status_line(collector.journal, "stopped"))


def _run(args: argparse.Namespace) -> int:
    try:
        config = _config(args)
        if args.status:
            print(status_line(read_journal(config.dataset), asyncio.run(stream_lags(config))))
            return 0
        configure_logging("collector")
        start_metrics_server(args.metrics_address)
        asyncio.run(_collect(config, args.once))
    except (ConfigError, DatasetError, StorageError) as error:
        print(f"keyart collect: {error}", file=sys.stderr)
        return 2
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    collect = commands.add_parser(
        "collect", help="read the event streams into the Parquet dataset (runs until stopped)"
    )
    collect.add_argument("--nats", default=env_str("COLLECT_NATS_URL", ""), help="nats://host:port")
    collect.add_argument(
        "--dataset",
        default=env_str("COLLECT_DATASET", ""),
        help="the dataset: a directory or a filesystem URL (s3://bucket/prefix, …)",
    )
    collect.add_argument(
        "--metrics-address",
        default=env_str("COLLECT_METRICS_ADDRESS", ""),
        help="host:port to serve Prometheus metrics on (default: none)",
    )
    mode = collect.add_mutually_exclusive_group()
    mode.add_argument(
        "--once", action="store_true", help="collect what the streams hold now, then exit"
    )
    mode.add_argument(
        "--status", action="store_true", help="print one line on progress and lag, then exit"
    )
    collect.set_defaults(handler=_run)
