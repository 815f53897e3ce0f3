"""The gateway's token policy: which token may call which method, and a bad tokens file."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest

from common.config import ConfigError
from gateway.auth import load_token_policy

RENDER = "/keyart.gateway.v1.PageService/RenderPage"
REPORT = "/keyart.gateway.v1.PageService/ReportEvent"


def policy(tmp_path: Path, tokens: object):
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps(tokens))
    return load_token_policy(str(path), "GATEWAY_AUTH_TOKENS_FILE")


def test_tokens_are_allowed_their_methods_only(tmp_path: Path) -> None:
    tokens = policy(
        tmp_path, {"r": [RENDER], "svc": ["/keyart.gateway.v1.PageService/*"], "all": ["*"]}
    )
    assert tokens.check("Bearer r", RENDER) is None
    assert tokens.check("Bearer r", REPORT) == grpc.StatusCode.PERMISSION_DENIED
    assert tokens.check("bearer svc", REPORT) is None
    assert tokens.check("Bearer svc", "/grpc.reflection.v1alpha.ServerReflection/Info") == (
        grpc.StatusCode.PERMISSION_DENIED
    )
    assert tokens.check("Bearer all", "/any.Service/Method") is None


@pytest.mark.parametrize("authorization", [None, "", "r", "Basic r", "Bearer nope", "Bearer "])
def test_no_or_unknown_token_is_unauthenticated(tmp_path: Path, authorization: str | None) -> None:
    assert policy(tmp_path, {"r": [RENDER]}).check(authorization, RENDER) == (
        grpc.StatusCode.UNAUTHENTICATED
    )


@pytest.mark.parametrize(
    "tokens", [{}, [], {"t": "RenderPage"}, {"t": ["RenderPage"]}, {" ": ["*"]}]
)
def test_a_bad_tokens_file_names_the_variable(tmp_path: Path, tokens: object) -> None:
    with pytest.raises(ConfigError, match="GATEWAY_AUTH_TOKENS_FILE"):
        policy(tmp_path, tokens)


def test_a_missing_tokens_file_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="GATEWAY_AUTH_TOKENS_FILE"):
        load_token_policy(str(tmp_path / "absent.json"), "GATEWAY_AUTH_TOKENS_FILE")
