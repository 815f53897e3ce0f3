"""`keyart catalog export`: the catalog (ListTitles) → a catalog file that imports back as it was."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from keyart.artwork.v1 import artwork_service_pb2 as pb
from keyart.artwork.v1 import artwork_service_pb2_grpc

from cli.catalog_file import write_titles
from cli.catalog_listing import list_catalog
from common.channels import Dial
from demo.images import image_path


@dataclass(frozen=True)
class ExportReport:
    titles: int
    artworks: int
    catalog_version: str
    local_images: int

    def line(self) -> str:
        return (
            f"exported: {self.titles} titles, {self.artworks} artworks"
            f" ({self.local_images} images as paths into the image store);"
            f" catalog version {self.catalog_version}"
        )


def _score(value: float) -> float:
    """A float32 tag as its shortest decimal (0.7, not 0.699999988079071): the same float32."""
    return float(str(np.float32(value)))


def _image(artwork: pb.Artwork, image_dir: Path, folder: Path) -> str:
    """An image-store picture (served as `…/<artwork_id>.png`) whose PNG is in `image_dir`,
    as its path relative to the file's folder; anything else as its URL."""
    stored = image_path(image_dir, artwork.artwork_id)
    if artwork.image_url.endswith(f"/{artwork.artwork_id}.png") and stored.is_file():
        return os.path.relpath(stored.absolute(), folder.absolute())
    return artwork.image_url


def catalog_row(
    title: pb.Title | pb.NewTitle, image_of: Callable[[pb.Artwork], str | None]
) -> dict[str, Any]:
    """`title` as a line of the catalog file; `image_of` gives an artwork's `image`
    (None: left out, the picture is in keyart's image store)."""
    return {
        "title_id": title.title_id,
        "name": title.name,
        "genres": list(title.genres),
        "cast": list(title.cast),
        "artworks": [
            {
                "artwork_id": artwork.artwork_id,
                **({} if (image := image_of(artwork)) is None else {"image": image}),
                "cast": list(artwork.tags.cast),
                "tones": list(artwork.tags.tones),
                "visual_quality": _score(artwork.tags.visual_quality),
                "composition": _score(artwork.tags.composition),
                "faces": [
                    [_score(f.x), _score(f.y), _score(f.width), _score(f.height)]
                    for f in artwork.tags.faces
                ],
            }
            for artwork in title.artworks
        ],
    }


def export_catalog(path: Path, artwork: Dial, image_dir: Path) -> ExportReport:
    """Writes the whole catalog, read from one catalog version (FailedPrecondition if it
    changes during the read), to `path` (.jsonl or .parquet), atomically."""
    with artwork.channel() as channel:
        listing = list_catalog(artwork_service_pb2_grpc.ArtworkServiceStub(channel))
    rows = [
        catalog_row(title, lambda artwork: _image(artwork, image_dir, path.parent))
        for title in listing.titles
    ]
    write_titles(path, rows)
    artworks = [a for row in rows for a in row["artworks"]]
    return ExportReport(
        titles=len(rows),
        artworks=len(artworks),
        catalog_version=listing.version,
        local_images=sum(not a["image"].startswith(("http://", "https://")) for a in artworks),
    )
