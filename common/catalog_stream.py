"""A catalog version's artwork feature rows, streamed from the artwork service.

The artwork service streams only the version it serves now; the ranker holds
the rows to score pages, the gateway snapshots them beside its logs, and the
offline tools fall back to them for a version with no snapshot.
"""

from __future__ import annotations

import numpy as np
from keyart.artwork.v1 import artwork_service_pb2 as artwork_pb
from keyart.artwork.v1 import artwork_service_pb2_grpc as artwork_grpc

from common.features import ARTWORK_DIM

STREAM_TIMEOUT_S = 60.0


async def stream_features(
    artwork: artwork_grpc.ArtworkServiceStub, version: str, timeout_s: float = STREAM_TIMEOUT_S
) -> np.ndarray | None:
    """Every feature row of catalog `version`, in row order; None when the service streams
    another version (the catalog changed) or rows of another width."""
    # Filled chunk by chunk: gathering the chunks and joining them held the rows twice
    # (700 MB at 600,000 artworks).
    matrix: np.ndarray | None = None
    received = 0
    async for chunk in artwork.StreamCatalogFeatures(
        artwork_pb.StreamCatalogFeaturesRequest(), timeout=timeout_s
    ):
        if chunk.catalog_version != version or chunk.feature_dim != ARTWORK_DIM:
            return None
        if matrix is None:
            matrix = np.empty((chunk.total_rows, ARTWORK_DIM), dtype="<f4")
        rows = np.frombuffer(chunk.features, dtype="<f4").reshape(-1, ARTWORK_DIM)
        if chunk.first_row + len(rows) > len(matrix):
            return None  # rows past the total it announced: not a catalog to trust
        matrix[chunk.first_row : chunk.first_row + len(rows)] = rows
        received += len(rows)
    if matrix is None or received != len(matrix):
        return None  # an empty stream, or rows missing: not the whole catalog
    return matrix
