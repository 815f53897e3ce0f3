"""The preview's HTML, rendered on the server so every tile's ids are in the DOM as served."""

from __future__ import annotations

from html import escape
from urllib.parse import quote

from preview.views import PanelView, TileView
from services.artwork.model import Artwork

STYLE = '<link rel="stylesheet" href="/static/preview.css"><script src="/static/preview.js" defer></script>'


def image_src(artwork_id: str) -> str:
    return f"/images/{quote(artwork_id, safe='/')}.png"


def _document(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"{STYLE}</head><body>{body}</body></html>"
    )


def _tags(candidate: Artwork) -> str:
    cast = ", ".join(candidate.cast) or "nobody (title treatment)"
    tones = ", ".join(candidate.tones) or "none"
    return (
        f"<dl class='tags'><dt>cast</dt><dd>{escape(cast)}</dd><dt>tone</dt><dd>{escape(tones)}</dd>"
        f"<dt>AVA</dt><dd>visual quality {candidate.visual_quality:.2f} · composition "
        f"{candidate.composition:.2f} · aesthetic {candidate.aesthetic_score:.3f}</dd></dl>"
    )


def _details(tile: TileView) -> str:
    numbers = ""
    if tile.score is not None and tile.propensity is not None:
        numbers = f"<p>score {tile.score:.3f} · propensity {tile.propensity:.2f}</p>"
    chosen = tile.chosen
    candidates = "".join(
        f"<img class='candidate {'chosen' if c.artwork_id == tile.artwork_id else 'other'}' "
        f"src='{image_src(c.artwork_id)}' alt='{escape(c.artwork_id)}' title='{escape(c.artwork_id)}'>"
        for c in tile.candidates
    )
    return (
        f"<div class='details'><h4>{escape(tile.title_name)}</h4>"
        f"<p class='artwork-id'>{escape(tile.artwork_id or 'no artwork')}</p>"
        f"<p class='why'>{escape(tile.why)}</p>{numbers}{_tags(chosen) if chosen else ''}"
        f"<div class='candidates'>{candidates}</div>"
        f"<a href='/title/{quote(tile.title_id)}'>all candidates with AVA annotations</a></div>"
    )


def _tile(tile: TileView) -> str:
    picture = (
        f"<img src='{image_src(tile.artwork_id)}' alt='{escape(tile.artwork_id)}' loading='lazy'>"
        if tile.artwork_id
        else "<div class='no-image'>no artwork</div>"
    )
    return (
        f"<figure class='tile' tabindex='0' data-title-id='{escape(tile.title_id)}' "
        f"data-artwork-id='{escape(tile.artwork_id)}' data-personalized='{str(tile.personalized).lower()}'>"
        f"{picture}<figcaption>{escape(tile.title_name)}</figcaption>{_details(tile)}</figure>"
    )


def _panel(panel: PanelView) -> str:
    notices = "".join(f"<p class='notice'>{escape(n)}</p>" for n in panel.notices)
    if panel.allocation:
        notices = (
            f"<p class='cell' data-experiment='{escape(panel.experiment)}' "
            f"data-cell='{escape(panel.cell)}'>{escape(panel.allocation)}</p>{notices}"
        )
    rows = "".join(
        f"<div class='row' data-row-id='{escape(row_id)}'><h3>{escape(row_id)}</h3>"
        f"<div class='tiles'>{''.join(_tile(t) for t in tiles)}</div></div>"
        for row_id, tiles in panel.rows
    )
    return (
        f"<section class='panel' data-mode='{panel.mode}' data-user='{escape(panel.user_id)}'>"
        f"<h2>{escape(panel.heading)}</h2>{notices}{rows}</section>"
    )


def home_page(panels: list[PanelView], users: list[str], show_defaults: bool) -> str:
    inputs = "".join(
        f"<label>viewer {i + 1} <input name='user' value='{escape(user)}'></label>"
        for i, user in enumerate([*users, ""][:2])
    )
    checked = " checked" if show_defaults else ""
    form = (
        f"<form method='get' action='/'>{inputs}<label><input type='checkbox' id='toggle-defaults' "
        f"name='defaults' value='1'{checked}> show the non-personalized page</label>"
        "<button type='submit'>show</button></form>"
    )
    body = (
        f"<header><h1>keyart preview</h1>{form}</header>"
        f"<main class='panels{' show-defaults' if show_defaults else ''}'>"
        f"{''.join(_panel(p) for p in panels)}</main>"
        "<aside id='details-panel'><p>Hover or select a tile to see why keyart chose it.</p></aside>"
    )
    return _document("keyart preview: " + " vs ".join(users), body)


def _face_boxes(candidate: Artwork) -> str:
    """AVA's face boxes as outlines over the image: fractions of it, so percentages of its box."""
    return "".join(
        f"<div class='face-box' style='left:{f.x:.2%};top:{f.y:.2%};width:{f.width:.2%};"
        f"height:{f.height:.2%}'></div>"
        for f in candidate.faces
    )


def title_page(
    name: str, title_id: str, default_id: str, facts: str, ranked: list[Artwork], notices: list[str]
) -> str:
    """All candidates, best AVA aesthetic score first, each with a rule-of-thirds grid and
    AVA's face boxes (`data-face-boxes` counts them)."""
    items = "".join(
        f"<figure class='candidate-card' data-artwork-id='{escape(c.artwork_id)}'>"
        f"<div class='annotated' data-face-boxes='{len(c.faces)}'>"
        f"<img src='{image_src(c.artwork_id)}' alt='{escape(c.artwork_id)}'>"
        f"<div class='thirds'></div>{_face_boxes(c)}</div>"
        f"<figcaption><b>#{rank} {escape(c.artwork_id)}</b>{' · default' if c.artwork_id == default_id else ''}"
        f"{_tags(c)}</figcaption></figure>"
        for rank, c in enumerate(ranked, start=1)
    )
    notes = "".join(f"<p class='notice'>{escape(n)}</p>" for n in notices)
    body = (
        f"<header><h1>{escape(name)}</h1><p>{escape(facts)}</p><p><a href='/'>back to the pages</a></p>"
        f"</header>{notes}<main class='title-view' data-title-id='{escape(title_id)}'>{items}</main>"
    )
    return _document(f"keyart preview: {name}", body)


def error_page(status: int, message: str) -> str:
    return _document(
        f"keyart preview: {status}", f"<h1>{status}</h1><p class='notice'>{escape(message)}</p>"
    )
