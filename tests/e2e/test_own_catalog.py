"""Issue 16's "done when": a streaming service's own catalog and viewers, end to end.

A catalog file written by hand (titles, cast and pictures nobody here generated) and a
viewer history file are imported into a running suite with `keyart catalog import` and
`keyart events import`; RenderPage then personalizes the imported titles for those
viewers as their histories say, with the imported pictures.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from cli.main import main
from cli.run import ensure_model
from cli.seed import seeded_suite
from suite.client import PageClient
from suite.supervisor import Suite

SINGER = "Noor Alvarez"
COMIC = "Tomas Reyes"
CDN = "https://images.streaming.example/art"


def picture(path: Path, colour: tuple[int, int, int]) -> str:
    image = np.full((180, 320, 3), colour, dtype=np.uint8)
    cv2.putText(image, path.stem, (10, 90), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)
    return str(path)


def catalog_lines(folder: Path) -> list[dict[str, Any]]:
    """Our own titles: eight back-catalogue ones each starring one of the two, and the new
    release with one artwork featuring each (and a neutral poster that scores best)."""
    back = [
        {
            "title_id": f"back-{star.split()[0].lower()}-{i}",
            "name": f"{star} Vol. {i}",
            "genres": ["Romantic"] if star == SINGER else ["Stand-Up Comedy"],
            "cast": [star, f"Extra {star[0]}{i}a", f"Extra {star[0]}{i}b"],
            "artworks": [
                {
                    "artwork_id": f"back-{star.split()[0].lower()}-{i}/key",
                    "image": f"{CDN}/back-{i}.jpg",
                    "cast": [star],
                    "tones": ["Romance"] if star == SINGER else ["Comedies"],
                    "visual_quality": 0.7,
                    "composition": 0.6,
                }
            ],
        }
        for star in (SINGER, COMIC)
        for i in range(8)
    ]
    release = {
        "title_id": "harbour-nights",
        "name": "Harbour Nights",
        "genres": ["Romantic Comedies"],
        "cast": [SINGER, COMIC, "Ines Varga"],
        "artworks": [
            {
                "artwork_id": "harbour-nights/noor",
                "image": picture(folder / "art" / "noor.png", (120, 40, 160)),
                "cast": [SINGER],
                "tones": ["Romance"],
                "visual_quality": 0.78,
                "composition": 0.7,
            },
            {
                "artwork_id": "harbour-nights/tomas",
                "image": str(
                    Path(picture(folder / "art" / "tomas.jpg", (20, 150, 200))).relative_to(folder)
                ),
                "cast": [COMIC],
                "tones": ["Comedy"],
                "visual_quality": 0.76,
                "composition": 0.72,
            },
            {
                "artwork_id": "harbour-nights/poster",
                "image": f"{CDN}/harbour-nights/poster.jpg",
                "tones": [],
                "visual_quality": 0.95,
                "composition": 0.9,
            },
        ],
    }
    return [*back, release]


def history_lines() -> list[dict[str, Any]]:
    return [
        {
            "event_id": f"{viewer}-{i}",
            "user_id": viewer,
            "title_id": f"back-{star.split()[0].lower()}-{i}",
            "kind": "qualified-play",
            "occurred_at": f"2026-11-{i + 1:02d}T21:00:00Z",
        }
        for viewer, star in (("our-romantic", SINGER), ("our-laugher", COMIC))
        for i in range(8)
    ]


def write_jsonl(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    data_dir = tmp_path_factory.mktemp("own-catalog")
    model = data_dir / "models" / "bundled.onnx"
    ensure_model(model)
    with seeded_suite(data_dir, model) as running:
        yield running


def test_an_imported_catalog_and_history_are_personalized_as_the_histories_say(
    suite: Suite, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    addresses = suite.config.addresses
    catalog = write_jsonl(tmp_path / "catalog.jsonl", catalog_lines(tmp_path))
    image_dir = suite.config.image_dir
    assert (
        main(
            [
                "catalog",
                "import",
                str(catalog),
                "--target",
                addresses["artwork"],
                "--image-dir",
                str(image_dir),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "imported: 17 titles, 19 artworks" in out
    history = write_jsonl(tmp_path / "history.jsonl", history_lines())
    assert (
        main(
            [
                "events",
                "import",
                str(history),
                "--target",
                addresses["profile"],
                "--artwork-target",
                addresses["artwork"],
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert (image_dir / "harbour-nights" / "noor.png").is_file()
    assert (image_dir / "harbour-nights" / "tomas.png").is_file()

    with PageClient(addresses["gateway"]) as client:

        def shown(viewer: str) -> Any:
            page = client.render_page(viewer, [("new-releases", ["harbour-nights"])])
            return page.rows[0].tiles[0]

        romantic, laugher, stranger = (
            shown(v) for v in ("our-romantic", "our-laugher", "nobody-we-know")
        )
    assert (romantic.artwork_id, romantic.personalized) == ("harbour-nights/noor", True)
    assert (laugher.artwork_id, laugher.personalized) == ("harbour-nights/tomas", True)
    assert romantic.image_url.endswith("/images/harbour-nights/noor.png")
    # A viewer with no history gets the release's best-scoring artwork, the CDN poster.
    assert stranger.artwork_id == "harbour-nights/poster"
    assert stranger.image_url == f"{CDN}/harbour-nights/poster.jpg"
