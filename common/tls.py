"""TLS material named in config: files read at start into gRPC credentials."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc

from common.config import ConfigError, env_str


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise ConfigError(f"cannot read TLS file {path}: {error.strerror}") from None


@dataclass(frozen=True)
class ServerTls:
    """A server's certificate and key; with `client_ca`, clients must present a certificate it signed."""

    cert: str
    key: str
    client_ca: str = ""

    def credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials(
            [(_read(self.key), _read(self.cert))],
            root_certificates=_read(self.client_ca) if self.client_ca else None,
            require_client_auth=bool(self.client_ca),
        )


@dataclass(frozen=True)
class ClientTls:
    """A client's view: the CA that signed the servers, and its own certificate for mTLS."""

    ca: str
    cert: str = ""
    key: str = ""
    # The name the servers' certificates carry, when it is not the target's host name.
    server_name: str = ""

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=_read(self.ca),
            private_key=_read(self.key) if self.key else None,
            certificate_chain=_read(self.cert) if self.cert else None,
        )


def server_tls_from_env(prefix: str) -> ServerTls | None:
    """`<PREFIX>_TLS_CERT` + `<PREFIX>_TLS_KEY` (both or neither), optional `<PREFIX>_TLS_CLIENT_CA`."""
    cert, key, client_ca = (
        env_str(f"{prefix}_TLS_{part}", "") for part in ("CERT", "KEY", "CLIENT_CA")
    )
    if bool(cert) != bool(key):
        raise ConfigError(f"{prefix}_TLS_CERT and {prefix}_TLS_KEY must be set together")
    if client_ca and not cert:
        raise ConfigError(f"{prefix}_TLS_CLIENT_CA needs {prefix}_TLS_CERT and {prefix}_TLS_KEY")
    return ServerTls(cert, key, client_ca) if cert else None


def client_tls_from_env(prefix: str) -> ClientTls | None:
    """`<PREFIX>_TLS_CA` turns TLS on; `_TLS_CERT` + `_TLS_KEY` add a client certificate (mTLS)."""
    ca, cert, key, server_name = (
        env_str(f"{prefix}_TLS_{part}", "") for part in ("CA", "CERT", "KEY", "SERVER_NAME")
    )
    if bool(cert) != bool(key):
        raise ConfigError(f"{prefix}_TLS_CERT and {prefix}_TLS_KEY must be set together")
    if (cert or server_name) and not ca:
        raise ConfigError(f"{prefix}_TLS_CERT/_SERVER_NAME need {prefix}_TLS_CA")
    return ClientTls(ca, cert, key, server_name) if ca else None
