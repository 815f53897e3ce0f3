"""The catalog's artwork feature rows, held by the ranker so pages can name rows, not send features.

Pulled from the artwork service (StreamCatalogFeatures) at start, every poll,
and at once when a page names a version not held yet; the newest `keep`
versions stay in memory so a page built from the previous version still
ranks while the gateway's cache catches up. Two, not more: a catalog of
600,000 artworks is 350 MB of rows a version, and during a bulk import the
version moves at every batch (a page naming an older one is answered
FAILED_PRECONDITION and the gateway refreshes).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass

import grpc
import numpy as np
from keyart.artwork.v1 import artwork_service_pb2 as artwork_pb
from keyart.artwork.v1 import artwork_service_pb2_grpc as artwork_grpc

from common.catalog_stream import stream_features
from common.channels import backend_channel
from common.errors import FailedPrecondition, InvalidArgument, Unavailable
from common.features import SCHEMA_VERSION
from common.logging import get_logger
from common.tls import ClientTls
from services.ranker.model import RankingModel

log = get_logger(__name__)

# A page naming at least this share of a catalog's rows is scored over the whole
# catalog, then its rows picked from the scores: copying 12,800 rows of 146
# floats out of the catalog took several times longer than scoring them.
WHOLE_CATALOG_SHARE = 0.25


@dataclass(frozen=True, slots=True)
class CandidateRows:
    """A page's candidate feature rows: `matrix[index]`, or all of `matrix` if index is None."""

    matrix: np.ndarray
    index: np.ndarray | None = None

    @property
    def count(self) -> int:
        return self.matrix.shape[0] if self.index is None else self.index.size

    def score(self, model: RankingModel, viewer: np.ndarray, context: np.ndarray) -> np.ndarray:
        if self.index is None:
            return model.score(viewer, context, self.matrix)
        if self.index.size >= WHOLE_CATALOG_SHARE * self.matrix.shape[0]:
            return model.score(viewer, context, self.matrix)[self.index]
        return model.score(viewer, context, self.matrix[self.index])


class CatalogFeatures:
    def __init__(
        self,
        artwork_target: str,
        max_message_bytes: int,
        keep: int = 2,
        tls: ClientTls | None = None,
    ) -> None:
        self._channel = backend_channel(artwork_target, max_message_bytes, tls)
        self._artwork = artwork_grpc.ArtworkServiceStub(self._channel)
        self._keep = keep
        self._matrices: OrderedDict[str, np.ndarray] = OrderedDict()
        self._loading: asyncio.Future[None] | None = None

    @property
    def versions(self) -> list[str]:
        return list(self._matrices)

    def matrix(self, version: str) -> np.ndarray | None:
        """All feature rows of a held catalog version (offline tools snapshot it)."""
        return self._matrices.get(version)

    async def rows(self, version: str, first_rows: np.ndarray, counts: np.ndarray) -> CandidateRows:
        """The feature rows of each title's candidates, titles in order.

        A version not held yet is loaded first (one load shared by every waiting
        page, bounded by the caller's deadline); FailedPrecondition if the artwork
        service no longer serves it.
        """
        matrix = self._matrices.get(version)
        if matrix is None:
            try:
                await self.load_current()
            except grpc.aio.AioRpcError as error:
                raise Unavailable(
                    f"catalog features cannot be loaded ({error.code().name})"
                ) from error
            matrix = self._matrices.get(version)
        if matrix is None:
            raise FailedPrecondition(
                f"catalog_version: {version!r} is not served any more (holding {self.versions})"
            )
        if first_rows.shape != counts.shape:
            raise InvalidArgument(
                "first_rows", f"{first_rows.size} entries for {counts.size} candidate_counts"
            )
        if counts.size and int((first_rows + counts).max()) > matrix.shape[0]:
            raise InvalidArgument(
                "first_rows", f"names rows beyond the catalog's {matrix.shape[0]}"
            )
        starts = np.cumsum(counts) - counts
        index = np.arange(int(counts.sum())) + np.repeat(first_rows - starts, counts)
        return CandidateRows(matrix, index)

    async def load_current(self) -> None:
        """Runs `refresh`, joining the one already in flight if there is one."""
        if self._loading is None or self._loading.done():
            self._loading = asyncio.ensure_future(self.refresh())
        await asyncio.shield(self._loading)

    async def refresh(self) -> None:
        """Loads the artwork service's current catalog if it is not held yet."""
        info = await self._artwork.GetCatalogInfo(artwork_pb.GetCatalogInfoRequest(), timeout=5)
        if info.catalog_version in self._matrices:
            return
        if info.feature_schema != SCHEMA_VERSION:
            log.error(
                "catalog feature schema differs", catalog=info.feature_schema, ranker=SCHEMA_VERSION
            )
            return
        version = info.catalog_version
        matrix = await stream_features(self._artwork, version)
        if matrix is None:
            log.warning("catalog changed while streaming; retrying", version=version)
            return
        self._matrices[version] = matrix
        while len(self._matrices) > self._keep:
            self._matrices.popitem(last=False)
        log.info("catalog features loaded", catalog_version=version, rows=matrix.shape[0])

    async def first_load(self, wait_s: float, retry_s: float = 0.2) -> None:
        """Tries to load the current catalog for up to `wait_s` (the artwork service may
        still be starting); gives up quietly, since a page's first use loads it too."""
        loop = asyncio.get_running_loop()
        end = loop.time() + wait_s
        while not self._matrices and loop.time() < end:
            try:
                await self.load_current()
            except grpc.aio.AioRpcError as error:
                log.info("catalog features not loaded yet", code=error.code().name)
                await asyncio.sleep(retry_s)

    async def keep_fresh(self, poll_s: float) -> None:
        """Loads each new catalog version within `poll_s` of its appearance."""
        while True:
            try:
                await self.load_current()
            except grpc.aio.AioRpcError as error:
                log.warning("catalog features not refreshed", code=error.code().name)
            await asyncio.sleep(poll_s)

    async def close(self) -> None:
        await self._channel.close()
