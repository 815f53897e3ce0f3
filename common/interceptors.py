"""Server interceptor: binds the request id, logs each call, maps domain errors to status codes."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import structlog

from common.errors import InvalidArgument, KeyartError, NotFound, ResourceExhausted, Unavailable
from common.logging import REQUEST_ID_METADATA_KEY, get_logger

log = get_logger(__name__)

_STATUS_BY_ERROR: tuple[tuple[type[KeyartError], grpc.StatusCode], ...] = (
    (InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (Unavailable, grpc.StatusCode.UNAVAILABLE),
    (ResourceExhausted, grpc.StatusCode.RESOURCE_EXHAUSTED),
)

# Calls that are not logged per request (health probes would drown the log).
_QUIET_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")


def status_for(error: KeyartError) -> grpc.StatusCode:
    for error_type, code in _STATUS_BY_ERROR:
        if isinstance(error, error_type):
            return code
    return grpc.StatusCode.INTERNAL


def request_id_from(context: grpc.aio.ServicerContext) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == REQUEST_ID_METADATA_KEY and value:
            return str(value)[:64]
    return uuid.uuid4().hex


class ErrorMappingInterceptor(grpc.aio.ServerInterceptor):
    """Wraps every unary-unary handler.

    KeyartError → its status with its message; anything else → INTERNAL with a
    generic message, the detail going to the log only.
    """

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        method = handler_call_details.method
        quiet = method.startswith(_QUIET_PREFIXES)
        inner = handler.unary_unary

        async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
            request_id = request_id_from(context)
            structlog.contextvars.bind_contextvars(request_id=request_id, method=method)
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                return await inner(request, context)
            except KeyartError as error:
                code = status_for(error)
                await context.abort(code, str(error))
            except grpc.aio.AbortError:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            except Exception:
                code = grpc.StatusCode.INTERNAL
                log.exception("unexpected error")
                await context.abort(code, "internal error; see the server log")
            finally:
                if not quiet:
                    log.info(
                        "rpc",
                        code=code.name,
                        ms=round((time.perf_counter() - started) * 1000, 3),
                    )
                structlog.contextvars.unbind_contextvars("request_id", "method")

        return grpc.unary_unary_rpc_method_handler(
            wrapped,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
