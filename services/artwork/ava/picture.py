"""AVA's tags for one finished picture (an imported artwork), not a frame to crop.

The same measures and scores as an ingest's frames (annotate, rank), with the faces
placed in the whole picture, since the picture is served as it is.
"""

from __future__ import annotations

import numpy as np

from services.artwork.ava.annotate import annotate
from services.artwork.ava.crop import faces_in_window
from services.artwork.ava.faces import FaceMatcher
from services.artwork.ava.rank import composition, visual_quality
from services.artwork.ava.tags import guessed_tones
from services.artwork.model import Artwork


def picture_tags(artwork_id: str, image: np.ndarray, matcher: FaceMatcher | None) -> Artwork:
    """The artwork's tags as AVA finds them in `image` (BGR): cast by the matcher's gallery
    (none without one), tones guessed from the picture, quality, composition, faces."""
    annotation = annotate(image, matcher)
    height, width = image.shape[:2]
    return Artwork(
        artwork_id=artwork_id,
        cast=annotation.cast,
        tones=guessed_tones(annotation),
        visual_quality=round(visual_quality(annotation), 4),
        composition=round(composition(annotation), 4),
        faces=faces_in_window((face.box for face in annotation.faces), (0, 0, width, height)),
    )
