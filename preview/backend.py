"""The preview's gRPC calls: RenderPage on the gateway, GetTitles on the artwork service.

A failed call becomes a `Problem` the page shows, never an error page: the
preview renders with whatever answered.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from keyart.artwork.v1 import artwork_service_pb2 as artwork_pb
from keyart.artwork.v1 import artwork_service_pb2_grpc as artwork_grpc
from keyart.gateway.v1 import gateway_service_pb2 as pb
from keyart.gateway.v1 import gateway_service_pb2_grpc as gateway_grpc

from common.channels import insecure_channel

MAX_MESSAGE_BYTES = 16 << 20
Rows = list[tuple[str, list[str]]]


@dataclass(frozen=True)
class Problem:
    """A dependency that did not answer, as the page tells it."""

    service: str
    status: str
    detail: str

    def __str__(self) -> str:
        return f"{self.service} unavailable ({self.status}: {self.detail or 'no detail'})"


class KeyartBackend:
    """One channel to the gateway and one to the artwork service, open while the server runs."""

    def __init__(
        self, gateway_target: str, artwork_target: str, timeout_s: float, token: str
    ) -> None:
        """`token`: the bearer token the gateway requires, if it does."""
        self._gateway_channel = insecure_channel(gateway_target, MAX_MESSAGE_BYTES)
        self._artwork_channel = insecure_channel(artwork_target, MAX_MESSAGE_BYTES)
        self._pages = gateway_grpc.PageServiceStub(self._gateway_channel)
        self._catalog = artwork_grpc.ArtworkServiceStub(self._artwork_channel)
        self._timeout_s = timeout_s
        self._gateway_metadata = (("authorization", f"Bearer {token}"),) if token else ()

    async def close(self) -> None:
        await self._gateway_channel.close()
        await self._artwork_channel.close()

    async def render_page(self, user_id: str, rows: Rows) -> pb.RenderPageResponse | Problem:
        request = pb.RenderPageRequest(
            user_id=user_id,
            rows=[pb.RowRequest(row_id=row_id, title_ids=titles) for row_id, titles in rows],
            context=pb.Context(device_type=pb.DEVICE_TYPE_WEB),
        )
        try:
            return await self._pages.RenderPage(
                request, timeout=self._timeout_s, metadata=self._gateway_metadata
            )
        except grpc.aio.AioRpcError as error:
            return Problem("gateway", error.code().name, error.details() or "")

    async def titles(self, title_ids: list[str]) -> dict[str, artwork_pb.Title] | Problem:
        """The found titles by id (unknown ids are simply absent)."""
        try:
            response = await self._catalog.GetTitles(
                artwork_pb.GetTitlesRequest(title_ids=title_ids), timeout=self._timeout_s
            )
        except grpc.aio.AioRpcError as error:
            return Problem("artwork", error.code().name, error.details() or "")
        return {title.title_id: title for title in response.titles}
