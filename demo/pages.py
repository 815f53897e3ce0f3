"""Page layouts built from the demo catalog: a small demo page and the benchmark reference page."""

from __future__ import annotations

from demo.catalog import demo_titles, titles_by_genre

Rows = list[tuple[str, list[str]]]
STORY_TITLES = ["good-will-hunting", "pulp-fiction"]
DEMO_ROW_GENRES = ("romance", "comedy", "crime", "drama")


def demo_page(titles_per_row: int = 6) -> Rows:
    """A featured row with the two story titles, then a few genre rows."""
    rows: Rows = [("featured", STORY_TITLES + titles_by_genre("drama")[: titles_per_row - 2])]
    rows += [(genre, titles_by_genre(genre)[:titles_per_row]) for genre in DEMO_ROW_GENRES]
    return rows


def reference_page(rows: int = 40, titles_per_row: int = 40, candidates: int = 8) -> Rows:
    """The benchmark page: `rows` × `titles_per_row` distinct titles with `candidates` each."""
    eligible = [title.title_id for title in demo_titles() if len(title.artworks) == candidates]
    needed = rows * titles_per_row
    if len(eligible) < needed:
        raise ValueError(
            f"the demo catalog has {len(eligible)} titles with {candidates} candidates; need {needed}"
        )
    return [
        (f"row-{r:02d}", eligible[r * titles_per_row : (r + 1) * titles_per_row])
        for r in range(rows)
    ]
