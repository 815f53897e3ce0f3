"""What `keyart ava ingest` and `keyart ava demo` print for a title's candidates."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from cli.ava import format_result
from services.artwork.ava.analyse import Analysis
from services.artwork.ava.ingest import IngestResult
from services.artwork.ava.rank import Scored
from services.artwork.model import Artwork


def candidate(index: int, quality: float, composition: float) -> tuple[Scored, Artwork]:
    annotation = cast(Any, SimpleNamespace(shot_type="wide"))
    return (
        Scored(cast(Any, None), annotation, quality, composition),
        Artwork(f"title-00001/ava-{index}", (), ("drama",), quality, composition),
    )


def test_candidates_are_printed_best_score_first() -> None:
    # The order diversity picked them in: not the order of their scores.
    picked = [candidate(0, 0.9, 0.9), candidate(1, 0.2, 0.3), candidate(2, 0.7, 0.6)]
    result = IngestResult(
        artworks=[artwork for _, artwork in picked],
        catalog_version="v1",
        analysis=Analysis(top=[scored for scored, _ in picked], frames_annotated=3),
    )
    lines = format_result("title-00001", result, Path("images")).splitlines()
    printed = [line.split()[0] for line in lines[1:] if line.startswith("  title-")]
    assert printed == ["title-00001/ava-0", "title-00001/ava-2", "title-00001/ava-1"]
    scores = [float(line.split("score ")[1].split()[0]) for line in lines if "score " in line]
    assert scores == sorted(scores, reverse=True)
