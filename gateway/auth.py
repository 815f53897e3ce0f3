"""Bearer-token auth at the gateway: who may call which method.

Tokens come from a JSON file (a mounted Secret) mapping each token to the
methods it may call: full names (`/keyart.gateway.v1.PageService/RenderPage`),
a whole service (`/keyart.gateway.v1.PageService/*`) or everything (`*`).
Only SHA-256 digests of the tokens are kept in memory. Health checks stay open.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import grpc

from common.config import ConfigError
from common.interceptors import Continuation, Handler
from common.logging import get_logger, log_bad_input

log = get_logger(__name__)

OPEN_PREFIXES = ("/grpc.health.v1.Health/",)
_BEARER = "bearer "


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _allows(patterns: tuple[str, ...], method: str) -> bool:
    service = method.rsplit("/", 1)[0] + "/*"
    return any(pattern in ("*", method, service) for pattern in patterns)


@dataclass(frozen=True)
class TokenPolicy:
    methods_by_digest: Mapping[str, tuple[str, ...]]

    def check(self, authorization: str | None, method: str) -> grpc.StatusCode | None:
        """None when the call may go ahead, else the status to refuse it with."""
        if not authorization or not authorization.lower().startswith(_BEARER):
            return grpc.StatusCode.UNAUTHENTICATED
        allowed = self.methods_by_digest.get(_digest(authorization[len(_BEARER) :].strip()))
        if allowed is None:
            return grpc.StatusCode.UNAUTHENTICATED
        return None if _allows(allowed, method) else grpc.StatusCode.PERMISSION_DENIED


def load_token_policy(path: str, variable: str) -> TokenPolicy:
    """Reads `{"<token>": ["<method pattern>", ...], ...}`; ConfigError names `variable` when bad."""
    try:
        with open(path, encoding="utf-8") as file:
            raw = json.load(file)
    except (OSError, ValueError) as error:
        raise ConfigError(f"{variable}={path!r}: cannot read tokens: {error}") from None
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{variable}={path!r}: expected a non-empty JSON object token → methods")
    policy: dict[str, tuple[str, ...]] = {}
    for token, methods in raw.items():
        if (
            not token.strip()
            or not isinstance(methods, list)
            or not all(isinstance(m, str) and (m == "*" or m.startswith("/")) for m in methods)
        ):
            raise ConfigError(
                f"{variable}={path!r}: each token needs a list of methods ('*' or '/pkg.Service/Method')"
            )
        policy[_digest(token.strip())] = tuple(methods)
    return TokenPolicy(policy)


def _authorization(details: grpc.HandlerCallDetails) -> str | None:
    for key, value in details.invocation_metadata or ():
        if key == "authorization":
            return str(value)
    return None


_HANDLER_FACTORIES = (
    ("unary_unary", grpc.unary_unary_rpc_method_handler),
    ("unary_stream", grpc.unary_stream_rpc_method_handler),
    ("stream_unary", grpc.stream_unary_rpc_method_handler),
    ("stream_stream", grpc.stream_stream_rpc_method_handler),
)


def _refusing(
    handler: grpc.RpcMethodHandler, code: grpc.StatusCode, message: str
) -> grpc.RpcMethodHandler:
    """A handler of the same shape as `handler` that only aborts with `code`."""

    async def refuse(request: Any, context: grpc.aio.ServicerContext) -> None:
        await context.abort(code, message)

    for kind, factory in _HANDLER_FACTORIES:
        if getattr(handler, kind) is not None:
            return factory(
                refuse,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
    raise TypeError(f"handler of unknown kind: {handler!r}")


_MESSAGES = {
    grpc.StatusCode.UNAUTHENTICATED: "authorization: a valid 'Bearer <token>' is required",
    grpc.StatusCode.PERMISSION_DENIED: "authorization: this token may not call this method",
}


class BearerAuthInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, policy: TokenPolicy) -> None:
        self._policy = policy

    async def intercept_service(
        self,
        continuation: Continuation,
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        method = handler_call_details.method
        handler = await continuation(handler_call_details)
        if handler is None or method.startswith(OPEN_PREFIXES):
            return handler
        refusal = self._policy.check(_authorization(handler_call_details), method)
        if refusal is None:
            return handler
        log_bad_input(log, f"call refused: {refusal.name}", "call refused", method=method)
        return _refusing(handler, refusal, _MESSAGES[refusal])
