"""The whole catalog as ListTitles pages it, from one catalog version."""

from __future__ import annotations

from dataclasses import dataclass

from keyart.artwork.v1 import artwork_service_pb2 as pb
from keyart.artwork.v1 import artwork_service_pb2_grpc

from common.errors import FailedPrecondition

PAGE_SIZE = 1000
TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Listing:
    version: str
    titles: list[pb.Title]


def list_catalog(artwork: artwork_service_pb2_grpc.ArtworkServiceStub) -> Listing:
    """Every title in id order; FailedPrecondition when the catalog changed between pages
    (the listing would mix two catalogs)."""
    titles: list[pb.Title] = []
    token = ""
    version = None
    while True:
        page = artwork.ListTitles(
            pb.ListTitlesRequest(page_size=PAGE_SIZE, page_token=token), timeout=TIMEOUT_S
        )
        if version is not None and page.catalog_version != version:
            raise FailedPrecondition(
                f"the catalog changed while it was read (version {version} → "
                f"{page.catalog_version}); run the command again"
            )
        version = page.catalog_version
        titles.extend(page.titles)
        token = page.next_page_token
        if not token:
            return Listing(version, titles)
