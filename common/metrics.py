"""Prometheus metrics shared by every server, served on their own HTTP port."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from common.logging import get_logger

log = get_logger(__name__)

# Buckets from 0.5 ms to 2.5 s: page latencies sit in the low tens of ms.
_LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.02,
    0.03,
    0.05,
    0.075,
    0.1,
    0.15,
    0.25,
    0.5,
    1.0,
    2.5,
)

RPC_LATENCY = Histogram(
    "keyart_rpc_duration_seconds",
    "Server-side latency of each RPC, by method and status code.",
    ["method", "code"],
    buckets=_LATENCY_BUCKETS,
)
DEGRADATIONS = Counter(
    "keyart_gateway_degradations_total",
    "Pages on which a dependency did not contribute, by dependency and status.",
    ["dependency", "status_code"],
)
FALLBACK_TILES = Counter(
    "keyart_gateway_fallback_tiles_total",
    "Titles shown without personalization, by reason (a title on two rows counts once).",
    ["reason"],
)
BREAKER_OPEN = Gauge(
    "keyart_gateway_breaker_open",
    "1 while the circuit breaker of a dependency is open (failing fast).",
    ["dependency"],
    multiprocess_mode="max",
)
REFUSED_CALLS = Counter(
    "keyart_rpc_refused_total",
    "Calls refused RESOURCE_EXHAUSTED because the server's in-flight limit was reached.",
)
SHED_PAGES = Counter(
    "keyart_gateway_shed_pages_total",
    "RenderPage calls refused with RESOURCE_EXHAUSTED because too many were in flight.",
)
RANKED_CHOICES = Counter(
    "keyart_ranker_choices_total",
    "Per-title choices: 'explore' when the policy showed other than its best-scored "
    "candidate, else 'exploit'. Exploration share = explore / all.",
    ["kind"],
)
EXPERIMENT_IMPRESSIONS = Counter(
    "keyart_gateway_experiment_impressions_total",
    "Titles shown to viewers in an experiment, by experiment and cell (the names the "
    "experiments file gives: at most 32 experiments of at most 16 cells per file).",
    ["experiment", "cell"],
)
EXPERIMENTS_REFUSED = Counter(
    "keyart_gateway_experiments_refused_total",
    "Experiments files refused at load (the serving configuration stayed as it was).",
)
STREAM_IMPRESSIONS = Counter(
    "keyart_gateway_stream_impressions_total",
    "Pages logged with GATEWAY_LOG_SINK=nats://…, by outcome: published (acked by "
    "JetStream), spilled (to local segment files), replayed (from them, acked), dropped "
    "(the spill's disk bound was hit: lost).",
    ["outcome"],
)
STREAM_FEEDBACK = Counter(
    "keyart_gateway_stream_feedback_total",
    "ReportEvent publishes to JetStream, by outcome: stored, duplicate (the event id "
    "was already in the duplicate window), unavailable (answered UNAVAILABLE).",
    ["outcome"],
)
STREAM_CONNECTED = Gauge(
    "keyart_gateway_stream_connected",
    "1 while the gateway is connected to NATS (GATEWAY_LOG_SINK=nats://…).",
    multiprocess_mode="min",
)
MODEL_INFO = Gauge(
    "keyart_ranker_model_info",
    "1 for the model version the ranker serves.",
    ["model_version"],
    multiprocess_mode="max",
)

COLLECTOR_MESSAGES = Counter(
    "keyart_collector_messages_total",
    "Stream messages the collector handled, by stream and outcome "
    "(collected, already_collected, refused).",
    ["stream", "outcome"],
)
COLLECTOR_PARTS = Counter(
    "keyart_collector_parts_written_total", "Parquet part files the collector added."
)
COLLECTOR_LAST_COMMIT = Gauge(
    "keyart_collector_last_commit_timestamp_seconds", "When the collector last committed a batch."
)
COLLECTOR_LAG = Gauge(
    "keyart_collector_lag_messages",
    "Messages in a stream not yet acknowledged by the collector (pending and in flight).",
    ["stream"],
)
COLLECTOR_CONNECTED = Gauge(
    "keyart_collector_connected", "1 while the collector reads the streams."
)


def start_metrics_server(address: str) -> None:
    """Serves /metrics on `host:port`; an empty address turns metrics off."""
    if not address:
        return
    host, _, port = address.rpartition(":")
    start_http_server(int(port), addr=host or "127.0.0.1")
    log.info("metrics listening", address=address)
