"""ghz's config file in, ghz's summary and JSON report out, so results compare with ghz's.

Honoured config keys: call, host, data, concurrency, total, duration, timeout,
metadata, format ("summary" or "json"), skipFirst, and for TLS insecure (true:
plaintext), cacert, cert and key (client certificate for mTLS), cname. Paths
are relative to the config file. Any other key is refused by name rather than
silently ignored.
"""

from __future__ import annotations

import datetime
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import descriptor_pool, json_format, message_factory

from loadgen.runner import LoadPlan, LoadResult, percentile

HONOURED = {
    "call",
    "host",
    "data",
    "concurrency",
    "total",
    "duration",
    "timeout",
    "metadata",
    "format",
    "insecure",
    "skipFirst",
    "proto",
    "importPaths",
    "cacert",
    "cert",
    "key",
    "cname",
}
PERCENTILES = (10, 25, 50, 75, 90, 95, 99)
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class ConfigProblem(ValueError):
    """The config file asks for something this generator cannot do; the message says what."""


@dataclass(frozen=True)
class GhzRun:
    plan: LoadPlan
    call: str
    output_format: str
    skip_first: int


def parse_duration(value: str, key: str) -> float:
    match = _DURATION.match(str(value))
    if not match:
        raise ConfigProblem(f"{key}: {value!r} is not a duration like 500ms, 10s or 1m")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def method_path(call: str) -> tuple[str, Any]:
    """ "pkg.Service.Method" or "pkg.Service/Method" → ("/pkg.Service/Method", input message class)."""
    service, _, method = call.replace("/", ".").rpartition(".")
    try:
        descriptor = descriptor_pool.Default().FindMethodByName(f"{service}.{method}")
    except KeyError:
        raise ConfigProblem(f"call: {call!r} is not a method keyart serves") from None
    return f"/{service}/{method}", message_factory.GetMessageClass(descriptor.input_type)


def load_config(path: Path, host: str | None = None) -> GhzRun:
    import keyart.gateway.v1.gateway_service_pb2  # noqa: F401  (registers the descriptors)

    config = json.loads(path.read_text())
    unknown = sorted(set(config) - HONOURED)
    if unknown:
        raise ConfigProblem(f"{path}: unsupported ghz options {unknown}")
    credentials = tls_credentials(config, path.parent)
    method, request_class = method_path(config["call"])
    request = json_format.ParseDict(config.get("data", {}), request_class())
    duration = config.get("duration")
    total = config.get("total")
    plan = LoadPlan(
        target=host or config["host"],
        method=method,
        request=request.SerializeToString(),
        concurrency=int(config.get("concurrency", 50)),
        total=int(total) if total is not None else (None if duration else 200),
        duration_s=parse_duration(duration, "duration") if duration else None,
        timeout_s=parse_duration(config.get("timeout", "20s"), "timeout"),
        metadata=tuple((str(k), str(v)) for k, v in config.get("metadata", {}).items()),
        credentials=credentials,
        server_name=str(config.get("cname", "")),
    )
    return GhzRun(
        plan, config["call"], config.get("format", "summary"), int(config.get("skipFirst", 0))
    )


def tls_credentials(config: dict[str, Any], base: Path) -> grpc.ChannelCredentials | None:
    """None for `"insecure": true`; else TLS with `cacert` (and `cert` + `key` for mTLS)."""
    if config.get("insecure") is True:
        return None
    if "cacert" not in config:
        raise ConfigProblem('TLS needs "cacert" (or "insecure": true for plaintext)')
    if ("cert" in config) != ("key" in config):
        raise ConfigProblem('mTLS needs both "cert" and "key"')

    def read(key: str) -> bytes | None:
        if key not in config:
            return None
        try:
            return (base / config[key]).read_bytes()
        except OSError as error:
            raise ConfigProblem(f"{key}: {error}") from None

    return grpc.ssl_channel_credentials(read("cacert"), read("key"), read("cert"))


def _histogram(latencies: list[float], buckets: int = 10) -> list[tuple[float, int]]:
    if not latencies:
        return []
    low, high = min(latencies), max(latencies)
    step = (high - low) / buckets or 1e-9
    counts = [0] * (buckets + 1)
    for value in latencies:
        counts[min(int((value - low) / step), buckets)] += 1
    return [(low + i * step, count) for i, count in enumerate(counts)]


def _status_counts(result: LoadResult) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in result.records:
        counts[record.code] = counts.get(record.code, 0) + 1
    return counts


def _error_counts(result: LoadResult) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in result.records:
        if record.code != "OK":
            key = f"rpc error: code = {record.code} desc = {record.detail}"
            counts[key] = counts.get(key, 0) + 1
    return counts


def format_summary(result: LoadResult) -> str:
    latencies = [record.latency_s for record in result.records]
    ms = [value * 1000 for value in latencies]
    lines = [
        "",
        "Summary:",
        f"  Count:\t{len(latencies)}",
        f"  Total:\t{result.wall_s * 1000:.2f} ms",
    ]
    if ms:
        lines += [
            f"  Slowest:\t{max(ms):.2f} ms",
            f"  Fastest:\t{min(ms):.2f} ms",
            f"  Average:\t{sum(ms) / len(ms):.2f} ms",
        ]
    lines.append(f"  Requests/sec:\t{len(latencies) / result.wall_s if result.wall_s else 0:.2f}")
    histogram = _histogram(ms)
    peak = max((count for _, count in histogram), default=1) or 1
    lines += ["", "Response time histogram:"]
    lines += [
        f"  {mark:.3f} [{count}]\t|{'∎' * round(40 * count / peak)}" for mark, count in histogram
    ]
    lines += ["", "Latency distribution:"]
    lines += [f"  {pct} % in {percentile(ms, pct):.2f} ms " for pct in PERCENTILES if ms]
    lines += ["", "Status code distribution:"]
    lines += [f"  [{code}]\t{count} responses" for code, count in _status_counts(result).items()]
    errors = _error_counts(result)
    if errors:
        lines += ["", "Error distribution:"]
        lines += [f"  [{count}]\t{text}" for text, count in errors.items()]
    return "\n".join(lines) + "\n"


def json_report(result: LoadResult, run: GhzRun) -> dict[str, Any]:
    """The fields of ghz's JSON report (`-O json`); durations in nanoseconds as ghz has them."""
    latencies = [record.latency_s for record in result.records]
    ns = [int(value * 1e9) for value in latencies]
    count = len(ns)
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(),
        "options": {
            "call": run.call,
            "host": run.plan.target,
            "concurrency": run.plan.concurrency,
            "total": run.plan.total,
            "duration": int((run.plan.duration_s or 0) * 1e9),
            "timeout": int(run.plan.timeout_s * 1e9),
        },
        "count": count,
        "total": int(result.wall_s * 1e9),
        "average": int(sum(ns) / count) if count else 0,
        "fastest": min(ns, default=0),
        "slowest": max(ns, default=0),
        "rps": count / result.wall_s if result.wall_s else 0.0,
        "errorDistribution": _error_counts(result),
        "statusCodeDistribution": _status_counts(result),
        "latencyDistribution": [
            {"percentage": pct, "latency": int(percentile(latencies, pct) * 1e9)}
            for pct in PERCENTILES
        ]
        if count
        else None,
        "histogram": [
            {"mark": mark / 1000, "count": n, "frequency": n / count}
            for mark, n in _histogram([value * 1000 for value in latencies])
        ],
    }
