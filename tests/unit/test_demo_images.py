"""Demo pictures: one real PNG per candidate, drawn only when missing, palette from the tones."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from demo.catalog import STORY_TITLES, demo_titles
from demo.images import (
    HEIGHT,
    SKIN_TONES,
    WIDTH,
    draw_artwork,
    draw_missing,
    image_path,
    palette,
    progress_printer,
)
from services.artwork.model import FaceBox


def test_draws_each_candidate_once(tmp_path: Path) -> None:
    count = sum(len(title.artworks) for title in STORY_TITLES)
    assert draw_missing(tmp_path, STORY_TITLES, workers=1) == (count, 0)
    picture = image_path(tmp_path, "pulp-fiction/uma-thurman")
    with Image.open(picture) as image:
        assert image.format == "PNG" and image.size == (WIDTH, HEIGHT)
    picture.unlink()
    assert draw_missing(tmp_path, STORY_TITLES, workers=1) == (1, count - 1)


def test_drawing_reports_progress_up_to_the_total(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    titles = demo_titles()[:6]
    count = sum(len(title.artworks) for title in titles)
    assert draw_missing(tmp_path, titles, workers=2, progress=lambda *c: calls.append(c)) == (
        count,
        0,
    )
    assert [total for _, total in calls] == [count] * len(titles)  # one call per title drawn
    done = [drawn for drawn, _ in calls]
    assert done == sorted(done) and done[-1] == count


def test_progress_is_printed_at_most_every_interval_and_at_the_end() -> None:
    out = io.StringIO()
    report = progress_printer(every_s=3600.0, out=out)
    for done in range(1, 18_657):
        report(done, 18_656)
    assert out.getvalue() == "demo pictures: 18,656 of 18,656 drawn\n"
    every_time = io.StringIO()
    report = progress_printer(every_s=0.0, out=every_time)
    report(1, 3)
    report(2, 3)
    assert every_time.getvalue().splitlines() == [
        "demo pictures: 1 of 3 drawn",
        "demo pictures: 2 of 3 drawn",
    ]


def test_story_candidates_look_different(tmp_path: Path) -> None:
    draw_missing(tmp_path, STORY_TITLES[:1], workers=1)

    def corner(name: str) -> object:
        """The top-left pixel is background: the top colour of the first tone's gradient."""
        with Image.open(image_path(tmp_path, f"good-will-hunting/{name}")) as image:
            return image.convert("RGB").getpixel((0, 0))

    assert corner("damon-driver") == palette(("romance",))[0]
    assert corner("robin-williams") == palette(("comedy",))[0]
    assert corner("neutral") == palette(())[0]


def face_pixels(picture: Image.Image, box: FaceBox) -> Callable[[float, float], object]:
    """The pixel at (dx, dy) face radii from the centre of the box."""
    cx, cy = (box.x + box.width / 2) * WIDTH, (box.y + box.height / 2) * HEIGHT
    rx, ry = box.width / 2 * WIDTH, box.height / 2 * HEIGHT

    def at(dx: float, dy: float) -> object:
        return picture.getpixel((round(cx + dx * rx), round(cy + dy * ry)))

    return at


def test_face_boxes_sit_on_the_drawn_faces() -> None:
    """Inside each box, across the face, is skin; just beside it is not; one box per figure."""
    titles = [*STORY_TITLES, *demo_titles()[2:40]]
    checked = {len(a.cast) for t in titles for a in t.artworks}
    assert checked == {0, 1, 2}
    for title in titles:
        for artwork in title.artworks:
            assert len(artwork.faces) == len(artwork.cast)
            picture = draw_artwork(title, artwork).convert("RGB")
            for box in artwork.faces:
                at = face_pixels(picture, box)
                skin = at(0, 0)
                assert skin in SKIN_TONES, artwork.artwork_id
                assert [at(-0.8, 0), at(0.8, 0), at(0, -0.8), at(0, 0.3)] == [skin] * 4
                assert at(-1.3, 0) != skin and at(1.3, 0) != skin
