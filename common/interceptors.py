"""Server interceptor: binds the request id, logs and times each call, maps domain errors to status codes."""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import grpc
import structlog
from google.protobuf.message import DecodeError

from common.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    KeyartError,
    NotFound,
    ResourceExhausted,
    Unavailable,
)
from common.logging import REQUEST_ID_METADATA_KEY, get_logger
from common.metrics import RPC_LATENCY
from common.wire import field_with_bad_utf8

log = get_logger(__name__)

_STATUS_BY_ERROR: tuple[tuple[type[KeyartError], grpc.StatusCode], ...] = (
    (InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (Unavailable, grpc.StatusCode.UNAVAILABLE),
    (ResourceExhausted, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
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


class _CallScope:
    """Request-id binding, error mapping, the "rpc" log line and the latency metric of one call."""

    def __init__(self, method: str, context: grpc.aio.ServicerContext) -> None:
        self.method = method
        self.context = context
        self.code = grpc.StatusCode.OK
        self.started = time.perf_counter()
        structlog.contextvars.bind_contextvars(request_id=request_id_from(context), method=method)

    async def fail(self, error: BaseException) -> NoReturn:
        """Aborts the call with the status `error` maps to (re-raises aborts and cancellation)."""
        if not isinstance(error, Exception):  # cancellation, generator close, exit
            if isinstance(error, asyncio.CancelledError):
                self.code = grpc.StatusCode.CANCELLED
            raise error
        if isinstance(error, grpc.aio.AbortError):
            self.code = self.context.code() or grpc.StatusCode.UNKNOWN
            raise error
        if isinstance(error, KeyartError):
            self.code = status_for(error)
            await self.context.abort(self.code, str(error))
        self.code = grpc.StatusCode.INTERNAL
        log.error("unexpected error", exc_info=error)
        await self.context.abort(self.code, "internal error; see the server log")

    def close(self) -> None:
        elapsed = time.perf_counter() - self.started
        if not self.method.startswith(_QUIET_PREFIXES):
            RPC_LATENCY.labels(self.method, self.code.name).observe(elapsed)
            log.debug("rpc", code=self.code.name, ms=round(elapsed * 1000, 3))
        structlog.contextvars.unbind_contextvars("request_id", "method")


class Drain:
    """Counts calls in flight and, once a server stops, refuses new ones UNAVAILABLE.

    gRPC's own stop answers CANCELLED to calls it has received but not yet
    handed to a handler (grpc/grpc#41785), which clients do not retry; a server
    that first refuses new calls itself and waits for its in-flight ones leaves
    stop() next to nothing to cancel. Health and reflection are not counted.
    """

    def __init__(self) -> None:
        self.refusing = False
        self.in_flight = 0

    @contextmanager
    def track(self, counted: bool) -> Iterator[None]:
        if not counted:
            yield
            return
        if self.refusing:
            raise Unavailable("the server is shutting down; retry")
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1

    async def refuse_and_wait(self, timeout_s: float) -> None:
        """Refuses new calls, then returns once none is in flight or `timeout_s` has passed."""
        self.refusing = True
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout_s
        while self.in_flight and loop.time() < end:
            await asyncio.sleep(0.01)


def _decoder(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any]:
    """Decodes a request inside the call, so a malformed one is INVALID_ARGUMENT naming the
    field (gRPC's own decoding answers INTERNAL, "Exception deserializing request")."""
    if deserializer is None:
        return lambda raw: raw

    def decode(raw: bytes) -> Any:
        try:
            return deserializer(raw)
        except DecodeError as error:
            message_type = getattr(deserializer, "__self__", None)
            descriptor = getattr(message_type, "DESCRIPTOR", None)
            field = descriptor and field_with_bad_utf8(descriptor, raw)
            if field:
                raise InvalidArgument(field, "is not valid UTF-8") from None
            raise InvalidArgument("request", f"is not a valid message: {error}") from None

    return decode


class ErrorMappingInterceptor(grpc.aio.ServerInterceptor):
    """Wraps every unary-unary and unary-stream handler in a _CallScope.

    KeyartError → its status with its message; anything else → INTERNAL with a
    generic message, the detail going to the log only. Calls are tracked by `drain`.
    """

    def __init__(self, drain: Drain) -> None:
        self._drain = drain
        # A server's handlers are fixed once it serves, so each method is wrapped once.
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is None:
            handler = await continuation(handler_call_details)
            if handler is None:
                return handler
            wrapped = self._wrapped[method] = self._wrap(method, handler)
        return wrapped

    def _wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        track = functools.partial(self._drain.track, not method.startswith(_QUIET_PREFIXES))
        if handler.unary_unary is not None:
            unary = handler.unary_unary
            decode = _decoder(handler.request_deserializer)

            async def unary_wrapped(raw: bytes, context: grpc.aio.ServicerContext) -> Any:
                scope = _CallScope(method, context)
                try:
                    with track():
                        return await unary(decode(raw), context)
                except BaseException as error:
                    await scope.fail(error)
                finally:
                    scope.close()

            return grpc.unary_unary_rpc_method_handler(
                unary_wrapped,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            stream = handler.unary_stream
            decode_streamed = _decoder(handler.request_deserializer)

            async def stream_wrapped(
                raw: bytes, context: grpc.aio.ServicerContext
            ) -> AsyncIterator[Any]:
                scope = _CallScope(method, context)
                try:
                    with track():
                        async for response in stream(decode_streamed(raw), context):
                            yield response
                except BaseException as error:
                    await scope.fail(error)
                finally:
                    scope.close()

            async def writer_wrapped(raw: bytes, context: grpc.aio.ServicerContext) -> None:
                """For handlers that send with `context.write` (the stock health Watch)."""
                scope = _CallScope(method, context)
                try:
                    with track():
                        await stream(decode_streamed(raw), context)
                except BaseException as error:
                    await scope.fail(error)
                finally:
                    scope.close()

            # gRPC tells the two kinds apart by the handler's type, so the wrapper must match.
            return grpc.unary_stream_rpc_method_handler(
                writer_wrapped if inspect.iscoroutinefunction(stream) else stream_wrapped,
                response_serializer=handler.response_serializer,
            )
        return handler
