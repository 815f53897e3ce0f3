"""Artwork service configuration, read once from the environment."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from common import addresses
from common.config import ConfigError, env_float, env_int, env_str
from common.server import ServerSettings, settings_from_env

DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
DEFAULT_IMAGE_BASE_URL = f"http://{addresses.PREVIEW}/images"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


@dataclass(frozen=True)
class ArtworkConfig:
    server: ServerSettings
    db_path: Path
    image_base_url: str
    max_titles_per_request: int
    # "sqlite" (the embedded default, at db_path) or a PostgreSQL URL shared by every replica.
    store: str = "sqlite"
    # How often the store's revision is checked for other writers' changes.
    catalog_poll_s: float = 2.0

    @classmethod
    def from_env(cls) -> ArtworkConfig:
        """`ARTWORK_*` variables; ConfigError names the variable holding a bad value."""
        image_base_url = env_str("ARTWORK_IMAGE_BASE_URL", DEFAULT_IMAGE_BASE_URL).rstrip("/")
        if not image_base_url.startswith(("http://", "https://")):
            raise ConfigError(f"ARTWORK_IMAGE_BASE_URL={image_base_url!r} is not an http(s) URL")
        store = env_str("ARTWORK_STORE", "sqlite").strip()
        if store != "sqlite" and not store.startswith(POSTGRES_SCHEMES):
            # Only what follows an "@": a URL's password must not reach the log.
            raise ConfigError(
                f"ARTWORK_STORE={store.split('@')[-1]!r} is neither sqlite nor a postgresql:// URL"
            )
        return cls(
            server=settings_from_env("ARTWORK", addresses.ARTWORK, DEFAULT_MAX_MESSAGE_BYTES),
            db_path=Path(env_str("ARTWORK_DB", "var/catalog.db")),
            image_base_url=image_base_url,
            max_titles_per_request=env_int(
                "ARTWORK_MAX_TITLES_PER_REQUEST", 10_000, minimum=1, maximum=1_000_000
            ),
            store=store,
            catalog_poll_s=env_float("ARTWORK_CATALOG_POLL_S", 2.0, minimum=0.05, maximum=3600.0),
        )
