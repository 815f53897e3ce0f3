"""`keyart collect --status`: one line on what the collector has collected and how far behind it is."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from nats.aio.client import Client

from learning.collect_journal import Journal
from learning.collector import NATS_ERRORS, CollectorConfig, consumer_lag, durable_name


async def stream_lags(config: CollectorConfig) -> dict[str, int] | str:
    """Per stream, messages its consumer has not had acknowledged; or why that is unknown."""
    client = Client()
    try:
        await client.connect(
            servers=[config.url], connect_timeout=2, allow_reconnect=False, max_reconnect_attempts=0
        )
        js = client.jetstream(timeout=2)
        lags = {}
        for stream in (config.impressions_stream, config.feedback_stream):
            lags[stream] = consumer_lag(
                await js.consumer_info(stream, durable_name(config, stream))
            )
        return lags
    except NATS_ERRORS as error:
        return f"lag unknown ({type(error).__name__}: {error})"
    finally:
        if client.is_connected:
            await client.close()


def status_line(journal: Journal, lags: dict[str, int] | str) -> str:
    totals = journal.totals
    if totals.last_commit_ms:
        at = datetime.fromtimestamp(totals.last_commit_ms / 1000, UTC)
        ago = time.time() - totals.last_commit_ms / 1000
        last = f"last commit {at:%Y-%m-%dT%H:%M:%SZ} ({ago:.0f} s ago)"
    else:
        last = "no commit yet"
    lag = (
        lags
        if isinstance(lags, str)
        else "lag " + " ".join(f"{stream}={count}" for stream, count in lags.items())
    )
    return (
        f"collected {totals.messages} messages: {totals.decisions} decisions, "
        f"{totals.feedback} feedback rows, {totals.action_sets} action sets, "
        f"{totals.parts} parts; {totals.skipped_decisions} decisions skipped; {last}; {lag}"
    )
