"""Server interceptor: admits each call (in-flight limit, drain), binds the request id, logs and
times it, and maps domain errors to status codes."""

from __future__ import annotations

import asyncio
import functools
import inspect
import math
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, NoReturn, TypeAlias

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
from common.metrics import REFUSED_CALLS, RPC_LATENCY
from common.wire import field_with_bad_utf8

log = get_logger(__name__)
# A string: grpc's RpcMethodHandler is generic in its stubs only.
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
# What a server interceptor calls to get the next handler (grpc.aio.ServerInterceptor).
Continuation: TypeAlias = "Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]]"

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
    """Admits calls: counts those in flight, refuses RESOURCE_EXHAUSTED beyond `max_in_flight`
    (0: no limit), and once a server stops refuses new ones UNAVAILABLE.

    The limit answers excess load at once with a status that says "back off and retry",
    where calls left to pile up would wait past their deadlines. Refusals are counted
    (keyart_rpc_refused_total) and logged at most once per `log_interval_s`.

    gRPC's own stop answers CANCELLED to calls it has received but not yet
    handed to a handler (grpc/grpc#41785), which clients do not retry; a server
    that first refuses new calls itself and waits for its in-flight ones leaves
    stop() next to nothing to cancel. Health and reflection are not counted.
    """

    def __init__(self, max_in_flight: int = 0, log_interval_s: float = 10.0) -> None:
        self.refusing = False
        self.in_flight = 0
        self.max_in_flight = max_in_flight
        self._log_interval_s = log_interval_s
        self._refused_unlogged = 0
        self._logged_at = -math.inf

    @contextmanager
    def track(self, counted: bool) -> Iterator[None]:
        if not counted:
            yield
            return
        if self.refusing:
            raise Unavailable("the server is shutting down; retry")
        if self.max_in_flight and self.in_flight >= self.max_in_flight:
            self._refused()
            raise ResourceExhausted(
                f"{self.in_flight} calls in flight (limit {self.max_in_flight}); retry with backoff"
            )
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1

    def _refused(self) -> None:
        REFUSED_CALLS.inc()
        self._refused_unlogged += 1
        now = time.monotonic()
        if now - self._logged_at >= self._log_interval_s:
            log.warning(
                "calls refused: too many in flight",
                limit=self.max_in_flight,
                refused=self._refused_unlogged,
                since_s=None if math.isinf(self._logged_at) else round(now - self._logged_at, 1),
            )
            self._logged_at = now
            self._refused_unlogged = 0

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
    """Wraps every unary-unary, unary-stream and stream-unary handler in a _CallScope.

    KeyartError → its status with its message; anything else → INTERNAL with a
    generic message, the detail going to the log only. Calls are tracked by `drain`.
    """

    def __init__(self, drain: Drain) -> None:
        self._drain = drain
        # A server's handlers are fixed once it serves, so each method is wrapped once.
        self._wrapped: dict[str, Handler] = {}

    async def intercept_service(
        self,
        continuation: Continuation,
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        method = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is None:
            handler = await continuation(handler_call_details)
            if handler is None:
                return handler
            wrapped = self._wrapped[method] = self._wrap(method, handler)
        return wrapped

    @asynccontextmanager
    async def _scope(
        self, method: str, counted: bool, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[None]:
        """One call: its _CallScope around the handler, admitted by the drain."""
        call = _CallScope(method, context)
        try:
            with self._drain.track(counted):
                yield
        except BaseException as error:  # noqa: BLE001 - fail() maps or re-raises every kind
            await call.fail(error)
        finally:
            call.close()

    def _wrap(self, method: str, handler: Handler) -> Handler:
        scope = functools.partial(self._scope, method, not method.startswith(_QUIET_PREFIXES))
        decode = _decoder(handler.request_deserializer)
        if handler.unary_unary is not None:
            unary: Any = handler.unary_unary  # an aio handler: a coroutine function

            async def unary_wrapped(raw: bytes, context: grpc.aio.ServicerContext) -> Any:
                async with scope(context):
                    return await unary(decode(raw), context)

            return grpc.unary_unary_rpc_method_handler(
                unary_wrapped, response_serializer=handler.response_serializer
            )
        if handler.stream_unary is not None:
            client_stream: Any = handler.stream_unary  # a coroutine function

            async def client_stream_wrapped(
                requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext
            ) -> Any:
                async with scope(context):
                    return await client_stream((decode(raw) async for raw in requests), context)

            return grpc.stream_unary_rpc_method_handler(
                client_stream_wrapped, response_serializer=handler.response_serializer
            )
        if handler.unary_stream is None:
            return handler
        stream: Any = handler.unary_stream  # an async generator or a coroutine function

        async def stream_wrapped(
            raw: bytes, context: grpc.aio.ServicerContext
        ) -> AsyncIterator[Any]:
            async with scope(context):
                async for response in stream(decode(raw), context):
                    yield response

        async def writer_wrapped(raw: bytes, context: grpc.aio.ServicerContext) -> None:
            """For handlers that send with `context.write` (the stock health Watch)."""
            async with scope(context):
                await stream(decode(raw), context)

        # gRPC tells the two kinds apart by the handler's type, so the wrapper must match.
        return grpc.unary_stream_rpc_method_handler(
            writer_wrapped if inspect.iscoroutinefunction(stream) else stream_wrapped,
            response_serializer=handler.response_serializer,
        )
