"""Checking an UpsertTitles request and turning it into domain titles.

`title_of` is also what `keyart catalog import` runs on every line of a file
before it sends anything, so a file and the API refuse exactly the same things.
"""

from __future__ import annotations

from collections.abc import Sequence

from keyart.artwork.v1 import artwork_service_pb2 as pb

from common.errors import InvalidArgument
from common.validation import require_id, require_path_id, require_path_ids
from services.artwork.messages import artwork_of
from services.artwork.model import Title
from services.artwork.tag_checks import check_tags, require_known_genres

MAX_TITLES_PER_UPSERT = 2000
MAX_ARTWORKS_PER_TITLE = 64
MAX_CAST_PER_TITLE = 64
MAX_GENRES_PER_TITLE = 16
MAX_NAME_CHARS = 300
MAX_IMAGE_URL_CHARS = 2048
MAX_TITLES_PER_DELETE = 10_000


def _require_count(items: Sequence[object], limit: int, field: str, what: str) -> None:
    if len(items) > limit:
        raise InvalidArgument(field, f"{len(items)} {what} exceed the limit of {limit}")


def _require_image_url(url: str, field: str) -> None:
    """Empty (keyart's image store) or an absolute http(s) URL a browser can load as is."""
    if not url:
        return
    if len(url) > MAX_IMAGE_URL_CHARS:
        raise InvalidArgument(
            field, f"is {len(url)} characters long; the limit is {MAX_IMAGE_URL_CHARS}"
        )
    if not url.startswith(("http://", "https://")) or len(url.split("://", 1)[1]) == 0:
        raise InvalidArgument(field, f"{url[:64]!r} is not an http(s) URL")
    if not url.isprintable() or any(character.isspace() for character in url):
        raise InvalidArgument(field, "must not contain spaces or control characters")


def title_of(message: pb.NewTitle, field: str = "") -> Title:
    """The checked title; InvalidArgument names the first bad field under `field`."""
    at = f"{field}." if field else ""
    title_id = require_path_id(message.title_id, f"{at}title_id")
    name = message.name.strip()
    if not name:
        raise InvalidArgument(f"{at}name", "must not be empty")
    require_id(name, f"{at}name", max_length=MAX_NAME_CHARS)
    _require_count(message.genres, MAX_GENRES_PER_TITLE, f"{at}genres", "genres")
    require_known_genres(message.genres, f"{at}genres")
    _require_count(message.cast, MAX_CAST_PER_TITLE, f"{at}cast", "names")
    for position, cast_name in enumerate(message.cast):
        require_id(cast_name, f"{at}cast[{position}]")
    if not message.artworks:
        raise InvalidArgument(f"{at}artworks", "must list at least one artwork")
    _require_count(message.artworks, MAX_ARTWORKS_PER_TITLE, f"{at}artworks", "artworks")
    artworks = []
    seen: set[str] = set()
    for position, artwork in enumerate(message.artworks):
        where = f"{at}artworks[{position}]"
        artwork_id = require_path_id(artwork.artwork_id, f"{where}.artwork_id")
        if artwork_id in seen:
            raise InvalidArgument(f"{where}.artwork_id", f"{artwork_id!r} is listed twice")
        seen.add(artwork_id)
        _require_image_url(artwork.image_url, f"{where}.image_url")
        check_tags(artwork.tags, f"{where}.tags")
        artworks.append(artwork_of(artwork_id, artwork.tags, artwork.image_url))
    return Title(title_id, name, tuple(message.genres), tuple(message.cast), tuple(artworks))


def titles_to_upsert(request: pb.UpsertTitlesRequest) -> list[Title]:
    """The request's titles, checked: ids unique across the call, limits held."""
    if not request.titles:
        raise InvalidArgument("titles", "must list at least one title")
    _require_count(request.titles, MAX_TITLES_PER_UPSERT, "titles", "titles")
    titles = [title_of(message, f"titles[{i}]") for i, message in enumerate(request.titles)]
    title_at: dict[str, int] = {}
    artwork_at: dict[str, str] = {}
    for i, title in enumerate(titles):
        if title.title_id in title_at:
            raise InvalidArgument(
                f"titles[{i}].title_id",
                f"{title.title_id!r} is also titles[{title_at[title.title_id]}]",
            )
        title_at[title.title_id] = i
        for j, artwork in enumerate(title.artworks):
            if artwork.artwork_id in artwork_at:
                raise InvalidArgument(
                    f"titles[{i}].artworks[{j}].artwork_id",
                    f"{artwork.artwork_id!r} is also an artwork of {artwork_at[artwork.artwork_id]}",
                )
            artwork_at[artwork.artwork_id] = f"titles[{i}]"
    return titles


def titles_to_delete(request: pb.DeleteTitlesRequest) -> tuple[str, ...]:
    if not request.title_ids:
        raise InvalidArgument("title_ids", "must list at least one title id")
    _require_count(request.title_ids, MAX_TITLES_PER_DELETE, "title_ids", "ids")
    return require_path_ids(request.title_ids, "title_ids")
