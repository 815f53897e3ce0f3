"""The demo catalog: the two stories, the generated titles, and their invariants."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from common.features import GENRES, aesthetic_score
from demo.catalog import (
    CAST_POOL_SIZE,
    JOHN_TRAVOLTA,
    MATT_DAMON,
    MINNIE_DRIVER,
    ROBIN_WILLIAMS,
    SECONDARY_GENRES,
    STORY_ACTORS,
    STORY_TITLE_IDS,
    UMA_THURMAN,
    demo_titles,
    generate_titles,
    titles_by_genre,
    titles_with_cast,
)
from services.artwork.model import Artwork, Title

REPO = Path(__file__).resolve().parents[2]


def by_id() -> dict[str, Title]:
    return {title.title_id: title for title in demo_titles()}


def generated() -> tuple[Title, ...]:
    return demo_titles()[len(STORY_TITLE_IDS) :]


def score(artwork: Artwork) -> float:
    return aesthetic_score(artwork.visual_quality, artwork.composition)


def best_artwork(title: Title) -> Artwork:
    return max(title.artworks, key=score)


def test_good_will_hunting_has_the_story_artworks_and_a_neutral_default() -> None:
    title = by_id()["good-will-hunting"]
    assert title.name == "Good Will Hunting"
    assert title.genres == ("drama", "romance")
    assert title.cast == ("Matt Damon", "Robin Williams", "Minnie Driver", "Ben Affleck")
    assert [(a.artwork_id, a.cast, a.tones) for a in title.artworks] == [
        ("good-will-hunting/damon-driver", ("Matt Damon", "Minnie Driver"), ("romance", "drama")),
        ("good-will-hunting/robin-williams", ("Robin Williams",), ("comedy", "drama")),
        ("good-will-hunting/neutral", (), ()),
    ]
    assert best_artwork(title).artwork_id == "good-will-hunting/neutral"


def test_pulp_fiction_has_the_story_artworks_and_a_neutral_default() -> None:
    title = by_id()["pulp-fiction"]
    assert title.genres == ("crime", "thriller")
    assert title.cast == ("Uma Thurman", "John Travolta", "Samuel L. Jackson", "Bruce Willis")
    assert [(a.artwork_id, a.cast, a.tones) for a in title.artworks] == [
        ("pulp-fiction/uma-thurman", ("Uma Thurman",), ("crime", "thriller")),
        ("pulp-fiction/john-travolta", ("John Travolta",), ("crime", "thriller")),
        ("pulp-fiction/neutral", (), ()),
    ]
    assert best_artwork(title).artwork_id == "pulp-fiction/neutral"


def test_generation_is_deterministic_and_cached() -> None:
    assert generate_titles() == generate_titles() == demo_titles()
    assert demo_titles() is demo_titles()
    first = generated()[0]
    assert (first.title_id, first.name, first.genres) == (
        "title-00001",
        "Midnight in Lisbon",
        ("thriller",),
    )
    assert generated()[-1].title_id == "title-02400"


def test_generation_does_not_depend_on_the_hash_seed() -> None:
    script = (
        "import hashlib; from demo.catalog import demo_titles;"
        " print(hashlib.sha256(repr(demo_titles()).encode()).hexdigest())"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", script],
            cwd=REPO,
            env={"PYTHONHASHSEED": seed, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(digests) == 1


def test_catalog_size_ids_and_candidate_counts() -> None:
    titles = generated()
    assert len(titles) == 2400
    assert [t.title_id for t in titles] == [f"title-{n:05d}" for n in range(1, 2401)]
    assert len({t.name for t in demo_titles()}) == len(demo_titles())
    for title in titles:
        assert 4 <= len(title.artworks) <= 10
        assert [a.artwork_id for a in title.artworks] == [
            f"{title.title_id}/a{n:02d}" for n in range(1, len(title.artworks) + 1)
        ]


def test_enough_titles_have_the_reference_pages_8_candidates() -> None:
    counts = Counter(len(title.artworks) for title in generated())
    assert set(counts) == set(range(4, 11))
    assert counts[8] == 1891 >= 40 * 40


def test_genres_are_a_primary_and_at_most_one_compatible_secondary() -> None:
    for title in generated():
        primary, *secondary = title.genres
        assert primary in GENRES
        assert len(secondary) <= 1
        assert set(secondary) <= set(SECONDARY_GENRES[primary])
    assert set(SECONDARY_GENRES) == set(GENRES)
    assert SECONDARY_GENRES["romance"] == ("drama", "musical")


def test_cast_comes_from_a_pool_of_made_up_names_plus_the_story_actors() -> None:
    pool = {name for t in generated() for name in t.cast} - set(STORY_ACTORS)
    assert len(pool) <= CAST_POOL_SIZE == 200
    assert len(pool) > 190
    for title in generated():
        assert 3 <= len(title.cast) <= 5
        assert len(set(title.cast)) == len(title.cast)


def test_artwork_tags_are_drawn_from_the_title() -> None:
    for title in generated():
        for artwork in title.artworks:
            assert len(artwork.cast) <= 2 and set(artwork.cast) <= set(title.cast)
            assert len(artwork.tones) <= 2 and set(artwork.tones) <= set(title.genres)
            if not artwork.tones:
                assert artwork.cast == ()  # a title treatment
            for value in (artwork.visual_quality, artwork.composition):
                assert 0.3 <= value <= 0.95
                assert round(value, 3) == value


def test_no_two_artworks_of_a_title_tie_on_aesthetic_score() -> None:
    for title in demo_titles():
        scores = [round(score(artwork), 6) for artwork in title.artworks]
        assert len(set(scores)) == len(scores), title.title_id


def primaries_of(actor: str) -> set[str]:
    return {by_id()[title_id].genres[0] for title_id in titles_with_cast(actor)}


def test_story_actors_appear_only_where_their_story_fits() -> None:
    assert primaries_of(ROBIN_WILLIAMS) == {"comedy"}
    assert primaries_of(MATT_DAMON) == primaries_of(MINNIE_DRIVER) == {"romance", "drama"}
    assert primaries_of(UMA_THURMAN) == {"crime", "action", "thriller"}
    assert primaries_of(JOHN_TRAVOLTA) == {"crime", "musical"}
    for actor in (MATT_DAMON, MINNIE_DRIVER):
        assert all("comedy" not in by_id()[t].genres for t in titles_with_cast(actor))
    assert not set(titles_with_cast(UMA_THURMAN)) & set(titles_with_cast(JOHN_TRAVOLTA))


def test_robin_williams_is_in_about_a_quarter_of_comedies() -> None:
    comedies = titles_by_genre("comedy")
    assert (len(titles_with_cast(ROBIN_WILLIAMS)), len(comedies)) == (40, 140)


@pytest.mark.parametrize("actor", STORY_ACTORS)
def test_each_story_actor_leads_artwork_in_at_least_15_titles(actor: str) -> None:
    title_ids = titles_with_cast(actor)
    assert len(title_ids) >= 15
    for title_id in title_ids:
        assert any(actor in artwork.cast for artwork in by_id()[title_id].artworks), title_id


def test_helpers_cover_generated_titles_only() -> None:
    assert titles_with_cast(MATT_DAMON)
    assert not set(STORY_TITLE_IDS) & set(titles_with_cast(MATT_DAMON) + titles_by_genre("crime"))
    assert sum(len(titles_by_genre(genre)) for genre in GENRES) == 2400
    assert titles_with_cast("Nobody Atall") == []
