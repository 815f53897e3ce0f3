"""Printing a RenderPage response for a person."""

from __future__ import annotations

from keyart.gateway.v1 import gateway_service_pb2 as pb

from common.fallback_reasons import reason_words


def describe_tile(tile: pb.Tile) -> str:
    if tile.personalized:
        how = f"personalized   score {tile.score:.3f}  propensity {tile.propensity:.2f}"
    else:
        how = f"not personalized ({reason_words(tile.fallback_reason)})"
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
