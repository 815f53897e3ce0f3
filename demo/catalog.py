"""The deterministic demo catalog: the two story titles plus 2,400 generated ones.

Pure and seeded: the same titles, names and AVA tags on every machine and in
every process (no set iteration, no hash-dependent order, no I/O).
"""

from __future__ import annotations

import functools
import itertools
import random

from common.features import GENRES, aesthetic_score
from demo.layout import face_boxes
from services.artwork.model import Artwork, Title

SEED = 20240611
GENERATED_TITLE_COUNT = 2400
CAST_POOL_SIZE = 200

ROBIN_WILLIAMS = "Robin Williams"
MATT_DAMON = "Matt Damon"
MINNIE_DRIVER = "Minnie Driver"
UMA_THURMAN = "Uma Thurman"
JOHN_TRAVOLTA = "John Travolta"


def _drawn(
    artwork_id: str,
    cast: tuple[str, ...],
    tones: tuple[str, ...],
    visual_quality: float,
    composition: float,
) -> Artwork:
    """A demo candidate with face boxes where demo.images draws its featured cast's faces."""
    return Artwork(artwork_id, cast, tones, visual_quality, composition, face_boxes(len(cast)))


STORY_TITLES: tuple[Title, ...] = (
    Title(
        title_id="good-will-hunting",
        name="Good Will Hunting",
        genres=("drama", "romance"),
        cast=(MATT_DAMON, ROBIN_WILLIAMS, MINNIE_DRIVER, "Ben Affleck"),
        artworks=(
            _drawn(
                artwork_id="good-will-hunting/damon-driver",
                cast=(MATT_DAMON, MINNIE_DRIVER),
                tones=("romance", "drama"),
                visual_quality=0.84,
                composition=0.78,
            ),
            _drawn(
                artwork_id="good-will-hunting/robin-williams",
                cast=(ROBIN_WILLIAMS,),
                tones=("comedy", "drama"),
                visual_quality=0.82,
                composition=0.76,
            ),
            _drawn("good-will-hunting/neutral", (), (), visual_quality=0.88, composition=0.8),
        ),
    ),
    Title(
        title_id="pulp-fiction",
        name="Pulp Fiction",
        genres=("crime", "thriller"),
        cast=(UMA_THURMAN, JOHN_TRAVOLTA, "Samuel L. Jackson", "Bruce Willis"),
        artworks=(
            _drawn(
                artwork_id="pulp-fiction/uma-thurman",
                cast=(UMA_THURMAN,),
                tones=("crime", "thriller"),
                visual_quality=0.85,
                composition=0.77,
            ),
            _drawn(
                artwork_id="pulp-fiction/john-travolta",
                cast=(JOHN_TRAVOLTA,),
                tones=("crime", "thriller"),
                visual_quality=0.83,
                composition=0.79,
            ),
            _drawn("pulp-fiction/neutral", (), (), visual_quality=0.89, composition=0.81),
        ),
    ),
)
STORY_TITLE_IDS: tuple[str, ...] = tuple(title.title_id for title in STORY_TITLES)

# The genres a title of each primary genre may also carry.
SECONDARY_GENRES: dict[str, tuple[str, ...]] = {
    "action": ("adventure", "thriller", "scifi", "crime"),
    "adventure": ("action", "fantasy", "family"),
    "animation": ("family", "comedy", "adventure"),
    "comedy": ("family", "animation", "romance"),
    "crime": ("thriller", "drama", "action"),
    "documentary": ("drama",),
    "drama": ("romance", "crime", "mystery"),
    "family": ("animation", "comedy", "adventure"),
    "fantasy": ("adventure", "family"),
    "horror": ("thriller", "mystery"),
    "musical": ("romance", "comedy", "drama"),
    "mystery": ("thriller", "crime", "drama"),
    "romance": ("drama", "musical"),
    "scifi": ("action", "thriller", "adventure"),
    "thriller": ("crime", "mystery", "action"),
    "western": ("action", "adventure", "drama"),
}

# (actor, primary genres of the generated titles they may join, chance per such title)
STORY_CASTING: tuple[tuple[str, tuple[str, ...], float], ...] = (
    (ROBIN_WILLIAMS, ("comedy",), 0.35),
    (MATT_DAMON, ("romance", "drama"), 0.15),
    (MINNIE_DRIVER, ("romance", "drama"), 0.15),
    (UMA_THURMAN, ("crime", "action", "thriller"), 0.15),
    (JOHN_TRAVOLTA, ("crime", "musical"), 0.2),
)
STORY_ACTORS: tuple[str, ...] = tuple(actor for actor, _, _ in STORY_CASTING)
NEVER_TOGETHER: tuple[str, ...] = (UMA_THURMAN, JOHN_TRAVOLTA)

_FIRST_NAMES = (
    "Ada", "Bram", "Celia", "Dario", "Elena", "Felix", "Greta", "Hugo", "Ines", "Jonah",
    "Kira", "Lionel", "Mara", "Nico", "Olive", "Pavel", "Quinn", "Rosa", "Silas", "Tessa",
    "Ulric", "Vera", "Wes", "Xenia", "Yusuf", "Zora", "Amos", "Bette", "Cyrus", "Delia",
)  # fmt: skip
_LAST_NAMES = (
    "Ashford", "Brennan", "Calloway", "Delacroix", "Ellery", "Fairbanks", "Garrow", "Hollis",
    "Iverson", "Jessup", "Kettering", "Lindqvist", "Marlowe", "Navarro", "Okafor", "Pemberton",
    "Quarry", "Rourke", "Sandoval", "Thackeray", "Underhill", "Valdez", "Whitlock", "Yardley",
    "Zeller", "Abernathy", "Blackwood", "Crane", "Dunmore", "Everly",
)  # fmt: skip
_ADJECTIVES = (
    "Silent", "Crimson", "Last", "Hidden", "Broken", "Golden", "Midnight", "Distant", "Wild",
    "Hollow", "Burning", "Frozen", "Restless", "Forgotten", "Velvet", "Iron", "Paper", "Lonely",
    "Electric", "Quiet", "Savage", "Gentle", "Endless", "Scarlet", "Secret", "Fading", "Bright",
)  # fmt: skip
_NOUNS = (
    "Harbor", "Summer", "Witness", "Garden", "Frontier", "Promise", "Letter", "Kingdom",
    "Horizon", "Echo", "Orchard", "Signal", "Voyage", "Lantern", "Reckoning", "Carnival",
    "Tide", "Compass", "Verdict", "Ballad", "Outpost", "Mirror", "Harvest", "Comet", "Alibi",
)  # fmt: skip
_PLACES = (
    "Verona", "Marrakesh", "the North", "Eastwater", "Havana", "the Valley", "Lisbon",
    "Red Rock", "Saint Clair", "the Delta", "Kyoto", "Brighton", "the Pines", "Odessa",
)  # fmt: skip
_TITLE_TEMPLATES = (
    "The {adjective} {noun}",
    "{adjective} {noun}",
    "{noun} of {place}",
    "A {noun} in {place}",
    "The {noun} Years",
    "{adjective} in {place}",
)
TITLE_TREATMENT_CHANCE = 0.1
SECOND_CAST_WITH_LEAD_CHANCE = 0.4
SECONDARY_GENRE_CHANCE = 0.55
# Most titles have the reference page's 8 candidates (DESIGN.md: 40 x 40 titles x 8),
# enough for that page to be made of distinct titles; the rest have 4-10.
REFERENCE_CANDIDATES = 8
REFERENCE_CANDIDATES_SHARE = 0.75


def _cast_pool(rng: random.Random) -> list[str]:
    names = [f"{first} {last}" for first, last in itertools.product(_FIRST_NAMES, _LAST_NAMES)]
    return rng.sample(names, CAST_POOL_SIZE)


def _title_name(rng: random.Random, taken: set[str]) -> str:
    while True:
        name = rng.choice(_TITLE_TEMPLATES).format(
            adjective=rng.choice(_ADJECTIVES), noun=rng.choice(_NOUNS), place=rng.choice(_PLACES)
        )
        if name not in taken:
            taken.add(name)
            return name


def _genres(rng: random.Random) -> tuple[str, ...]:
    primary = rng.choice(GENRES)
    if rng.random() < SECONDARY_GENRE_CHANCE:
        return primary, rng.choice(SECONDARY_GENRES[primary])
    return (primary,)


def _story_cast(rng: random.Random, primary: str) -> list[str]:
    cast: list[str] = []
    for actor, primaries, chance in STORY_CASTING:
        if primary not in primaries or rng.random() >= chance:
            continue
        if actor in NEVER_TOGETHER and any(other in NEVER_TOGETHER for other in cast):
            continue
        cast.append(actor)
    return cast


def _tags(
    rng: random.Random, genres: tuple[str, ...], cast: tuple[str, ...], lead: str | None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(cast, tones) of one artwork: featuring `lead` if given, else maybe a title treatment."""
    if lead is not None:
        others = [name for name in cast if name != lead]
        featured = (lead, *rng.sample(others, int(rng.random() < SECOND_CAST_WITH_LEAD_CHANCE)))
    elif rng.random() < TITLE_TREATMENT_CHANCE:
        return (), ()
    else:
        featured = tuple(rng.sample(cast, rng.randint(0, 2)))
    return featured, tuple(rng.sample(genres, rng.randint(1, len(genres))))


def _quality(rng: random.Random, taken_scores: set[float]) -> tuple[float, float]:
    """(visual_quality, composition) whose aesthetic score no sibling artwork has."""
    while True:
        visual_quality = round(rng.uniform(0.3, 0.95), 3)
        composition = round(rng.uniform(0.3, 0.95), 3)
        score = round(aesthetic_score(visual_quality, composition), 6)
        if score not in taken_scores:
            taken_scores.add(score)
            return visual_quality, composition


def _artworks(
    rng: random.Random,
    title_id: str,
    genres: tuple[str, ...],
    cast: tuple[str, ...],
    leads: list[str],
) -> tuple[Artwork, ...]:
    """4-10 candidates; the first ones feature the title's story actors, one each."""
    scores: set[float] = set()
    artworks = []
    reference = rng.random() < REFERENCE_CANDIDATES_SHARE
    for index in range(REFERENCE_CANDIDATES if reference else rng.randint(4, 10)):
        featured, tones = _tags(rng, genres, cast, leads[index] if index < len(leads) else None)
        artwork_id = f"{title_id}/a{index + 1:02d}"
        artworks.append(_drawn(artwork_id, featured, tones, *_quality(rng, scores)))
    return tuple(artworks)


def generate_titles(seed: int = SEED) -> tuple[Title, ...]:
    """The story titles followed by the generated ones, `title-00001` onwards."""
    rng = random.Random(seed)
    pool = _cast_pool(rng)
    taken_names = {title.name for title in STORY_TITLES}
    titles = list(STORY_TITLES)
    for number in range(1, GENERATED_TITLE_COUNT + 1):
        title_id = f"title-{number:05d}"
        name = _title_name(rng, taken_names)
        genres = _genres(rng)
        leads = _story_cast(rng, genres[0])
        cast = (*leads, *rng.sample(pool, rng.randint(3, 5) - len(leads)))
        artworks = _artworks(rng, title_id, genres, cast, leads)
        titles.append(Title(title_id, name, genres, cast, artworks))
    return tuple(titles)


@functools.cache
def demo_titles() -> tuple[Title, ...]:
    return generate_titles()


def _generated_titles() -> tuple[Title, ...]:
    return demo_titles()[len(STORY_TITLES) :]


def titles_by_genre(genre: str) -> list[str]:
    """Generated titles (not the story ones) whose primary genre is `genre`."""
    return [title.title_id for title in _generated_titles() if title.genres[0] == genre]


def titles_with_cast(name: str) -> list[str]:
    """Generated titles (not the story ones) with `name` in their cast."""
    return [title.title_id for title in _generated_titles() if name in title.cast]
