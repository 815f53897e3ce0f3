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
    chunks: list[bytes] = []
    async for chunk in artwork.StreamCatalogFeatures(
        artwork_pb.StreamCatalogFeaturesRequest(), timeout=timeout_s
    ):
        if chunk.catalog_version != version or chunk.feature_dim != ARTWORK_DIM:
            return None
        chunks.append(chunk.features)
    return np.frombuffer(b"".join(chunks), dtype="<f4").reshape(-1, ARTWORK_DIM)
