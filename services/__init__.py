"""Runs before the server modules import grpc: gRPC core's own plain-text log lines are
quieted unless GRPC_VERBOSITY is set (see common/grpc_core.py)."""

from common.grpc_core import quiet_core_logging

quiet_core_logging()
