"""How a page falls short, in the proto's own enums: a dependency that degraded, a
tile's fallback reason, and the lower-case names they carry as metric labels.

Nothing here copies the proto's values: a value added to keyart.gateway.v1's
Dependency or FallbackReason is known here (and gets a breaker and a label) as
soon as the stubs are generated.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import cast

from google.protobuf.descriptor import EnumDescriptor
from keyart.gateway.v1 import gateway_service_pb2 as pb

from common.logging import get_logger
from common.metrics import DEGRADATIONS, FALLBACK_TILES

log = get_logger(__name__)

PERSONALIZED = pb.FALLBACK_REASON_UNSPECIFIED  # the proto's 0: the tile is personalized


def _labels(enum: EnumDescriptor) -> dict[int, str]:
    """Each value's name without the enum's prefix (the name of its 0 but UNSPECIFIED)."""
    prefix = enum.values_by_number[0].name.removesuffix("UNSPECIFIED")
    return {value.number: value.name.removeprefix(prefix).lower() for value in enum.values}


DEPENDENCY_LABELS = _labels(pb.Dependency.DESCRIPTOR)  # DEPENDENCY_RANKER → "ranker"
FALLBACK_LABELS = _labels(pb.FallbackReason.DESCRIPTOR)  # FALLBACK_REASON_COLD_START → "cold_start"
# Every dependency the proto names (each gets a breaker); the descriptor's numbers are its values.
DEPENDENCIES = tuple(cast(pb.Dependency, number) for number in DEPENDENCY_LABELS if number)


@dataclass(frozen=True)
class Degradation:
    """A dependency that did not contribute to a page, and why."""

    dependency: pb.Dependency
    status_code: str  # the gRPC status code's name
    detail: str

    @property
    def label(self) -> str:
        return DEPENDENCY_LABELS[self.dependency]

    def to_proto(self) -> pb.Degradation:
        return pb.Degradation(
            dependency=self.dependency, status_code=self.status_code, detail=self.detail
        )


def record_fallbacks(
    page_id: str, degradations: list[Degradation], fallbacks: Counter[pb.FallbackReason]
) -> None:
    """Logs each degradation and counts degradations and fallback tiles in the metrics."""
    for degradation in degradations:
        DEGRADATIONS.labels(degradation.label, degradation.status_code).inc()
        log.warning(
            "degraded",
            dependency=degradation.label,
            status_code=degradation.status_code,
            detail=degradation.detail,
            page_id=page_id,
        )
    for reason, count in fallbacks.items():
        FALLBACK_TILES.labels(FALLBACK_LABELS[reason]).inc(count)
