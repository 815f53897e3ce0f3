"""One ingest: analyse, crop the top K, write their images, register them all or none."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from common.errors import InvalidArgument
from common.validation import require_path_id
from services.artwork.ava.analyse import Analysis, analyse
from services.artwork.ava.client import ArtworkCatalogClient
from services.artwork.ava.config import AvaConfig
from services.artwork.ava.crop import SHAPES, crop, faces_in_window, shape_window
from services.artwork.ava.faces import load_gallery
from services.artwork.ava.rank import Scored
from services.artwork.ava.tags import guessed_tones, load_labels
from services.artwork.model import Artwork

MAX_TOP_K = 32
# The 16:9 crop is the artwork's image (`<artwork_id>.png`, the served image_url);
# other shapes sit beside it as `<artwork_id>.<shape>.png`.
PRIMARY_SHAPE = "16x9"


@dataclass(frozen=True)
class IngestRequest:
    title_id: str
    video: Path | None = None
    stills: Path | None = None
    cast_gallery: Path | None = None
    labels: Path | None = None
    top_k: int = 4
    replace: bool = False


@dataclass
class IngestResult:
    artworks: list[Artwork]
    catalog_version: str
    analysis: Analysis
    images: list[Path] = field(default_factory=list)
    crop_s: float = 0.0


def image_paths(image_dir: Path, artwork_id: str) -> dict[str, Path]:
    return {
        shape: image_dir
        / (f"{artwork_id}.png" if shape == PRIMARY_SHAPE else f"{artwork_id}.{shape}.png")
        for shape in SHAPES
    }


def _write_png(path: Path, image: np.ndarray) -> None:
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise RuntimeError(f"could not encode {path.name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(encoded.tobytes())
    os.replace(temporary, path)


def to_artwork(
    title_id: str, chosen: Scored, tones: tuple[str, ...] | None, frame_size: tuple[int, int]
) -> Artwork:
    """The candidate's tags; its id comes from the picture's hash, so a re-ingest of the
    same picture replaces its artwork instead of adding a copy. Its face boxes are placed
    in the primary crop of the `frame_size` (width, height) frame, the served image."""
    annotation = chosen.annotation
    window = shape_window(*frame_size, PRIMARY_SHAPE, annotation.subject)
    return Artwork(
        artwork_id=f"{title_id}/ava-{annotation.phash:016x}",
        cast=annotation.cast,
        tones=tones if tones is not None else guessed_tones(annotation),
        visual_quality=round(chosen.visual_quality, 4),
        composition=round(chosen.composition, 4),
        faces=faces_in_window((face.box for face in annotation.faces), window),
    )


def _check(request: IngestRequest) -> None:
    require_path_id(request.title_id, "title")
    if (request.video is None) == (request.stills is None):
        raise InvalidArgument("video", "give exactly one of a video file and a stills folder")
    if not 1 <= request.top_k <= MAX_TOP_K:
        raise InvalidArgument("top_k", f"{request.top_k} is not between 1 and {MAX_TOP_K}")


def ingest(
    request: IngestRequest, config: AvaConfig, catalog: ArtworkCatalogClient
) -> IngestResult:
    """InvalidArgument / NotFound (or the service's gRPC error) leave the catalog as it was,
    and no new image behind."""
    _check(request)
    catalog.require_title(request.title_id)
    gallery = load_gallery(request.cast_gallery) if request.cast_gallery else None
    labels = load_labels(request.labels) if request.labels else None
    analysis = analyse(
        video=request.video,
        stills=request.stills,
        gallery=gallery,
        top_k=request.top_k,
        workers=config.workers,
        samples_per_second=config.samples_per_second,
        frames_per_shot=config.frames_per_shot,
    )
    if not analysis.top:
        raise InvalidArgument(
            "video" if request.video else "stills",
            f"no frame is usable as artwork (rejected: {analysis.rejected})",
        )
    started = time.perf_counter()
    artworks: list[Artwork] = []
    created: list[Path] = []
    written: list[Path] = []
    try:
        for chosen in analysis.top:
            image = chosen.frame.image()
            frame_size = (image.shape[1], image.shape[0])
            artwork = to_artwork(
                request.title_id, chosen, labels.tones if labels else None, frame_size
            )
            artworks.append(artwork)
            for shape, path in image_paths(config.image_dir, artwork.artwork_id).items():
                if not path.exists():
                    created.append(path)
                _write_png(path, crop(image, shape, chosen.annotation.subject))
                written.append(path)
        crop_s = time.perf_counter() - started
        response = catalog.register(request.title_id, artworks, replace=request.replace)
    except BaseException:
        for path in created:
            path.unlink(missing_ok=True)
        raise
    return IngestResult(artworks, response.catalog_version, analysis, written, crop_s)
