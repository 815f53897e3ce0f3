"""AVA settings, read once from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from common.config import env_float, env_int, env_str


@dataclass(frozen=True)
class AvaConfig:
    image_dir: Path
    workers: int
    samples_per_second: float
    frames_per_shot: int

    @classmethod
    def from_env(cls) -> AvaConfig:
        """`KEYART_IMAGE_DIR` and `AVA_*`; ConfigError names the variable holding a bad value."""
        return cls(
            image_dir=Path(env_str("KEYART_IMAGE_DIR", "var/images")),
            workers=env_int("AVA_WORKERS", os.cpu_count() or 1, minimum=1, maximum=256),
            samples_per_second=env_float("AVA_SAMPLES_PER_SECOND", 4.0, minimum=0.1, maximum=120.0),
            frames_per_shot=env_int("AVA_FRAMES_PER_SHOT", 2, minimum=1, maximum=50),
        )
