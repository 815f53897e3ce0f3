"""`keyart run-scaled`: the production shape on this machine, in the foreground (suite/scaled.py)."""

from __future__ import annotations

import signal
import sys
import tempfile
import threading
from pathlib import Path

from suite.debian_package import EngineMissing
from suite.scaled import ScaledSuite, scaled_suite


def fresh_data_dir() -> Path:
    """A new temporary directory that PostgreSQL's own user may enter when run as root."""
    path = Path(tempfile.mkdtemp(prefix="keyart-scaled-"))
    path.chmod(0o755)
    return path


def summary(suite: ScaledSuite) -> str:
    layout, engines = suite.layout, suite.engines
    lines = [
        f"keyart run-scaled is ready; data in {layout.data_dir} (logs in {layout.data_dir}/logs)",
        f"  postgres (catalog)  {engines.postgres.url()}",
        f"  redis (profiles)    {engines.redis.url}",
        f"  nats (JetStream)    {engines.nats.url}",
    ]
    for name, process in suite.processes.items():
        where = process.spec.address or " ".join(process.spec.command[3:])
        lines.append(f"  {name:<19} {where}")
    lines += [
        f"demo catalog: {suite.demo_titles_imported or 'already'} titles imported; "
        f"demo viewers: {suite.events_applied} new events",
        f"Try: keyart page --user romance-fan --target {suite.layout.target('gateway')}",
        "Ctrl-C (or SIGTERM) stops everything.",
    ]
    return "\n".join(lines)


def run_scaled(data_dir: Path | None) -> int:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        with scaled_suite(data_dir or fresh_data_dir()) as suite:
            print(summary(suite), flush=True)
            while not stop.wait(0.5):
                if crashed := suite.exited():
                    print(f"keyart: {', '.join(crashed)} exited; stopping", file=sys.stderr)
                    return 1
    except EngineMissing as error:
        print(f"keyart: {error}", file=sys.stderr)
        return 2
    print("keyart run-scaled: stopped", flush=True)
    return 0
