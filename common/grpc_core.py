"""gRPC core's own logging, which bypasses Python's: plain-text lines on stderr.

gRPC core writes lines such as `E… hpack_parser.cc:…] Error parsing 'grpc-timeout'
metadata` for every malformed request a client sends, at ERROR level, so that
anyone could fill the log with non-JSON lines. The call itself still gets its
status code. Core reads GRPC_VERBOSITY once, when grpc is first imported, so
this has to run before that: the server packages' `__init__` call it.
Set GRPC_VERBOSITY (ERROR, INFO, DEBUG) and GRPC_TRACE to see core's lines again.
"""

from __future__ import annotations

import os

DEFAULT_VERBOSITY = "NONE"


def quiet_core_logging() -> None:
    """GRPC_VERBOSITY=NONE unless it is set; call before grpc is imported."""
    os.environ.setdefault("GRPC_VERBOSITY", DEFAULT_VERBOSITY)
