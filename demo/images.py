"""Drawing a picture for every demo candidate, so each shows what its AVA tags say.

The featured cast are drawn as figures with their names as captions, the
tones set the palette (romance warm pinks, comedy bright yellows, crime dark
reds, ...), and a candidate featuring nobody is a title treatment: the title's
name as a logo. Pictures are deterministic and only missing ones are drawn,
so a second `make run` finds them all and draws nothing.

`python -m demo.images` draws the missing pictures into `KEYART_IMAGE_DIR`.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import math
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import TextIO

from PIL import Image, ImageDraw, ImageFont

from common.config import env_str
from common.logging import RateLimiter
from demo.catalog import demo_titles
from demo.layout import (
    FIGURE_WIDTH,
    HEAD_CENTER_Y,
    HEAD_RADIUS,
    HEIGHT,
    WIDTH,
    figure_lefts,
    figure_scale,
)
from services.artwork.model import Artwork, Title

CAPTION_BAND = 28  # the strip along the bottom holding the cast names
DEFAULT_IMAGE_DIR = "var/images"
Rgb = tuple[int, int, int]

# (top of the gradient, bottom of the gradient, accent) per tone.
PALETTES: dict[str, tuple[Rgb, Rgb, Rgb]] = {
    "action": ((255, 120, 30), (60, 20, 10), (255, 220, 120)),
    "adventure": ((60, 170, 120), (20, 60, 50), (250, 210, 110)),
    "animation": ((120, 200, 255), (90, 80, 220), (255, 255, 255)),
    "comedy": ((255, 236, 80), (255, 170, 20), (40, 40, 40)),
    "crime": ((120, 10, 20), (15, 5, 8), (230, 60, 60)),
    "documentary": ((170, 170, 160), (70, 75, 80), (245, 245, 235)),
    "drama": ((70, 90, 130), (20, 25, 45), (220, 200, 160)),
    "family": ((140, 220, 160), (60, 150, 200), (255, 250, 220)),
    "fantasy": ((170, 110, 230), (40, 20, 90), (255, 220, 250)),
    "horror": ((40, 45, 40), (0, 0, 0), (170, 220, 120)),
    "musical": ((240, 90, 200), (90, 20, 120), (255, 230, 120)),
    "mystery": ((60, 60, 110), (10, 10, 30), (180, 190, 255)),
    "romance": ((255, 170, 190), (200, 60, 110), (255, 240, 245)),
    "scifi": ((20, 220, 230), (10, 20, 70), (200, 255, 255)),
    "thriller": ((90, 100, 110), (15, 20, 30), (255, 200, 60)),
    "western": ((230, 170, 90), (120, 60, 20), (60, 30, 10)),
}
TITLE_TREATMENT_PALETTE: tuple[Rgb, Rgb, Rgb] = ((30, 30, 35), (5, 5, 10), (240, 200, 90))
SKIN_TONES: tuple[Rgb, ...] = (
    (255, 220, 190), (240, 195, 160), (210, 160, 120), (170, 120, 85), (120, 80, 55),
)  # fmt: skip
CLOTHES: tuple[Rgb, ...] = (
    (40, 60, 120), (120, 30, 40), (30, 90, 60), (200, 200, 205), (60, 60, 60), (150, 100, 40),
)  # fmt: skip


def image_dir_from_env() -> Path:
    return Path(env_str("KEYART_IMAGE_DIR", DEFAULT_IMAGE_DIR))


def image_path(image_dir: Path, artwork_id: str) -> Path:
    """`<dir>/<artwork_id>.png`; the '/' in an artwork id makes a subfolder per title."""
    return image_dir / f"{artwork_id}.png"


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode(), digest_size=8).digest()


def _mix(a: Rgb, b: Rgb, share: float) -> Rgb:
    r, g, b_ = (round(x + (y - x) * share) for x, y in zip(a, b, strict=True))
    return r, g, b_


def palette(tones: Sequence[str]) -> tuple[Rgb, Rgb, Rgb]:
    """The first tone leads; a second one tints the bottom of the gradient."""
    if not tones:
        return TITLE_TREATMENT_PALETTE
    top, bottom, accent = PALETTES[tones[0]]
    if len(tones) > 1:
        bottom = _mix(bottom, PALETTES[tones[1]][1], 0.5)
    return top, bottom, accent


_GRADIENT = Image.linear_gradient("L").resize((WIDTH, HEIGHT))


@functools.cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled font, so no system font is needed."""
    return ImageFont.load_default(size=size)


@functools.lru_cache(maxsize=4096)
def _label(text: str, size: int, fill: Rgb) -> Image.Image:
    """`text` with a drop shadow on a transparent sprite; cached, as names and titles repeat."""
    font = _font(size)
    left, top, right, bottom = font.getbbox(text)
    extent = (math.ceil(right - left) + 2, math.ceil(bottom - top) + 2)
    sprite = Image.new("RGBA", extent, (0, 0, 0, 0))
    draw = ImageDraw.Draw(sprite)
    draw.text((1 - left, 1 - top), text, font=font, fill=(0, 0, 0))
    draw.text((-left, -top), text, font=font, fill=fill)
    return sprite


def _paste_centered(image: Image.Image, sprite: Image.Image, center: tuple[float, float]) -> None:
    x, y = center
    image.paste(sprite, (round(x - sprite.width / 2), round(y - sprite.height / 2)), sprite)


@functools.cache
def _background(tones: tuple[str, ...]) -> Image.Image:
    top, bottom, _ = palette(tones)
    return Image.composite(Image.new("RGB", (WIDTH, HEIGHT), bottom),
                           Image.new("RGB", (WIDTH, HEIGHT), top), _GRADIENT)  # fmt: skip


@functools.cache
def _figure(name: str, scale: float) -> Image.Image:
    """A person coloured by the name (shoulders, head, hair, face) on a transparent sprite.

    Cached: the demo's cast pool is small, so most figures are drawn once and pasted many times.
    """
    sprite = Image.new("RGBA", (FIGURE_WIDTH, HEIGHT), (0, 0, 0, 0))
    draw = ImageDraw.Draw(sprite)
    digest = _digest(name)
    skin = SKIN_TONES[digest[0] % len(SKIN_TONES)]
    clothes = CLOTHES[digest[1] % len(CLOTHES)]
    hair = _mix(skin, (20, 15, 10), 0.55 + (digest[2] % 40) / 100)
    x = FIGURE_WIDTH / 2
    head_r = HEAD_RADIUS * scale
    head_y = HEAD_CENTER_Y
    body_top = head_y + head_r * 0.8
    draw.ellipse((x - 46 * scale, body_top, x + 46 * scale, body_top + 110 * scale), fill=clothes)
    draw.ellipse(
        (x - head_r - 3, head_y - head_r - 6, x + head_r + 3, head_y + head_r * 0.4), fill=hair
    )
    draw.ellipse((x - head_r, head_y - head_r, x + head_r, head_y + head_r), fill=skin)
    eye_y = head_y - head_r * 0.1
    for dx in (-0.38, 0.38):
        draw.ellipse(
            (x + dx * head_r - 2, eye_y - 2, x + dx * head_r + 2, eye_y + 2), fill=(30, 30, 30)
        )
    draw.arc((x - head_r * 0.4, head_y, x + head_r * 0.4, head_y + head_r * 0.55), 20, 160,
             fill=(120, 40, 40), width=2)  # fmt: skip
    return sprite


def draw_artwork(title: Title, artwork: Artwork) -> Image.Image:
    _, _, accent = palette(artwork.tones)
    image = _background(artwork.tones).copy()
    draw = ImageDraw.Draw(image)
    if not artwork.cast:
        draw.rectangle((18, 18, WIDTH - 18, HEIGHT - 18), outline=accent, width=2)
        _paste_centered(image, _label(title.name, 26, accent), (WIDTH / 2, HEIGHT / 2 - 8))
        draw.line(
            (WIDTH / 2 - 60, HEIGHT / 2 + 18, WIDTH / 2 + 60, HEIGHT / 2 + 18), fill=accent, width=2
        )
        return image
    count = len(artwork.cast)
    lefts = figure_lefts(count)
    for name, left in zip(artwork.cast, lefts, strict=True):
        sprite = _figure(name, figure_scale(count))
        image.paste(sprite, (left, 0), sprite)
    draw.rectangle((0, HEIGHT - CAPTION_BAND, WIDTH, HEIGHT), fill=(0, 0, 0))
    for name, left in zip(artwork.cast, lefts, strict=True):
        center = (left + FIGURE_WIDTH / 2, HEIGHT - CAPTION_BAND / 2)
        _paste_centered(image, _label(name, 14, (255, 255, 255)), center)
    _paste_centered(image, _label(title.name, 13, (255, 255, 255)), (WIDTH / 2, 14))
    return image


def _draw_title(job: tuple[Path, Title, tuple[Artwork, ...]]) -> int:
    image_dir, title, artworks = job
    for artwork in artworks:
        path = image_path(image_dir, artwork.artwork_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".png.partial")
        draw_artwork(title, artwork).save(partial, format="PNG", compress_level=1)
        partial.replace(path)  # a picture is either whole or absent
    return len(artworks)


Progress = Callable[[int, int], None]


def progress_printer(every_s: float = 5.0, out: TextIO = sys.stderr) -> Progress:
    """A `draw_missing` progress callback printing "drawn of total" at most every `every_s`
    seconds and once at the end, so the first run's minute of drawing is not silent."""
    limiter = RateLimiter(every_s)
    limiter.admit("progress")  # the first line comes after `every_s`, not at once

    def report(done: int, total: int) -> None:
        if done == total or limiter.admit("progress") is not None:
            print(f"demo pictures: {done:,} of {total:,} drawn", file=out, flush=True)

    return report


def draw_missing(
    image_dir: Path,
    titles: Iterable[Title] | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> tuple[int, int]:
    """Draws the pictures not yet in `image_dir`; returns (drawn, already there).

    `progress(drawn so far, to draw)` is called as titles are done."""
    jobs = []
    present = 0
    for title in demo_titles() if titles is None else titles:
        missing = tuple(
            a for a in title.artworks if not image_path(image_dir, a.artwork_id).exists()
        )
        present += len(title.artworks) - len(missing)
        if missing:
            jobs.append((image_dir, title, missing))
    total = sum(len(missing) for _, _, missing in jobs)
    drawn = 0
    workers = workers or min(len(jobs), os.cpu_count() or 1)
    with ExitStack() as stack:
        counts: Iterator[int] = (
            map(_draw_title, jobs)
            if workers <= 1
            else stack.enter_context(ProcessPoolExecutor(workers)).map(
                _draw_title, jobs, chunksize=64
            )
        )
        for count in counts:
            drawn += count
            if progress is not None:
                progress(drawn, total)
    return drawn, present


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Draw the demo candidates' missing pictures.")
    parser.add_argument(
        "--out", type=Path, default=None, help="default: $KEYART_IMAGE_DIR or var/images"
    )
    args = parser.parse_args(argv)
    image_dir = args.out or image_dir_from_env()
    drawn, present = draw_missing(image_dir, progress=progress_printer())
    print(f"demo pictures in {image_dir}: {drawn} drawn, {present} already there")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
