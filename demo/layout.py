"""Where a demo picture's figures stand: one geometry for drawing them (demo.images) and for
their face boxes in the catalog (demo.catalog), so the boxes sit on the drawn faces."""

from __future__ import annotations

from services.artwork.model import FaceBox

WIDTH, HEIGHT = 320, 180
FIGURE_WIDTH = 100  # each figure is drawn on a sprite this wide and the picture's height
HEAD_RADIUS = 24  # at scale 1
HEAD_CENTER_Y = HEIGHT * 0.42


def figure_scale(count: int) -> float:
    """One figure is drawn full size; two or more a little smaller."""
    return 1.0 if count == 1 else 0.85


def figure_lefts(count: int) -> list[int]:
    """The left edge of each of `count` figure sprites, spread evenly across the picture."""
    return [round(WIDTH * (index + 1) / (count + 1) - FIGURE_WIDTH / 2) for index in range(count)]


def face_boxes(count: int) -> tuple[FaceBox, ...]:
    """The drawn faces (the heads' skin discs) of `count` figures, as fractions of the picture."""
    radius = HEAD_RADIUS * figure_scale(count)
    return tuple(
        FaceBox(
            x=round((left + FIGURE_WIDTH / 2 - radius) / WIDTH, 4),
            y=round((HEAD_CENTER_Y - radius) / HEIGHT, 4),
            width=round(2 * radius / WIDTH, 4),
            height=round(2 * radius / HEIGHT, 4),
        )
        for left in figure_lefts(count)
    )
