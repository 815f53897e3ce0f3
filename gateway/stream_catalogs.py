"""Catalog snapshots into JetStream's object store, for the collector (docs/event-stream.md).

A page message names its candidates' rows in a catalog version; the
collector, on another machine, needs that version's feature rows. Each
gateway puts the snapshot it wrote (`catalog-<version>.npy`, gateway/impressions.py)
into the object-store bucket GATEWAY_NATS_CATALOGS_BUCKET under the version's
name, once; several gateways putting the same version is harmless (same bytes).
Uploads retry until they succeed, so a snapshot taken while the broker was
down arrives when it is back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from nats.js import JetStreamContext
from nats.js.api import ObjectStoreConfig, StorageType
from nats.js.errors import BucketNotFoundError, ObjectNotFoundError
from nats.js.object_store import ObjectStore

from common.catalog_snapshot import snapshot_path
from common.logging import get_logger

log = get_logger(__name__)


async def catalog_store(js: JetStreamContext, bucket: str, replicas: int) -> ObjectStore:
    """The bucket, created (file storage, `replicas` copies) when it is not there."""
    try:
        return await js.object_store(bucket)
    except BucketNotFoundError:
        config = ObjectStoreConfig(storage=StorageType.FILE, replicas=replicas)
        return await js.create_object_store(bucket, config=config)


class CatalogUploads:
    """Versions whose snapshot is on disk and not yet in the bucket; `run` uploads them."""

    def __init__(self, directory: Path, bucket: str, replicas: int, retry_s: float) -> None:
        self._directory = directory
        self._bucket = bucket
        self._replicas = replicas
        self._retry_s = retry_s
        self._pending: set[str] = set()
        self._wake = asyncio.Event()

    def add(self, version: str) -> None:
        self._pending.add(version)
        self._wake.set()

    async def run(self, jetstream: Callable[[], JetStreamContext | None], errors: tuple) -> None:
        """Forever: uploads what is pending whenever `jetstream()` gives a connected context."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            js = jetstream()
            if js is not None and self._pending:
                try:
                    await self._upload_pending(js)
                except (*errors, ObjectNotFoundError) as error:
                    log.warning("catalog snapshot not uploaded yet", error=repr(error))
            if self._pending:
                await asyncio.sleep(self._retry_s)
                self._wake.set()

    async def _upload_pending(self, js: JetStreamContext) -> None:
        store = await catalog_store(js, self._bucket, self._replicas)
        for version in sorted(self._pending):
            try:
                await store.get_info(version)
            except ObjectNotFoundError:
                data = await asyncio.to_thread(snapshot_path(self._directory, version).read_bytes)
                await store.put(version, data)
                log.info("catalog snapshot uploaded", catalog_version=version, bytes=len(data))
            self._pending.discard(version)
