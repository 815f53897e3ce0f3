"""A catalog's own genre names onto keyart's GENRES: folding, aliases, compounds, the map file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.genre_names import NameMapper, keyart_genres, load_genre_map
from cli.table_file import BadLine

BUILT_IN = {
    "Sci-Fi": ("scifi",),
    "Science Fiction": ("scifi",),
    "science_fiction": ("scifi",),
    "ROMANCE": ("romance",),
    "Romantic": ("romance",),
    "Romance Movies": ("romance",),
    "Kids": ("family",),
    "Children": ("family",),
    "Docs": ("documentary",),
    "Documentaries": ("documentary",),
    "Animated": ("animation",),
    "Anime": ("animation",),
    "Suspense": ("thriller",),
    "Westerns": ("western",),
    "Horror Films": ("horror",),
    "Sci-Fi & Fantasy": ("scifi", "fantasy"),
    "Action and Adventure": ("action", "adventure"),
    "Crime/Thriller": ("crime", "thriller"),
    "Arthouse": None,
    "Horror & Arthouse": None,  # a compound maps only when every part does
    "Shows": None,
}


@pytest.mark.parametrize("name", sorted(BUILT_IN))
def test_built_in_names(name: str) -> None:
    assert keyart_genres(name, {}) == BUILT_IN[name]


def test_a_map_wins_and_may_drop_a_name(tmp_path: Path) -> None:
    path = tmp_path / "map.json"
    path.write_text(json.dumps({"Sci Fi": "fantasy", "Arthouse": ["drama"], "Specials": None}))
    mapper = NameMapper(load_genre_map(path))
    assert mapper.map(["Sci-Fi", "Arthouse", "Specials", "Drama", "Zany"], artwork=False) == (
        ("fantasy", "drama"),
        ["Zany"],
    )
    assert mapper.report.lines() == [
        "mapped 'Arthouse' → drama (1 title)",
        "mapped 'Drama' → drama (1 title)",
        "mapped 'Sci-Fi' → fantasy (1 title)",
        "mapped 'Specials' → (dropped by the map) (1 title)",
        "unmapped 'Zany': left out of the features (1 title)",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1]", 'map.json: expected a JSON object: {"Their name": "keyart-genre", …}'),
        ('{"Noir": 3}', "map.json: 'Noir': must be a genre name, a list of them, or null"),
        ('{"Noir": ["crime", "noir"]}', "map.json: 'Noir': 'noir' is not a keyart genre"),
    ],
)
def test_a_bad_map_names_its_key(
    text: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("map.json").write_text(text)
    with pytest.raises(BadLine) as raised:
        load_genre_map(Path("map.json"))
    assert str(raised.value).startswith(message)
