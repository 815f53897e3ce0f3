"""Naming the field of a protobuf message that does not decode (protobuf's own error names none).

Python's protobuf refuses a string field holding invalid UTF-8 with "String
field had bad UTF-8", which does not say which. This walks the wire format
against the message's descriptor to find it, so the caller gets
INVALID_ARGUMENT naming the field, as for any other bad input.
"""

from __future__ import annotations

from google.protobuf.descriptor import Descriptor, FieldDescriptor

_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5


class _Corrupt(Exception):
    """The bytes are not protobuf wire format at all."""


def _varint(raw: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(raw) or shift > 63:
            raise _Corrupt
        byte = raw[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if not byte & 0x80:
            return value, at
        shift += 7


def _fields(raw: bytes) -> list[tuple[int, int, bytes]]:
    """(field number, wire type, payload of a length-delimited field) in wire order."""
    found = []
    at = 0
    while at < len(raw):
        key, at = _varint(raw, at)
        number, wire_type = key >> 3, key & 7
        payload = b""
        if wire_type == _VARINT:
            _, at = _varint(raw, at)
        elif wire_type in (_FIXED64, _FIXED32):
            at += 8 if wire_type == _FIXED64 else 4
        elif wire_type == _LENGTH:
            size, at = _varint(raw, at)
            payload = raw[at : at + size]
            at += size
        else:
            raise _Corrupt
        if at > len(raw) or number == 0:
            raise _Corrupt
        found.append((number, wire_type, payload))
    return found


def _bad_utf8(descriptor: Descriptor, raw: bytes, prefix: str) -> str | None:
    seen: dict[int, int] = {}
    for number, wire_type, payload in _fields(raw):
        field = descriptor.fields_by_number.get(number)
        index = seen[number] = seen.get(number, -1) + 1
        if field is None or wire_type != _LENGTH:
            continue
        name = prefix + field.name + (f"[{index}]" if field.is_repeated else "")
        if field.type == FieldDescriptor.TYPE_STRING:
            try:
                payload.decode("utf-8")
            except UnicodeDecodeError:
                return name
        elif field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type is not None:
            inner = _bad_utf8(field.message_type, payload, name + ".")
            if inner is not None:
                return inner
    return None


def field_with_bad_utf8(descriptor: Descriptor, raw: bytes) -> str | None:
    """The path (e.g. `rows[0].title_ids[2]`) of the first string field that is not UTF-8, if any."""
    try:
        return _bad_utf8(descriptor, raw, "")
    except _Corrupt:
        return None
