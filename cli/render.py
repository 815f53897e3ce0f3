"""Printing a RenderPage response for a person."""

from __future__ import annotations

from keyart.gateway.v1 import gateway_service_pb2 as pb

FALLBACK_REASONS = {
    pb.FALLBACK_REASON_COLD_START: "cold start: the viewer has no history yet",
    pb.FALLBACK_REASON_PROFILE_UNAVAILABLE: "profile unavailable: ranked without taste",
    pb.FALLBACK_REASON_RANKER_UNAVAILABLE: "ranker unavailable: default artwork",
    pb.FALLBACK_REASON_CATALOG_UNAVAILABLE: "catalog unavailable: no artwork",
    pb.FALLBACK_REASON_UNKNOWN_TITLE: "unknown title",
}


def describe_tile(tile: pb.Tile) -> str:
    if tile.personalized:
        how = f"personalized   score {tile.score:.3f}  propensity {tile.propensity:.2f}"
    else:
        how = f"not personalized ({FALLBACK_REASONS.get(tile.fallback_reason, 'unknown reason')})"
    return f"  {tile.title_id:<24} {tile.artwork_id or '-':<36} {how}"


def format_page(user_id: str, response: pb.RenderPageResponse) -> str:
    lines = [f"page {response.page_id} for {user_id} (model {response.model_version or 'none'})"]
    for row in response.rows:
        lines.append(f"row {row.row_id}")
        lines.extend(describe_tile(tile) for tile in row.tiles)
    for degradation in response.degradations:
        lines.append(
            f"degraded: {pb.Dependency.Name(degradation.dependency)} "
            f"{degradation.status_code} {degradation.detail}"
        )
    return "\n".join(lines)
