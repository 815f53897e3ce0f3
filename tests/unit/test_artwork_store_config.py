"""ARTWORK_STORE and ARTWORK_CATALOG_POLL_S: which catalog store, and how often it is polled."""

from __future__ import annotations

import pytest

from common.config import ConfigError
from services.artwork.config import ArtworkConfig


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ARTWORK_STORE", "ARTWORK_CATALOG_POLL_S"):
        monkeypatch.delenv(name, raising=False)


def test_the_default_is_the_embedded_sqlite_store_polled_every_two_seconds() -> None:
    config = ArtworkConfig.from_env()
    assert (config.store, config.catalog_poll_s) == ("sqlite", 2.0)


@pytest.mark.parametrize(
    "url", ["postgresql://keyart:pw@db:5432/catalog", "postgres://db/catalog?sslmode=require"]
)
def test_a_postgresql_url_is_taken_as_it_is(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("ARTWORK_STORE", url)
    assert ArtworkConfig.from_env().store == url


@pytest.mark.parametrize("value", ["mysql://keyart:s3cret@db/catalog", "postgres", "redis://db"])
def test_any_other_store_is_refused_naming_the_variable_and_never_the_password(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("ARTWORK_STORE", value)
    with pytest.raises(ConfigError) as caught:
        ArtworkConfig.from_env()
    assert str(caught.value).startswith("ARTWORK_STORE=")
    assert "is neither sqlite nor a postgresql:// URL" in str(caught.value)
    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize(("value", "problem"), [("0.01", "below"), ("7200", "above"), ("x", "not")])
def test_the_poll_interval_is_bounded(
    monkeypatch: pytest.MonkeyPatch, value: str, problem: str
) -> None:
    monkeypatch.setenv("ARTWORK_CATALOG_POLL_S", value)
    with pytest.raises(ConfigError, match=f"ARTWORK_CATALOG_POLL_S=.*{problem}"):
        ArtworkConfig.from_env()
