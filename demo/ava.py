"""Rebuilding some demo candidates with the AVA pipeline, from photographs scikit-image ships.

`keyart ava demo` ingests stills into one generated title and a video made from them
(with known cuts) into another, each replacing that title's candidates.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
import numpy as np
import skimage.data

from services.artwork.ava.client import ArtworkCatalogClient
from services.artwork.ava.config import AvaConfig
from services.artwork.ava.ingest import IngestRequest, IngestResult, ingest
from services.artwork.ava.synthetic import write_video

STILLS_TITLE = "title-00001"
VIDEO_TITLE = "title-00002"
PHOTOS = ("astronaut", "coffee", "rocket", "chelsea", "hubble_deep_field", "immunohistochemistry")
GALLERY_NAME = "Eileen Collins"  # the astronaut in scikit-image's `astronaut`


def photo(name: str) -> np.ndarray:
    """A scikit-image photograph as BGR."""
    return cv2.cvtColor(getattr(skimage.data, name)(), cv2.COLOR_RGB2BGR)


def write_gallery(directory: Path) -> Path:
    """A one-person cast gallery: the astronaut, plain and mirrored."""
    person = directory / GALLERY_NAME
    person.mkdir(parents=True, exist_ok=True)
    astronaut = photo("astronaut")
    cv2.imwrite(str(person / "1.png"), astronaut)
    cv2.imwrite(str(person / "2.png"), astronaut[:, ::-1])
    return directory


def rebuild(config: AvaConfig, catalog: ArtworkCatalogClient) -> list[IngestResult]:
    with tempfile.TemporaryDirectory(prefix="keyart-ava-demo-") as scratch:
        root = Path(scratch)
        stills = root / "stills"
        stills.mkdir()
        for name in PHOTOS:
            cv2.imwrite(str(stills / f"{name}.png"), photo(name))
        gallery = write_gallery(root / "gallery")
        video = root / "demo.mp4"
        write_video(video, [(photo(name), 48) for name in PHOTOS], (1280, 720))
        return [
            ingest(
                IngestRequest(
                    STILLS_TITLE, stills=stills, cast_gallery=gallery, top_k=4, replace=True
                ),
                config,
                catalog,
            ),
            ingest(
                IngestRequest(
                    VIDEO_TITLE, video=video, cast_gallery=gallery, top_k=4, replace=True
                ),
                config,
                catalog,
            ),
        ]
