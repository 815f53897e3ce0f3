"""The viewer's cast block: only the names a viewer keeps coming back to."""

from __future__ import annotations

import numpy as np

from common.features import CAST_BLOCK, cast_slot, standout_cast, viewer_vector


def test_favourites_stand_out_of_a_crowd_of_co_stars() -> None:
    weights = {"Fav One": 8.0, "Fav Two": 6.0, **{f"Co Star {i}": 1.0 for i in range(120)}}
    assert standout_cast(weights) == {"Fav One": 8.0, "Fav Two": 6.0}


def test_when_no_name_stands_apart_all_count() -> None:
    cast = {"Uma Thurman": 1.0, "John Travolta": 1.0, "Bruce Willis": 1.0}
    assert standout_cast(cast) == cast
    assert standout_cast({"Uma Thurman": 0.3}) == {"Uma Thurman": 0.3}
    assert standout_cast({}) == {}


def test_the_strongest_name_always_counts() -> None:
    # With two names, no value can lie two standard deviations above the mean.
    assert standout_cast({"Uma Thurman": 8.0, "John Travolta": 1.0}) == {"Uma Thurman": 8.0}


def test_viewer_vector_hashes_only_the_standouts() -> None:
    co_stars = {f"Co Star {i}": 1.0 for i in range(120)}
    vector = viewer_vector({}, {"Uma Thurman": 8.0, **co_stars})
    slot, sign = cast_slot("Uma Thurman")
    expected = np.zeros(CAST_BLOCK.stop - CAST_BLOCK.start, dtype=np.float32)
    expected[slot] = sign
    np.testing.assert_array_equal(vector[CAST_BLOCK], expected)
