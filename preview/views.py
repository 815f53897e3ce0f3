"""What the preview shows, joined from RenderPage and the catalog; knows nothing of HTML."""

from __future__ import annotations

from dataclasses import dataclass

from keyart.artwork.v1 import artwork_service_pb2 as artwork_pb
from keyart.gateway.v1 import gateway_service_pb2 as pb

from common.fallback_reasons import reason_words
from preview.backend import Problem, Rows
from services.artwork.messages import artwork_of
from services.artwork.model import Artwork

Titles = dict[str, artwork_pb.Title]


@dataclass(frozen=True)
class TileView:
    title_id: str
    title_name: str
    artwork_id: str
    personalized: bool
    why: str  # personalized, or the reason it fell back
    score: float | None
    propensity: float | None
    candidates: tuple[Artwork, ...]  # empty when the catalog did not answer

    @property
    def chosen(self) -> Artwork | None:
        return next((c for c in self.candidates if c.artwork_id == self.artwork_id), None)


@dataclass(frozen=True)
class PanelView:
    """One home page: a viewer's personalized page, or the non-personalized one."""

    mode: str  # "personalized" or "default"
    user_id: str
    heading: str
    notices: tuple[str, ...]
    rows: tuple[tuple[str, tuple[TileView, ...]], ...]
    # The viewer's experiment cell as the gateway named it; "" outside experiments.
    experiment: str = ""
    cell: str = ""

    @property
    def allocation(self) -> str:
        """What the panel says of the viewer's experiment cell (nothing for the defaults)."""
        if self.mode != "personalized":
            return ""
        if not self.experiment:
            return "no experiment: the production policy"
        return f"experiment {self.experiment}, cell {self.cell}"


def candidates_of(title: artwork_pb.Title) -> tuple[Artwork, ...]:
    """The title's candidates as the artwork domain types, in catalog order."""
    return tuple(artwork_of(artwork.artwork_id, artwork.tags) for artwork in title.artworks)


def _default_tile(title_id: str, titles: Titles | Problem, why: str) -> TileView:
    title = titles.get(title_id) if isinstance(titles, dict) else None
    if title is None:
        reason = str(titles) if isinstance(titles, Problem) else "not in the catalog"
        return TileView(title_id, title_id, "", False, reason, None, None, ())
    return TileView(
        title_id, title.name, title.default_artwork_id, False, why, None, None, candidates_of(title)
    )


def _catalog_notices(titles: Titles | Problem) -> tuple[str, ...]:
    if isinstance(titles, Problem):
        return (f"{titles}: tags and other candidates are not shown",)
    return ()


def default_panel(rows: Rows, titles: Titles | Problem) -> PanelView:
    """Every title's default artwork: the catalog's best AVA aesthetic score."""
    why = "not personalized: the title's default (best AVA aesthetic score)"
    return PanelView(
        mode="default",
        user_id="",
        heading="Non-personalized: every title's default artwork",
        notices=_catalog_notices(titles),
        rows=tuple(
            (row_id, tuple(_default_tile(t, titles, why) for t in ids)) for row_id, ids in rows
        ),
    )


def _tile(tile: pb.Tile, titles: Titles | Problem) -> TileView:
    title = titles.get(tile.title_id) if isinstance(titles, dict) else None
    why = "personalized"
    if not tile.personalized:
        why = "not personalized: " + reason_words(tile.fallback_reason)
    ranked = tile.personalized or tile.score > 0
    return TileView(
        title_id=tile.title_id,
        title_name=title.name if title else tile.title_id,
        artwork_id=tile.artwork_id,
        personalized=tile.personalized,
        why=why,
        score=tile.score if ranked else None,
        propensity=tile.propensity if ranked else None,
        candidates=candidates_of(title) if title else (),
    )


def personalized_panel(
    user_id: str, rows: Rows, page: pb.RenderPageResponse | Problem, titles: Titles | Problem
) -> PanelView:
    heading = f"{user_id}: personalized by keyart"
    if isinstance(page, Problem):
        fallback = default_panel(rows, titles)
        why = f"fallback: {page}; the title's default"
        return PanelView(
            mode="personalized",
            user_id=user_id,
            heading=heading,
            notices=(f"{page}: showing each title's default artwork", *fallback.notices),
            rows=tuple(
                (row_id, tuple(_default_tile(t.title_id, titles, why) for t in tiles))
                for row_id, tiles in fallback.rows
            ),
        )
    notices = tuple(
        f"degraded: {pb.Dependency.Name(d.dependency)} {d.status_code} {d.detail}".rstrip()
        for d in page.degradations
    )
    model = f"model {page.model_version}" if page.model_version else "no model"
    return PanelView(
        mode="personalized",
        user_id=user_id,
        heading=f"{heading} ({model}, page {page.page_id})",
        notices=notices + _catalog_notices(titles),
        rows=tuple(
            (row.row_id, tuple(_tile(tile, titles) for tile in row.tiles)) for row in page.rows
        ),
        experiment=page.experiment,
        cell=page.cell,
    )
