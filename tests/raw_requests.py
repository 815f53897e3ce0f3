"""Requests as raw bytes, for what Python's protobuf refuses to build (invalid UTF-8, garbage)."""

from __future__ import annotations

import re
import socket

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


def http2_frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return (
        len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload
    )


def _literal_header(name: bytes, value: bytes) -> bytes:
    """An HPACK literal header field without indexing (names and values under 127 bytes)."""
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value


def bad_grpc_timeout_request(method: str = "/grpc.health.v1.Health/Check") -> bytes:
    """An HTTP/2 connection opening with one call whose `grpc-timeout` header is garbage:
    gRPC core refuses it and (at its default verbosity) writes an `hpack_parser` line to stderr."""
    headers = (
        (b":method", b"POST"),
        (b":scheme", b"http"),
        (b":path", method.encode()),
        (b":authority", b"keyart"),
        (b"content-type", b"application/grpc"),
        (b"te", b"trailers"),
        (b"grpc-timeout", b"garbage"),
    )
    block = b"".join(_literal_header(name, value) for name, value in headers)
    end_headers_and_stream = 0x4 | 0x1
    return (
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
        + http2_frame(0x4, 0, 0, b"")  # SETTINGS
        + http2_frame(0x1, end_headers_and_stream, 1, block)  # HEADERS
    )


def send_raw(address: str, data: bytes, timeout_s: float = 2.0) -> bytes:
    """Sends `data` on a fresh TCP connection; what came back before the peer closed or went quiet."""
    host, _, port = address.rpartition(":")
    received = b""
    with socket.create_connection((host, int(port)), timeout=timeout_s) as sock:
        sock.sendall(data)
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            pass
    return received
