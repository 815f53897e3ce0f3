"""Demo pictures: one real PNG per candidate, drawn only when missing, palette from the tones."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from demo.catalog import STORY_TITLES
from demo.images import HEIGHT, WIDTH, draw_missing, image_path, palette


def test_draws_each_candidate_once(tmp_path: Path) -> None:
    count = sum(len(title.artworks) for title in STORY_TITLES)
    assert draw_missing(tmp_path, STORY_TITLES, workers=1) == (count, 0)
    picture = image_path(tmp_path, "pulp-fiction/uma-thurman")
    with Image.open(picture) as image:
        assert image.format == "PNG" and image.size == (WIDTH, HEIGHT)
    picture.unlink()
    assert draw_missing(tmp_path, STORY_TITLES, workers=1) == (1, count - 1)


def test_story_candidates_look_different(tmp_path: Path) -> None:
    draw_missing(tmp_path, STORY_TITLES[:1], workers=1)

    def corner(name: str) -> object:
        """The top-left pixel is background: the top colour of the first tone's gradient."""
        with Image.open(image_path(tmp_path, f"good-will-hunting/{name}")) as image:
            return image.convert("RGB").getpixel((0, 0))

    assert corner("damon-driver") == palette(("romance",))[0]
    assert corner("robin-williams") == palette(("comedy",))[0]
    assert corner("neutral") == palette(())[0]
