"""Client channels to keyart's own services, created once with explicit options.

Channels balance every request across the addresses a target resolves to
(round_robin): with `dns:///profile-headless:50052` and a headless Service,
that is every ready pod, not the one pod a connection happened to land on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import grpc

from common.logging import REQUEST_ID_METADATA_KEY
from common.tls import ClientTls

ROUND_ROBIN_SERVICE_CONFIG = json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})


def retry_service_config(service: str) -> str:
    """A client service config retrying `service`'s calls on UNAVAILABLE, RESOURCE_EXHAUSTED and
    CANCELLED (up to 5 attempts, with backoff), each attempt waiting for the channel to be
    ready: a restarting or overloaded server costs latency, not calls.

    CANCELLED is what a stopping gRPC server answers to calls it received but never handed
    to a handler (grpc/grpc#41785): they never ran. gRPC retries only statuses a server
    sent, so a client's own cancellation or deadline is never resent.

    For clients of idempotent calls only: RenderPage reads, ReportEvent is keyed by event_id.
    """
    return json.dumps(
        {
            "methodConfig": [
                {
                    "name": [{"service": service}],
                    "waitForReady": True,
                    "retryPolicy": {
                        "maxAttempts": 5,
                        "initialBackoff": "0.05s",
                        "maxBackoff": "1s",
                        "backoffMultiplier": 2,
                        "retryableStatusCodes": ["UNAVAILABLE", "RESOURCE_EXHAUSTED", "CANCELLED"],
                    },
                }
            ]
        }
    )


def channel_options(max_message_bytes: int) -> list[tuple[str, int | str]]:
    return [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        # A restarted dependency is found again within about a second, not minutes.
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.min_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 1000),
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.service_config", ROUND_ROBIN_SERVICE_CONFIG),
    ]


def backend_channel(target: str, max_message_bytes: int, tls: ClientTls | None) -> grpc.aio.Channel:
    """A balanced channel; over TLS (mTLS with a client certificate) when `tls` is given."""
    options = channel_options(max_message_bytes)
    if tls is None:
        return grpc.aio.insecure_channel(target, options=options)
    if tls.server_name:
        options.append(("grpc.ssl_target_name_override", tls.server_name))
    return grpc.aio.secure_channel(target, tls.credentials(), options=options)


@dataclass(frozen=True)
class Dial:
    """How a command-line tool reaches a service: plaintext, or TLS with these credentials."""

    target: str
    credentials: grpc.ChannelCredentials | None = None
    server_name: str = ""  # the name the service's certificate carries, if not the host's

    @classmethod
    def of(cls, target: str, tls: ClientTls | None) -> Dial:
        """Reads the TLS files now (ConfigError naming an unreadable one)."""
        if tls is None:
            return cls(target)
        return cls(target, tls.credentials(), tls.server_name)

    def channel(self) -> grpc.Channel:
        if self.credentials is None:
            return grpc.insecure_channel(self.target)
        options = [("grpc.ssl_target_name_override", self.server_name)] if self.server_name else []
        return grpc.secure_channel(self.target, self.credentials, options=options)


def insecure_channel(target: str, max_message_bytes: int) -> grpc.aio.Channel:
    """A balanced plaintext channel (local tools such as the preview page)."""
    return backend_channel(target, max_message_bytes, None)


def request_metadata(request_id: str | None) -> tuple[tuple[str, str], ...]:
    return ((REQUEST_ID_METADATA_KEY, request_id),) if request_id else ()
