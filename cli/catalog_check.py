"""A catalog file's lines → checked NewTitle messages, before anything is sent.

Each line's names are mapped (cli/genre_names), its local pictures opened, its
missing tags found by AVA when asked, and the message run through the artwork
server's own `title_of`; then ids are checked across lines and against the catalog.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from keyart.artwork.v1 import artwork_service_pb2 as pb

from cli.catalog_images import is_url, local_path, read_picture
from cli.catalog_rows import ArtworkLine, TitleLine
from cli.genre_names import NameMapper
from cli.table_file import BadLine
from common.errors import InvalidArgument
from services.artwork.ava.faces import FaceMatcher
from services.artwork.ava.picture import picture_tags
from services.artwork.messages import ava_tags
from services.artwork.model import Artwork
from services.artwork.titles import title_of


@dataclass(frozen=True)
class CheckOptions:
    analyse: bool = False
    strict_names: bool = False
    matcher: FaceMatcher | None = None


@dataclass(frozen=True)
class CheckedTitle:
    where: str
    message: pb.NewTitle
    pictures: tuple[tuple[str, Path], ...]  # (artwork_id, local picture) for the image store
    analysed: int  # artworks whose missing tags AVA found


def file_field(field: str) -> str:
    """`title_of`'s name of a field (`artworks[1].tags.tones[0]`) as the file names it."""
    return field.replace(".tags.", ".").replace(".image_url", ".image")


def _map_names(
    where: str,
    names: tuple[str, ...],
    field: str,
    mapper: NameMapper,
    strict: bool,
    *,
    artwork: bool,
) -> tuple[str, ...]:
    genres, unmapped = mapper.map(names, artwork=artwork)
    if strict and unmapped:
        raise BadLine(
            where,
            f"{field}[{names.index(unmapped[0])}]",
            f"{unmapped[0]!r} is not a keyart genre and no mapping names it"
            " (add it to --genre-map, or map it to null to drop it)",
        )
    return genres


def _artwork(
    line: TitleLine,
    j: int,
    art: ArtworkLine,
    folder: Path,
    mapper: NameMapper,
    options: CheckOptions,
) -> tuple[pb.Artwork, Path | None, bool]:
    """(the message, its local picture or None, whether AVA tagged it)."""
    where, field = line.where, f"artworks[{j}]"
    # No image: the picture is in keyart's image store already (drawn there, or AVA's).
    picture_path = None if not art.image or is_url(art.image) else local_path(art.image, folder)
    picture = read_picture(picture_path, where, f"{field}.image") if picture_path else None
    missing = art.missing_tags()
    found: Artwork | None = None
    if missing:
        if not options.analyse:
            raise BadLine(where, f"{field}.{missing[0]}", "missing (--analyse has AVA find it)")
        if picture is None:
            raise BadLine(
                where, f"{field}.{missing[0]}", "missing; --analyse needs a local image to find it"
            )
        found = picture_tags(art.artwork_id, picture, options.matcher)
    # What the file leaves out is AVA's (cast and faces may be left out without analysis).
    base = found or Artwork(art.artwork_id, cast=(), tones=(), visual_quality=0.0, composition=0.0)
    tagged = replace(
        base,
        cast=base.cast if art.cast is None else art.cast,
        tones=base.tones
        if art.tones is None
        else _map_names(
            where, art.tones, f"{field}.tones", mapper, options.strict_names, artwork=True
        ),
        visual_quality=base.visual_quality if art.visual_quality is None else art.visual_quality,
        composition=base.composition if art.composition is None else art.composition,
        faces=base.faces if art.faces is None else art.faces,
    )
    message = pb.Artwork(
        artwork_id=art.artwork_id,
        image_url=art.image if is_url(art.image) else "",
        tags=ava_tags(tagged),
    )
    return message, picture_path, found is not None


def check_title(
    line: TitleLine, folder: Path, mapper: NameMapper, options: CheckOptions
) -> CheckedTitle:
    """The line as the message UpsertTitles takes; BadLine naming the field it refuses."""
    genres = _map_names(
        line.where, line.genres, "genres", mapper, options.strict_names, artwork=False
    )
    artworks = [
        _artwork(line, j, art, folder, mapper, options) for j, art in enumerate(line.artworks)
    ]
    message = pb.NewTitle(
        title_id=line.title_id,
        name=line.name,
        genres=genres,
        cast=line.cast,
        artworks=[artwork for artwork, _, _ in artworks],
    )
    try:
        title_of(message)
    except InvalidArgument as error:
        raise BadLine(line.where, file_field(error.field), error.problem) from None
    pictures = tuple(
        (artwork.artwork_id, path) for artwork, path, _ in artworks if path is not None
    )
    return CheckedTitle(line.where, message, pictures, sum(tagged for _, _, tagged in artworks))


def check_across(titles: list[CheckedTitle]) -> None:
    """Each title id and artwork id on one line only; BadLine names the second line."""
    title_at: dict[str, str] = {}
    artwork_at: dict[str, str] = {}
    for title in titles:
        seen = title_at.setdefault(title.message.title_id, title.where)
        if seen != title.where:
            raise BadLine(title.where, "title_id", f"{title.message.title_id!r} is also at {seen}")
        for j, artwork in enumerate(title.message.artworks):
            seen = artwork_at.setdefault(artwork.artwork_id, title.where)
            if seen != title.where:
                raise BadLine(
                    title.where,
                    f"artworks[{j}].artwork_id",
                    f"{artwork.artwork_id!r} is also at {seen}",
                )
