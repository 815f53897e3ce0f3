"""Preview server configuration, read once from the environment."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from common import addresses
from common.config import ConfigError, env_int, env_str
from demo.images import image_dir_from_env


@dataclass(frozen=True)
class PreviewConfig:
    host: str
    port: int
    gateway_target: str
    artwork_target: str
    image_dir: Path
    timeout_s: float
    # The bearer token sent to the gateway when it requires one ("" sends none).
    token: str

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @classmethod
    def from_env(cls) -> PreviewConfig:
        """`PREVIEW_*`, `KEYART_IMAGE_DIR` and `KEYART_TOKEN`; ConfigError names the variable holding a bad value."""
        address = env_str("PREVIEW_ADDRESS", addresses.PREVIEW)
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"PREVIEW_ADDRESS={address!r} is not host:port")
        return cls(
            host=host,
            port=int(port),
            gateway_target=env_str("PREVIEW_GATEWAY_TARGET", addresses.GATEWAY),
            artwork_target=env_str("PREVIEW_ARTWORK_TARGET", addresses.ARTWORK),
            image_dir=image_dir_from_env(),
            timeout_s=env_int("PREVIEW_TIMEOUT_MS", 2_000, minimum=1, maximum=60_000) / 1000,
            token=env_str("KEYART_TOKEN", ""),
        )
