"""`--ca`, `--cert`, `--key`, `--server-name`: how a command talks TLS (or mTLS) to a service."""

from __future__ import annotations

import argparse

from common.config import ConfigError
from common.tls import ClientTls


def add_tls_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ca", help="CA certificate that signed the service's: talk TLS")
    parser.add_argument("--cert", help="client certificate, for a service requiring mTLS")
    parser.add_argument("--key", help="the client certificate's private key")
    parser.add_argument(
        "--server-name", help="the name the service's certificate carries, if not the host's"
    )


def client_tls(args: argparse.Namespace) -> ClientTls | None:
    """None (plaintext) without --ca; ConfigError for a half-given client certificate."""
    if bool(args.cert) != bool(args.key):
        raise ConfigError("--cert and --key must be given together")
    if not args.ca:
        if args.cert or args.server_name:
            raise ConfigError("--cert, --key and --server-name need --ca")
        return None
    return ClientTls(args.ca, args.cert or "", args.key or "", args.server_name or "")
