"""Profile service configuration, read once from the environment."""

from __future__ import annotations

from dataclasses import dataclass

from common import addresses
from common.config import ConfigError, env_choice, env_float, env_str
from common.server import ServerSettings, settings_from_env

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


@dataclass(frozen=True)
class ProfileConfig:
    server: ServerSettings
    # "sqlite" (the embedded default, at db_path) or a Redis URL shared by every replica.
    store: str
    db_path: str
    half_life_days: float
    # SQLite `synchronous`: FULL survives power loss, NORMAL (in WAL mode) only a process crash.
    synchronous: str

    @classmethod
    def from_env(cls) -> ProfileConfig:
        store = env_str("PROFILE_STORE", "sqlite").strip()
        if store != "sqlite" and not store.startswith(REDIS_SCHEMES):
            raise ConfigError(
                f"PROFILE_STORE={store.split('@')[-1]!r} is neither sqlite nor a redis:// URL"
            )
        return cls(
            server=settings_from_env("PROFILE", addresses.PROFILE, 4 << 20),
            store=store,
            db_path=env_str("PROFILE_DB", "var/profile.db"),
            half_life_days=env_float("PROFILE_HALF_LIFE_DAYS", 90.0, minimum=0.01),
            synchronous=env_choice("PROFILE_SYNCHRONOUS", "full", ("full", "normal")),
        )
