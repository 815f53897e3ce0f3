"""aiohttp's low-level server log as keyart's JSON lines.

aiohttp logs each malformed request (a header over 8 KB, a bad chunked body)
with its multi-line traceback. Such a request is bad input from outside: it
becomes one rate-limited warning per kind of error (`log_bad_input`); anything
else aiohttp reports (a handler that failed) is one error line, its traceback
inside the JSON.
"""

from __future__ import annotations

import logging

from aiohttp.http_exceptions import HttpProcessingError

from common.logging import get_logger, log_bad_input

log = get_logger("preview.http")
DETAIL_CHARS = 200  # the parser's message quotes the client's bytes; keep a line short


class _JsonLines(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            detail = error.message if isinstance(error.message, str) else repr(error.message)
            log_bad_input(
                log,
                f"malformed http request: {type(error).__name__}",
                "malformed http request refused",
                status=error.code,
                detail=detail[:DETAIL_CHARS],
            )
        else:
            log.error(record.getMessage(), exc_info=record.exc_info)


def server_logger() -> logging.Logger:
    """The logger to hand aiohttp's server (`AppRunner(logger=...)`); its debug lines are dropped."""
    logger = logging.getLogger("preview.aiohttp")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.handlers[:] = [_JsonLines()]
    return logger
