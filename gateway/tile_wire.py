"""RenderPage's tiles encoded straight to protobuf wire bytes.

A reference page has 1,600 tiles; setting their fields one by one through
protobuf's Python API cost more than a millisecond a page, plus an object per
tile before that. Here a title's unchanging fields (title, artwork id, image
URL) are serialized once per candidate by protobuf itself, and a page only
adds each tile's decision (four scalar fields) and the length prefixes.
Protobuf parses concatenated encodings of a message as one message, so the
bytes are a RenderPageResponse exactly like one built field by field
(tests/unit/test_tile_wire.py checks this on random pages).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from operator import add, getitem

import numpy as np
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from keyart.gateway.v1 import gateway_service_pb2 as pb

_LENGTH_DELIMITED, _FIXED32, _VARINT = 2, 5, 0


def _tag(message: type[Message], field: str, wire_type: int) -> int:
    number = message.DESCRIPTOR.fields_by_name[field].number
    assert number < 16, "one-byte tags only"
    return number << 3 | wire_type


_TILE_IN_ROW = _tag(pb.Row, "tiles", _LENGTH_DELIMITED)
_ROW_ID = _tag(pb.Row, "row_id", _LENGTH_DELIMITED)
_ROW_IN_PAGE = _tag(pb.RenderPageResponse, "rows", _LENGTH_DELIMITED)
_PERSONALIZED = _tag(pb.Tile, "personalized", _VARINT)
_SCORE = _tag(pb.Tile, "score", _FIXED32)
_PROPENSITY = _tag(pb.Tile, "propensity", _FIXED32)
_FALLBACK = _tag(pb.Tile, "fallback_reason", _VARINT)
assert all(
    pb.Tile.DESCRIPTOR.fields_by_name[name].type == FieldDescriptor.TYPE_FLOAT
    for name in ("score", "propensity")
)

# A ranked tile's decision, encoded for a whole page at once: score, propensity,
# then personalized = true or the reason it is not. The last byte (true, or a
# reason ≥ 1) is never zero, so numpy's fixed-width bytes view, which drops
# trailing zero bytes, hands each decision over whole.
_DECISION = np.dtype(
    [
        ("score_tag", "u1"),
        ("score", "<f4"),
        ("propensity_tag", "u1"),
        ("propensity", "<f4"),
        ("tag", "u1"),
        ("flag", "u1"),
    ]
)
_DECISION_BYTES = f"S{_DECISION.itemsize}"
_UNRANKED_FALLBACK = struct.Struct("<BfBB")  # propensity 1 and a reason, no score
# A reason is one byte: its varint is the value itself while FallbackReason stays below 128.
assert max(pb.FallbackReason.values()) < 0x80, "FallbackReason values fit one varint byte"


def varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _delimited(tag: int, body: bytes) -> bytes:
    return bytes((tag,)) + varint(len(body)) + body


class CandidateTiles:
    """One title's candidates as tiles: the unchanging fields, serialized once."""

    def __init__(self, title_id: str, artwork_ids: tuple[str, ...], image_urls: tuple[str, ...]):
        fixed = [
            pb.Tile(title_id=title_id, artwork_id=artwork, image_url=url).SerializeToString()
            # As many as the artwork service sent of both; a page does not fail on it.
            for artwork, url in zip(artwork_ids, image_urls, strict=False)
        ]
        # Each ranked tile's Row.tiles tag and length, ahead of its fixed fields.
        self.ranked_prefixes = [
            bytes((_TILE_IN_ROW,)) + varint(len(body) + _DECISION.itemsize) + body for body in fixed
        ]
        self._fixed = fixed
        self._unranked: dict[tuple[int, int], bytes] = {}

    def unranked(self, index: int, reason: int) -> bytes:
        """A candidate shown without ranking (propensity 1) for `reason`; kept, since a
        ranker outage serves the same default tile on every page."""
        tile = self._unranked.get((index, reason))
        if tile is None:
            tile = _delimited(_TILE_IN_ROW, self._fixed[index] + _fallback(reason))
            self._unranked[(index, reason)] = tile
        return tile


def ranked_tiles(
    prefixes: Iterable[list[bytes]],
    indices: np.ndarray,
    scores: np.ndarray,
    propensities: np.ndarray,
    reason: int | np.ndarray,
) -> list[bytes]:
    """Each title's chosen candidate as a tile in two pieces, its fixed fields then its
    decision (tile i is pieces[2i] + pieces[2i + 1]), from the titles' `ranked_prefixes`
    (in order, one per decision); `reason` (one for all, or one a title) 0 means
    personalized. A row joins the pieces as they are, with no bytes object made per tile."""
    decisions = np.zeros(indices.size, _DECISION)
    decisions["score_tag"], decisions["score"] = _SCORE, scores
    decisions["propensity_tag"], decisions["propensity"] = _PROPENSITY, propensities
    if isinstance(reason, np.ndarray):
        decisions["tag"] = np.where(reason, _FALLBACK, _PERSONALIZED)
        decisions["flag"] = np.where(reason, reason, 1)
    else:
        decisions["tag"], decisions["flag"] = (_FALLBACK, reason) if reason else (_PERSONALIZED, 1)
    pieces: list[bytes] = [b""] * (2 * indices.size)
    pieces[0::2] = list(map(getitem, prefixes, indices.tolist()))
    pieces[1::2] = decisions.view(_DECISION_BYTES).tolist()
    return pieces


def whole_tiles(pieces: list[bytes]) -> list[bytes]:
    """The tiles of `ranked_tiles`' pieces, one bytes object each."""
    return list(map(add, pieces[0::2], pieces[1::2]))


def as_pieces(tiles: list[bytes]) -> list[bytes]:
    """Whole tiles in the two-piece form of `ranked_tiles` (each with an empty second piece)."""
    pieces: list[bytes] = [b""] * (2 * len(tiles))
    pieces[0::2] = tiles
    return pieces


def _fallback(reason: int) -> bytes:
    return _UNRANKED_FALLBACK.pack(_PROPENSITY, 1.0, _FALLBACK, reason)


def title_only(title_id: str, reason: int) -> bytes:
    """The tile of a title without candidates: its id and why."""
    body = pb.Tile(title_id=title_id).SerializeToString() + _fallback(reason)
    return _delimited(_TILE_IN_ROW, body)


def row(row_id: str, tiles: list[bytes]) -> bytes:
    """One RenderPageResponse.rows entry from its tiles' encodings (whole, or in pieces)."""
    body = _delimited(_ROW_ID, row_id.encode()) + b"".join(tiles)
    return _delimited(_ROW_IN_PAGE, body)
