"""Where the gateway's learning logs go: segment files, or NATS JetStream (GATEWAY_LOG_SINK)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from common.config import ConfigError, env_float, env_int, env_str

FILES = "files"
CATALOGS_BUCKET = "KEYART_CATALOGS"
DAY_S = 86_400.0


@dataclass(frozen=True)
class StreamSettings:
    """One JetStream stream the gateway publishes to (created or updated at connect)."""

    name: str
    subject: str
    max_age_s: float  # messages older than this are removed (limits retention)
    max_bytes: int  # the oldest are removed past this


@dataclass(frozen=True)
class NatsSinkConfig:
    url: str  # nats://host:port
    impressions: StreamSettings
    feedback: StreamSettings
    replicas: int  # each stream's copies in the JetStream cluster (3 in production)
    duplicate_window_s: float  # a retried event id within this is stored once
    publish_timeout_s: float  # ReportEvent answers UNAVAILABLE past this
    buffer_pages: int  # pages waiting to be published; past this they spill
    publish_window: int  # pages published and awaiting their acks at once
    spill_dir: Path  # impressions not yet published, as segment files
    spill_max_bytes: int  # past this a page is dropped (logged, counted)
    catalogs_bucket: str  # the object store holding catalog snapshots, for the collector


def parse_nats_url(raw: str, problem: str) -> str:
    """`nats://host:port`, or ConfigError saying `problem`."""
    parts = urlsplit(raw)
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(problem) from None
    if parts.scheme != "nats" or not parts.hostname or port is None or parts.path not in ("", "/"):
        raise ConfigError(problem)
    return f"nats://{parts.netloc}"


def _stream(prefix: str, name: str, subject: str, max_bytes: int) -> StreamSettings:
    """A stream's settings from `<prefix>_STREAM`, `_SUBJECT`, `_MAX_AGE_S`, `_MAX_BYTES`."""
    return StreamSettings(
        name=env_str(f"{prefix}_STREAM", name),
        subject=env_str(f"{prefix}_SUBJECT", subject),
        max_age_s=env_float(f"{prefix}_MAX_AGE_S", 7 * DAY_S, minimum=60.0),
        max_bytes=env_int(f"{prefix}_MAX_BYTES", max_bytes, minimum=1 << 20),
    )


def nats_sink_from_env(log_dir: Path) -> NatsSinkConfig | None:
    """None for the segment files (`files`, the default)."""
    raw = env_str("GATEWAY_LOG_SINK", FILES).strip()
    if raw == FILES:
        return None
    return NatsSinkConfig(
        url=parse_nats_url(
            raw, f"GATEWAY_LOG_SINK={raw!r} is neither {FILES!r} nor nats://host:port"
        ),
        impressions=_stream(
            "GATEWAY_NATS_IMPRESSIONS", "KEYART_IMPRESSIONS", "keyart.impressions", 10 << 30
        ),
        feedback=_stream("GATEWAY_NATS_FEEDBACK", "KEYART_FEEDBACK", "keyart.feedback", 1 << 30),
        replicas=env_int("GATEWAY_NATS_REPLICAS", 1, minimum=1, maximum=5),
        duplicate_window_s=env_float(
            "GATEWAY_NATS_DUPLICATE_WINDOW_S", 600.0, minimum=1.0, maximum=DAY_S
        ),
        publish_timeout_s=env_float(
            "GATEWAY_NATS_PUBLISH_TIMEOUT_S", 2.0, minimum=0.05, maximum=60.0
        ),
        buffer_pages=env_int("GATEWAY_NATS_BUFFER_PAGES", 256, minimum=1),
        publish_window=env_int("GATEWAY_NATS_PUBLISH_WINDOW", 16, minimum=1, maximum=256),
        spill_dir=log_dir / "spill",
        spill_max_bytes=env_int("GATEWAY_NATS_SPILL_MAX_BYTES", 1 << 30, minimum=1 << 10),
        catalogs_bucket=env_str("GATEWAY_NATS_CATALOGS_BUCKET", CATALOGS_BUCKET),
    )
