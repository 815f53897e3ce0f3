"""structlog configured for JSON lines on stdout, with the request id bound per call."""

from __future__ import annotations

import logging
import sys

import structlog

from common.config import env_choice

REQUEST_ID_METADATA_KEY = "x-request-id"


LOG_LEVELS = ("debug", "info", "warning", "error")


def configure_logging(service: str) -> None:
    """One JSON object per line, each carrying the service name and any bound context.

    The level comes from KEYART_LOG_LEVEL (default info; debug adds a line per RPC).
    """
    level = env_choice("KEYART_LOG_LEVEL", "info", LOG_LEVELS)
    logging.basicConfig(format="%(message)s", stream=sys.stdout, level=level.upper())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        # One write per line, so lines from several processes sharing a terminal never interleave.
        logger_factory=structlog.WriteLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    return structlog.get_logger(name)
