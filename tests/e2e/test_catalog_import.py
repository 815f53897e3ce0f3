"""`keyart catalog import` and `export` against a real artwork server process on an empty
SQLite catalog: a hand-written catalog with drawn pictures, every kind of bad line, dry
runs, re-runs, Parquet and JSONL alike, export → import round trips, AVA tags, name mapping."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import grpc
import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type hints
import pyarrow.parquet as pq  # type: ignore[import-untyped]  # pyarrow ships no type hints
import pytest
from keyart.artwork.v1 import artwork_service_pb2 as pb
from keyart.artwork.v1.artwork_service_pb2_grpc import ArtworkServiceStub

from cli.catalog_listing import list_catalog
from cli.main import main
from cli.preview_process import preview_process
from common.errors import FailedPrecondition
from services.artwork.ava.picture import picture_tags
from suite.supervisor import ServiceProcess, local_suite_config

Line = dict[str, Any]
Run = Callable[..., tuple[int, str, str]]
CDN = "https://cdn.example.com/art"


class Artwork:
    """An artwork server process on its own empty SQLite catalog, and a stub to it."""

    def __init__(self, data_dir: Path) -> None:
        base = local_suite_config(data_dir, data_dir / "unused.onnx")
        self.image_base_url = f"http://{base.addresses['preview']}/images"
        env = {**base.extra_env, "ARTWORK_IMAGE_BASE_URL": self.image_base_url}
        self.config = replace(base, extra_env=env)
        self.address = self.config.addresses["artwork"]
        self.process = ServiceProcess("artwork", self.config)
        self.channel = grpc.insecure_channel(self.address)
        self.stub = ArtworkServiceStub(self.channel)

    def version(self) -> str:
        return str(self.stub.GetCatalogInfo(pb.GetCatalogInfoRequest()).catalog_version)

    def title(self, title_id: str) -> pb.Title:
        response = self.stub.GetTitles(pb.GetTitlesRequest(title_ids=[title_id]))
        assert not response.missing_title_ids, f"{title_id} is not in the catalog"
        return response.titles[0]


def started(data_dir: Path) -> Iterator[Artwork]:
    server = Artwork(data_dir)
    server.process.start()
    try:
        server.process.wait_serving()
        yield server
    finally:
        server.channel.close()
        assert server.process.stop() in (0, None)


@pytest.fixture(scope="module")
def artwork(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Artwork]:
    """One server for the tests that bring their own title ids."""
    yield from started(tmp_path_factory.mktemp("artwork"))


@pytest.fixture
def fresh_artwork(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Artwork]:
    """A server of its own, on an empty catalog."""
    yield from started(tmp_path_factory.mktemp("fresh"))


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Run:
    """`keyart catalog VERB FILE ARGS…` in-process: (status, stdout, stderr)."""

    def keyart_catalog(verb: str, path: Path, server: Artwork, *args: str) -> tuple[int, str, str]:
        status = main(
            [
                "catalog",
                verb,
                str(path),
                "--target",
                server.address,
                "--image-dir",
                str(tmp_path / "images"),
                *args,
            ]
        )
        out, err = capsys.readouterr()
        return status, out.strip(), err.strip()

    return keyart_catalog


def draw(path: Path, seed: int, size: tuple[int, int] = (320, 180)) -> Path:
    """A picture nobody here generated before: coloured shapes on a gradient."""
    rng = np.random.default_rng(seed)
    width, height = size
    ramp = np.linspace(40, 220, width, dtype=np.float32)
    image = np.dstack([np.tile(ramp, (height, 1)) * share for share in rng.uniform(0.3, 1, 3)])
    image = np.ascontiguousarray(image.astype(np.uint8))
    for _ in range(6):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.circle(image, centre, int(rng.integers(8, 40)), colour, -1)
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)
    return path


def artwork_line(artwork_id: str, image: str | None, **changes: Any) -> Line:
    line = {
        "artwork_id": artwork_id,
        "image": image,
        "cast": ["Ada Crane"],
        "tones": ["Drama"],
        "visual_quality": 0.7,
        "composition": 0.5,
    }
    return {key: value for key, value in {**line, **changes}.items() if value is not None}


def title_line(title_id: str, *artworks: Line, **changes: Any) -> Line:
    line = {
        "title_id": title_id,
        "name": f"The {title_id}",
        "genres": ["Drama"],
        "cast": ["Ada Crane", "Wes Hollis"],
        "artworks": list(artworks) or [artwork_line(f"{title_id}/a", f"{CDN}/{title_id}.jpg")],
    }
    return {key: value for key, value in {**line, **changes}.items() if value is not None}


def write_jsonl(path: Path, lines: list[Line]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def write_parquet(path: Path, lines: list[Line]) -> Path:
    pq.write_table(pa.Table.from_pylist(lines), path)
    return path


def hand_written(folder: Path, prefix: str) -> list[Line]:
    """Two titles: one with a drawn PNG (relative path) and a drawn JPEG (absolute), one on a CDN."""
    sea = draw(folder / "pictures" / "sea.png", 1)
    sky = draw(folder / "elsewhere" / "sky.jpg", 2, (200, 300))
    return [
        title_line(
            f"{prefix}-lagoon",
            artwork_line(f"{prefix}-lagoon/sea", str(sea.relative_to(folder)), cast=["Mae Lind"]),
            artwork_line(
                f"{prefix}-lagoon/sky",
                str(sky.absolute()),
                tones=["Romantic"],
                visual_quality=0.9,
                faces=[[0.25, 0.1, 0.3, 0.4]],
            ),
            genres=["Sci-Fi & Fantasy", "Romance Movies"],
            cast=["Mae Lind", "Ola Brandt"],
        ),
        title_line(f"{prefix}-ridge", genres=["Suspense", "Arthouse"]),
    ]


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}"


def test_a_hand_written_catalog_imports_and_is_served(
    artwork: Artwork, run: Run, tmp_path: Path, prefix: str
) -> None:
    path = write_jsonl(tmp_path / "catalog.jsonl", hand_written(tmp_path, prefix))
    status, out, err = run("import", path, artwork)
    assert (status, err) == (0, "2/2 titles sent")
    version = artwork.version()
    assert out.splitlines() == [
        f"imported: 2 titles, 3 artworks; catalog version {version}",
        f"images copied: 2 (into {tmp_path / 'images'}); names mapped: 5, unmapped: 1",
        "  mapped 'Drama' → drama (2 artworks)",
        "  mapped 'Romance Movies' → romance (1 title)",
        "  mapped 'Romantic' → romance (1 artwork)",
        "  mapped 'Sci-Fi & Fantasy' → scifi, fantasy (1 title)",
        "  mapped 'Suspense' → thriller (1 title)",
        "  unmapped 'Arthouse': left out of the features (1 title)",
    ]
    lagoon = artwork.title(f"{prefix}-lagoon")
    assert list(lagoon.genres) == ["scifi", "fantasy", "romance"]
    assert list(lagoon.cast) == ["Mae Lind", "Ola Brandt"]
    sea, sky = lagoon.artworks
    assert (sea.image_url, list(sea.tags.cast), list(sea.tags.tones)) == (
        f"{artwork.image_base_url}/{prefix}-lagoon/sea.png",
        ["Mae Lind"],
        ["drama"],
    )
    assert (list(sky.tags.tones), round(sky.tags.visual_quality, 4), len(sky.tags.faces)) == (
        ["romance"],
        0.9,
        1,
    )
    assert list(artwork.title(f"{prefix}-ridge").genres) == ["thriller"]
    candidates = artwork.stub.GetCandidates(
        pb.GetCandidatesRequest(title_ids=[f"{prefix}-lagoon", f"{prefix}-ridge"])
    )
    assert [list(t.image_urls) for t in candidates.titles] == [
        [sea.image_url, sky.image_url],
        [f"{CDN}/{prefix}-ridge.jpg"],
    ]
    assert candidates.titles[0].default_artwork_id == f"{prefix}-lagoon/sky"
    images = tmp_path / "images" / f"{prefix}-lagoon"
    stored, sea_png = cv2.imread(str(images / "sky.png")), cv2.imread(str(images / "sea.png"))
    assert stored is not None and stored.shape == (300, 200, 3)  # the JPEG, as a PNG
    drawn = cv2.imread(str(tmp_path / "pictures/sea.png"))
    assert sea_png is not None and drawn is not None and np.array_equal(sea_png, drawn)


def test_importing_the_same_file_again_changes_nothing(
    artwork: Artwork, run: Run, tmp_path: Path, prefix: str
) -> None:
    path = write_jsonl(tmp_path / "catalog.jsonl", hand_written(tmp_path, prefix))
    assert run("import", path, artwork)[0] == 0
    version = artwork.version()
    png = tmp_path / "images" / f"{prefix}-lagoon" / "sea.png"
    written = png.stat().st_mtime_ns
    status, out, _ = run("import", path, artwork)
    assert status == 0
    assert out.splitlines()[:2] == [
        "nothing changed: the catalog already held 2 titles, 3 artworks as the file says"
        f" (catalog version {version})",
        f"images copied: 0 (into {tmp_path / 'images'}); names mapped: 5, unmapped: 1",
    ]
    assert artwork.version() == version
    assert png.stat().st_mtime_ns == written  # the same picture is not rewritten


def test_dry_run_checks_and_sends_nothing(
    artwork: Artwork, run: Run, tmp_path: Path, prefix: str
) -> None:
    path = write_jsonl(tmp_path / "catalog.jsonl", hand_written(tmp_path, prefix))
    version = artwork.version()
    status, out, err = run("import", path, artwork, "--dry-run")
    assert (status, err) == (0, "")
    assert out.splitlines()[0] == (
        f"valid: 2 titles, 3 artworks (dry run: nothing sent; catalog version {version})"
    )
    assert artwork.version() == version
    assert not (tmp_path / "images").exists()
    missing = artwork.stub.GetTitles(pb.GetTitlesRequest(title_ids=[f"{prefix}-lagoon"]))
    assert list(missing.missing_title_ids) == [f"{prefix}-lagoon"]


OWNED = "owner-title/poster"


def good(**changes: Any) -> Line:
    """A good title line with `changes` (None: the key left out)."""
    line = {**title_line("bad-line"), **changes}
    return {key: value for key, value in line.items() if value is not None}


BAD_LINES: dict[str, tuple[Any, str]] = {
    "bad JSON": ('{"title_id": "t1",', "c.jsonl:2: not valid UTF-8 JSON (Expecting"),
    "not an object": ("[1, 2]", "c.jsonl:2: expected a JSON object, one title a line"),
    "wrong type": (good(name=42), "c.jsonl:2: name: must be a string, not int 42"),
    "wrong type in a list": (
        good(genres=["Drama", 7]),
        "c.jsonl:2: genres[1]: must be a string, not int 7",
    ),
    "missing field": (
        good(
            artworks=[{"image": f"{CDN}/a.jpg", "tones": [], "visual_quality": 0, "composition": 0}]
        ),
        "c.jsonl:2: artworks[0].artwork_id: missing",
    ),
    "missing title id": (good(title_id=None), "c.jsonl:2: title_id: missing"),
    "unknown key": (
        good(rating=5),
        "c.jsonl:2: rating: unknown column; expected title_id, name, genres, cast, artworks",
    ),
    "unknown artwork key": (
        good(artworks=[artwork_line("bad-line/a", f"{CDN}/a.jpg", score=1)]),
        "c.jsonl:2: artworks[0].score: unknown key; expected artwork_id, image, cast, tones,"
        " visual_quality, composition, faces",
    ),
    "score out of range": (
        good(artworks=[artwork_line("bad-line/a", f"{CDN}/a.jpg", visual_quality=1.5)]),
        "c.jsonl:2: artworks[0].visual_quality: 1.5 is not a score between 0 and 1",
    ),
    "NaN": (
        good(artworks=[artwork_line("bad-line/a", f"{CDN}/a.jpg", composition=float("nan"))]),
        "c.jsonl:2: artworks[0].composition: nan is not a score between 0 and 1",
    ),
    "score as text": (
        good(artworks=[artwork_line("bad-line/a", f"{CDN}/a.jpg", composition="0.5")]),
        "c.jsonl:2: artworks[0].composition: must be a number, not str '0.5'",
    ),
    "face leaving the picture": (
        good(artworks=[artwork_line("bad-line/a", f"{CDN}/a.jpg", faces=[[0.5, 0, 0.7, 0.2]])]),
        "c.jsonl:2: artworks[0].faces[0].width: x + width exceeds 1: the box leaves the image",
    ),
    "bad id": (
        good(title_id="../etc"),
        "c.jsonl:2: title_id: '../etc' has an empty, '.' or '..' segment between its '/'s",
    ),
    "no artworks": (good(artworks=[]), "c.jsonl:2: artworks: must list at least one artwork"),
    "duplicate title": (
        good(title_id="first"),
        "c.jsonl:2: title_id: 'first' is also at c.jsonl:1",
    ),
    "duplicate artwork": (
        good(artworks=[artwork_line("first/a", f"{CDN}/a.jpg")]),
        "c.jsonl:2: artworks[0].artwork_id: 'first/a' is also at c.jsonl:1",
    ),
    "missing image file": (
        good(artworks=[artwork_line("bad-line/a", "pictures/nope.png")]),
        "c.jsonl:2: artworks[0].image: 'pictures/nope.png': no such file",
    ),
    "not a picture": (
        good(artworks=[artwork_line("bad-line/a", "notes.png")]),
        "c.jsonl:2: artworks[0].image: 'notes.png' is not a readable picture",
    ),
    "missing tag": (
        good(artworks=[artwork_line("bad-line/a", f"{CDN}/a.jpg", tones=None)]),
        "c.jsonl:2: artworks[0].tones: missing (--analyse has AVA find it)",
    ),
    "unknown genre with --strict-names": (
        good(genres=["Drama", "Arthouse"]),
        "c.jsonl:2: genres[1]: 'Arthouse' is not a keyart genre and no mapping names it"
        " (add it to --genre-map, or map it to null to drop it)",
    ),
    "artwork id owned by a title outside the file": (
        good(artworks=[artwork_line(OWNED, f"{CDN}/a.jpg")]),
        f"c.jsonl:2: artworks[0].artwork_id: '{OWNED}' belongs to title 'owner-title' in the"
        " catalog, which this file does not hold",
    ),
}


@pytest.fixture(scope="module")
def owned(artwork: Artwork) -> str:
    """The catalog holds `OWNED` under a title no test file holds."""
    artwork.stub.UpsertTitles(
        pb.UpsertTitlesRequest(
            titles=[
                pb.NewTitle(
                    title_id="owner-title",
                    name="Owner",
                    artworks=[pb.Artwork(artwork_id=OWNED, tags=pb.AvaTags(visual_quality=0.5))],
                )
            ]
        )
    )
    return artwork.version()


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_a_bad_line_is_named_and_nothing_is_applied(
    case: str,
    artwork: Artwork,
    owned: str,
    run: Run,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("notes.png").write_text("not a picture")
    line, message = BAD_LINES[case]
    text = line if isinstance(line, str) else json.dumps(line)
    Path("c.jsonl").write_text(json.dumps(title_line("first")) + "\n" + text + "\n")
    version = artwork.version()
    status, out, err = run("import", Path("c.jsonl"), artwork, "--strict-names")
    assert (status, out) == (2, "")
    assert err.startswith(f"keyart: {message}"), err
    assert len(err.splitlines()) == 1
    assert artwork.version() == version
    assert not artwork.stub.GetTitles(pb.GetTitlesRequest(title_ids=["first"])).titles


def test_a_torn_last_line_and_a_bad_parquet_row_are_named(
    artwork: Artwork, run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("c.jsonl").write_text(json.dumps(title_line("first")) + '\n{"title_id": "sec')
    status, _, err = run("import", Path("c.jsonl"), artwork)
    assert (status, err.split(" (")[0]) == (
        2,
        "keyart: c.jsonl:2: torn last line: no newline and not valid JSON",
    )
    write_parquet(Path("c.parquet"), [title_line("first"), good(name="")])
    assert run("import", Path("c.parquet"), artwork) == (
        2,
        "",
        "keyart: c.parquet: row 2: name: must not be empty",
    )
    Path("empty.jsonl").write_text("")
    assert run("import", Path("empty.jsonl"), artwork) == (
        2,
        "",
        "keyart: empty.jsonl: holds no titles",
    )


def test_the_command_exits_2_without_a_traceback(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "c.jsonl", [good(name=42)])
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "catalog", "import", str(path), "--dry-run"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (
        2,
        f"keyart: {path}:1: name: must be a string, not int 42\n",
    )


def test_parquet_and_jsonl_give_the_same_catalog(
    run: Run, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    lines = hand_written(tmp_path, "same")
    versions = []
    for path in (
        write_jsonl(tmp_path / "c.jsonl", lines),
        write_parquet(tmp_path / "c.parquet", lines),
    ):
        for server in started(tmp_path_factory.mktemp("format")):
            assert run("import", path, server)[0] == 0
            versions.append(server.version())
    assert versions[0] == versions[1]


def test_export_then_import_round_trips(
    artwork: Artwork,
    fresh_artwork: Artwork,
    run: Run,
    tmp_path: Path,
    prefix: str,
) -> None:
    path = write_jsonl(tmp_path / "catalog.jsonl", hand_written(tmp_path, prefix))
    assert run("import", path, fresh_artwork)[0] == 0
    version = fresh_artwork.version()
    for name in ("export.jsonl", "export.parquet"):
        exported = tmp_path / "out" / name
        exported.parent.mkdir(exist_ok=True)
        status, out, _ = run("export", exported, fresh_artwork)
        assert (status, out) == (
            0,
            f"exported: 2 titles, 3 artworks (2 images as paths into the image store);"
            f" catalog version {version}",
        )
        # Into itself: nothing changes.
        assert run("import", exported, fresh_artwork)[1].startswith("nothing changed")
        assert fresh_artwork.version() == version
    first = json.loads((tmp_path / "out" / "export.jsonl").read_text().splitlines()[0])
    assert first["artworks"][0]["image"] == f"../images/{prefix}-lagoon/sea.png"
    assert first["artworks"][1]["visual_quality"] == 0.9
    # Into an empty catalog: the same catalog version.
    for server in started(tmp_path / "empty"):
        assert run("import", tmp_path / "out" / "export.parquet", server)[0] == 0
        assert server.version() == version


def test_analyse_fills_the_tags_of_a_drawn_picture(
    artwork: Artwork, run: Run, tmp_path: Path, prefix: str
) -> None:
    picture = tmp_path / "bright.png"
    image = np.full((180, 320, 3), 235, np.uint8)
    for i, colour in enumerate(((0, 220, 255), (255, 0, 200), (40, 255, 40), (255, 160, 0))):
        cv2.rectangle(image, (20 + 75 * i, 40), (80 + 75 * i, 140), colour, -1)
    cv2.imwrite(str(picture), image)
    untagged = {"artwork_id": f"{prefix}/drawn", "image": "bright.png"}
    path = write_jsonl(tmp_path / "c.jsonl", [title_line(prefix, untagged)])
    assert run("import", path, artwork)[2] == (
        f"keyart: {path}:1: artworks[0].tones: missing (--analyse has AVA find it)"
    )
    status, out, _ = run("import", path, artwork, "--analyse")
    assert status == 0
    assert out.splitlines()[1].endswith("artworks tagged by AVA: 1")
    expected = picture_tags(f"{prefix}/drawn", image, None)
    tags = artwork.title(prefix).artworks[0].tags
    assert list(tags.tones) == ["comedy", "family"] == list(expected.tones)
    assert (round(tags.visual_quality, 4), round(tags.composition, 4)) == (
        expected.visual_quality,
        expected.composition,
    )
    assert 0.3 < tags.visual_quality <= 1 and 0 < tags.composition <= 1
    assert (list(tags.cast), list(tags.faces)) == ([], [])


def test_a_genre_map_wins_over_the_built_in_names(
    artwork: Artwork, run: Run, tmp_path: Path, prefix: str
) -> None:
    genre_map = tmp_path / "map.json"
    genre_map.write_text(
        json.dumps({"Arthouse": ["drama", "mystery"], "Suspense": None, "Drama": "crime"})
    )
    path = write_jsonl(
        tmp_path / "c.jsonl", [title_line(prefix, genres=["Arthouse", "Suspense", "Kids"])]
    )
    status, out, _ = run("import", path, artwork, "--genre-map", str(genre_map), "--strict-names")
    assert status == 0
    assert out.splitlines()[2:] == [
        "  mapped 'Arthouse' → drama, mystery (1 title)",
        "  mapped 'Drama' → crime (1 artwork)",
        "  mapped 'Kids' → family (1 title)",
        "  mapped 'Suspense' → (dropped by the map) (1 title)",
    ]
    title = artwork.title(prefix)
    assert (list(title.genres), list(title.artworks[0].tags.tones)) == (
        ["drama", "mystery", "family"],
        ["crime"],
    )
    genre_map.write_text(json.dumps({"Arthouse": "arthouse"}))
    assert run("import", path, artwork, "--genre-map", str(genre_map)) == (
        2,
        "",
        f"keyart: {genre_map}: 'Arthouse': 'arthouse' is not a keyart genre (action, adventure,"
        " animation, comedy, crime, documentary, drama, family, fantasy, horror, musical,"
        " mystery, romance, scifi, thriller, western)",
    )


def test_artworks_moving_between_titles_of_the_file_go_in_one_call(
    artwork: Artwork, run: Run, tmp_path: Path, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server refuses an artwork id another title holds unless both are in the call:
    titles that swap artworks are never split across batches, however small."""
    monkeypatch.setattr("cli.catalog_import.MAX_TITLES_PER_UPSERT", 1)
    a, b, c = (f"{prefix}-{name}" for name in "abc")

    def lines(first: str, second: str) -> list[Line]:
        return [
            title_line(a, artwork_line(first, f"{CDN}/1.jpg")),
            title_line(b, artwork_line(second, f"{CDN}/2.jpg")),
            title_line(c),
        ]

    assert (
        run(
            "import",
            write_jsonl(tmp_path / "1.jsonl", lines(f"{prefix}/1", f"{prefix}/2")),
            artwork,
        )[0]
        == 0
    )
    status, out, err = run(
        "import", write_jsonl(tmp_path / "2.jsonl", lines(f"{prefix}/2", f"{prefix}/1")), artwork
    )
    assert (status, err) == (0, "2/3 titles sent\n3/3 titles sent")
    assert out.startswith("imported: 3 titles")
    assert [artwork.title(t).artworks[0].artwork_id for t in (a, b)] == [
        f"{prefix}/2",
        f"{prefix}/1",
    ]


def test_the_preview_serves_an_imported_picture(
    artwork: Artwork, run: Run, tmp_path: Path, prefix: str
) -> None:
    """Imported into the store the preview serves from, a local picture is at its image_url."""
    path = write_jsonl(tmp_path / "catalog.jsonl", hand_written(tmp_path, prefix))
    store = artwork.config.image_dir
    assert run("import", path, artwork, "--image-dir", str(store))[0] == 0  # the last one wins
    image_url = artwork.title(f"{prefix}-lagoon").artworks[0].image_url
    preview = preview_process(artwork.config)
    preview.start()
    try:
        preview.wait_serving()
        with urllib.request.urlopen(image_url, timeout=10) as response:
            served = response.read()
    finally:
        preview.stop()
    assert served == (store / f"{prefix}-lagoon" / "sea.png").read_bytes()
    picture = cv2.imdecode(np.frombuffer(served, np.uint8), cv2.IMREAD_COLOR)
    drawn = cv2.imread(str(tmp_path / "pictures" / "sea.png"))
    assert picture is not None and drawn is not None and np.array_equal(picture, drawn)


def test_a_listing_that_sees_the_catalog_change_between_pages_fails(
    fresh_artwork: Artwork, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What export reads from: pages of two catalog versions are never mixed into one file."""
    fresh_artwork.stub.UpsertTitles(
        pb.UpsertTitlesRequest(titles=[_new_title("a"), _new_title("b"), _new_title("c")])
    )
    before = fresh_artwork.version()
    monkeypatch.setattr("cli.catalog_listing.PAGE_SIZE", 1)

    class ChangedAfterFirstPage:
        """The real stub; after the first page another writer upserts a title."""

        def __init__(self) -> None:
            self.pages = 0

        def ListTitles(self, request: pb.ListTitlesRequest, **kwargs: Any) -> Any:
            self.pages += 1
            if self.pages == 2:
                fresh_artwork.stub.UpsertTitles(pb.UpsertTitlesRequest(titles=[_new_title("d")]))
            return fresh_artwork.stub.ListTitles(request, **kwargs)

    with pytest.raises(FailedPrecondition) as raised:
        list_catalog(ChangedAfterFirstPage())  # type: ignore[arg-type]  # the stub's one method used
    assert str(raised.value) == (
        f"the catalog changed while it was read (version {before} → {fresh_artwork.version()});"
        " run the command again"
    )


def _new_title(title_id: str) -> pb.NewTitle:
    return pb.NewTitle(
        title_id=title_id,
        name=title_id,
        artworks=[pb.Artwork(artwork_id=f"{title_id}/1", tags=pb.AvaTags(visual_quality=0.5))],
    )


@pytest.mark.parametrize("write", [write_jsonl, write_parquet], ids=["jsonl", "parquet"])
def test_an_artwork_without_an_image_is_served_from_the_image_store(
    run: Run, artwork: Artwork, tmp_path: Path, prefix: str, write: Callable[..., Path]
) -> None:
    lines = [
        title_line(
            f"{prefix}-stored",
            artwork_line(f"{prefix}-stored/a", f"{CDN}/a.jpg"),
            artwork_line(f"{prefix}-stored/b", None),  # drawn into the store by someone else
        )
    ]
    path = write(tmp_path / f"c{'.jsonl' if write is write_jsonl else '.parquet'}", lines)
    assert run("import", path, artwork)[0] == 0
    served = artwork.title(f"{prefix}-stored").artworks
    assert [a.image_url for a in served] == [
        f"{CDN}/a.jpg",
        f"{artwork.image_base_url}/{prefix}-stored/b.png",
    ]
