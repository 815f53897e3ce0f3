"""Artwork service configuration, read once from the environment."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from common import addresses
from common.config import ConfigError, env_int, env_str
from common.server import ServerSettings, settings_from_env

DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
DEFAULT_IMAGE_BASE_URL = f"http://{addresses.PREVIEW}/images"


@dataclass(frozen=True)
class ArtworkConfig:
    server: ServerSettings
    db_path: Path
    image_base_url: str
    max_titles_per_request: int

    @classmethod
    def from_env(cls) -> ArtworkConfig:
        """`ARTWORK_*` variables; ConfigError names the variable holding a bad value."""
        image_base_url = env_str("ARTWORK_IMAGE_BASE_URL", DEFAULT_IMAGE_BASE_URL).rstrip("/")
        if not image_base_url.startswith(("http://", "https://")):
            raise ConfigError(f"ARTWORK_IMAGE_BASE_URL={image_base_url!r} is not an http(s) URL")
        return cls(
            server=settings_from_env("ARTWORK", addresses.ARTWORK, DEFAULT_MAX_MESSAGE_BYTES),
            db_path=Path(env_str("ARTWORK_DB", "var/catalog.db")),
            image_base_url=image_base_url,
            max_titles_per_request=env_int(
                "ARTWORK_MAX_TITLES_PER_REQUEST", 10_000, minimum=1, maximum=1_000_000
            ),
        )
