"""A tile's fallback reason in words, from keyart.gateway.v1's own FallbackReason names (no
hand-kept copy: a value added to the enum is named as soon as the stubs are generated)."""

from __future__ import annotations

from keyart.gateway.v1 import gateway_service_pb2 as pb

_PREFIX = "FALLBACK_REASON_"


def reason_words(reason: int) -> str:
    """FALLBACK_REASON_COLD_START → "cold start"; a number these stubs do not know → "reason 9"."""
    try:
        name = pb.FallbackReason.Name(reason)
    except ValueError:
        return f"reason {reason}"
    return name.removeprefix(_PREFIX).lower().replace("_", " ")
