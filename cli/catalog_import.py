"""`keyart catalog import`: a catalog file → the artwork service's UpsertTitles, in batches.

The whole file is checked first (cli/catalog_check), then against the catalog it
goes into (ids owned by titles outside the file), and only then are its pictures
copied into the image store and its titles sent. `import_catalog` is the whole
import as a function, for callers other than the command (e.g. a demo seeder).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from keyart.artwork.v1 import artwork_service_pb2 as pb
from keyart.artwork.v1 import artwork_service_pb2_grpc

from cli.catalog_check import CheckedTitle, CheckOptions, check_across, check_title, file_field
from cli.catalog_file import read_titles
from cli.catalog_images import read_picture, store_picture
from cli.catalog_listing import list_catalog
from cli.genre_names import GenreMap, NameMapper, NameReport
from cli.progress import progress
from cli.table_file import BadLine
from common.channels import Dial
from services.artwork.ava.faces import FaceMatcher, load_gallery
from services.artwork.titles import MAX_TITLES_PER_UPSERT

# Well under the artwork server's 64 MiB message limit, so a batch never meets it.
MAX_BATCH_BYTES = 16 * 1024 * 1024
UPSERT_TIMEOUT_S = 120.0
# "titles[3].artworks[1].artwork_id: ..." — how UpsertTitles names the field it refused.
_REFUSED = re.compile(r"titles\[(\d+)\]\.(\S+): (.*)", re.DOTALL)


@dataclass(frozen=True)
class ImportOptions:
    artwork: Dial
    image_dir: Path = Path("var/images")
    dry_run: bool = False
    analyse: bool = False
    strict_names: bool = False
    genre_map: GenreMap | None = None
    cast_gallery: Path | None = None


@dataclass
class ImportReport:
    titles: int
    artworks: int
    catalog_version: str
    names: NameReport
    dry_run: bool = False
    changed: bool = False
    images_copied: int = 0
    analysed: int = 0
    image_dir: Path = field(default=Path("var/images"))

    def lines(self) -> list[str]:
        what = f"{self.titles} titles, {self.artworks} artworks"
        if self.dry_run:
            head = f"valid: {what} (dry run: nothing sent; catalog version {self.catalog_version})"
        elif self.changed:
            head = f"imported: {what}; catalog version {self.catalog_version}"
        else:
            head = (
                f"nothing changed: the catalog already held {what} as the file says"
                f" (catalog version {self.catalog_version})"
            )
        mapped = sum(genres != (name,) for name, genres in self.names.mapped.items())
        counts = f"names mapped: {mapped}, unmapped: {len(self.names.unmapped)}"
        if self.analysed:
            counts += f", artworks tagged by AVA: {self.analysed}"
        lines = [head, f"images copied: {self.images_copied} (into {self.image_dir}); {counts}"]
        return lines + ["  " + line for line in self.names.lines()]


def checked_file(path: Path, options: ImportOptions) -> tuple[list[CheckedTitle], NameReport]:
    """Every line of the file checked, alone and across lines; BadLine for the first bad one."""
    mapper = NameMapper(options.genre_map)
    matcher = FaceMatcher(load_gallery(options.cast_gallery)) if options.cast_gallery else None
    check = CheckOptions(options.analyse, options.strict_names, matcher)
    folder = path.parent
    titles = [check_title(line, folder, mapper, check) for line in read_titles(path)]
    check_across(titles)
    return titles, mapper.report


def _batches(titles: list[CheckedTitle], together: dict[str, str]) -> Iterator[list[CheckedTitle]]:
    """Batches within the call's limits; titles of one group in `together` (an artwork moving
    between them: the server refuses an id another title holds) are never split."""
    groups: dict[str, list[CheckedTitle]] = {}
    for title in titles:
        groups.setdefault(together[title.message.title_id], []).append(title)
    batch: list[CheckedTitle] = []
    size = 0
    for group in groups.values():
        group_size = sum(title.message.ByteSize() for title in group)
        if batch and (
            len(batch) + len(group) > MAX_TITLES_PER_UPSERT or size + group_size > MAX_BATCH_BYTES
        ):
            yield batch
            batch, size = [], 0
        batch.extend(group)
        size += group_size
    if batch:
        yield batch


def _owners_checked(titles: list[CheckedTitle], catalog: list[pb.Title]) -> dict[str, str]:
    """BadLine for an artwork id the catalog holds under a title outside the file; else each
    title's group (titles that must go in one call share one)."""
    owner = {a.artwork_id: title.title_id for title in catalog for a in title.artworks}
    in_file = {title.message.title_id for title in titles}
    together: dict[str, str] = {}

    def root(title_id: str) -> str:
        while together.get(title_id, title_id) != title_id:
            title_id = together[title_id]
        return title_id

    for title in titles:
        for j, artwork in enumerate(title.message.artworks):
            held_by = owner.get(artwork.artwork_id, title.message.title_id)
            if held_by == title.message.title_id:
                continue
            if held_by not in in_file:
                raise BadLine(
                    title.where,
                    f"artworks[{j}].artwork_id",
                    f"{artwork.artwork_id!r} belongs to title {held_by!r} in the catalog,"
                    " which this file does not hold",
                )
            a, b = root(title.message.title_id), root(held_by)
            if a != b:
                together[a] = b
    return {title_id: root(title_id) for title_id in in_file}


def _refused(error: grpc.RpcError, batch: list[CheckedTitle]) -> BadLine | None:
    """The line UpsertTitles refused, when it names one (a catalog changed since the check)."""
    refused = _REFUSED.fullmatch(error.details() or "")
    if error.code() != grpc.StatusCode.INVALID_ARGUMENT or refused is None:
        return None
    if int(refused[1]) >= len(batch):
        return None
    return BadLine(
        batch[int(refused[1])].where,
        file_field(refused[2]),
        f"{refused[3]} (the batches before it were applied; a re-run completes the import)",
    )


def _send(
    artwork: artwork_service_pb2_grpc.ArtworkServiceStub,
    batches: list[list[CheckedTitle]],
    image_dir: Path,
    advance: Callable[[int], None],
) -> tuple[str, bool, int]:
    """(catalog version, whether any batch changed it, pictures written)."""
    version, changed, copied = "", False, 0
    for batch in batches:
        for title in batch:
            for artwork_id, picture in title.pictures:
                copied += store_picture(
                    image_dir, artwork_id, read_picture(picture, title.where, "")
                )
        try:
            response = artwork.UpsertTitles(
                pb.UpsertTitlesRequest(titles=[title.message for title in batch]),
                timeout=UPSERT_TIMEOUT_S,
            )
        except grpc.RpcError as error:
            raise _refused(error, batch) or error from None
        version, changed = response.catalog_version, changed or response.changed
        advance(len(batch))
    return version, changed, copied


def import_catalog(path: Path, options: ImportOptions) -> ImportReport:
    """Checks the whole file, then (unless a dry run) sends it; BadLine names a bad line."""
    titles, names = checked_file(path, options)
    with options.artwork.channel() as channel:
        artwork = artwork_service_pb2_grpc.ArtworkServiceStub(channel)
        listing = list_catalog(artwork)
        batches = list(_batches(titles, _owners_checked(titles, listing.titles)))
        report = ImportReport(
            titles=len(titles),
            artworks=sum(len(title.message.artworks) for title in titles),
            catalog_version=listing.version,
            names=names,
            dry_run=options.dry_run,
            analysed=sum(title.analysed for title in titles),
            image_dir=options.image_dir,
        )
        if options.dry_run:
            return report
        with progress(len(titles), "title") as advance:
            report.catalog_version, report.changed, report.images_copied = _send(
                artwork, batches, options.image_dir, advance
            )
    return report
