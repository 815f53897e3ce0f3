"""Requests as raw bytes, for what Python's protobuf refuses to build (invalid UTF-8, garbage)."""

from __future__ import annotations

import re

import grpc

# "rows[0].title_ids[3]: …" — the start of a message that names the field.
FIELD_MESSAGE = re.compile(r"^[a-z_]+(\[\d+\])?(\.[a-z_]+(\[\d+\])?)*: ")


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def length_field(number: int, payload: bytes) -> bytes:
    """One length-delimited field (string, bytes or message) in wire format."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def call_raw(
    channel: grpc.Channel, method: str, request: bytes, timeout_s: float = 10.0
) -> tuple[grpc.StatusCode, str]:
    """Sends `request` bytes to `method` ("/pkg.Service/Method"); the status code and details."""
    try:
        call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(method)
        call(request, timeout=timeout_s)
    except grpc.RpcError as error:
        return error.code(), error.details() or ""
    return grpc.StatusCode.OK, ""
