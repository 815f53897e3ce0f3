"""The ranker's settings, read once from the environment."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from common import addresses
from common.config import ConfigError, env_choice, env_float, env_int, env_str
from common.server import ServerSettings, settings_from_env
from common.storage import Location, StorageError
from common.tls import ClientTls, client_tls_from_env
from services.ranker.model_watch import SWAP_RULES
from services.ranker.policy import Policy

EXPLORATION_CHOICES = ("off", "epsilon_greedy", "softmax")


@dataclass(frozen=True)
class RankerConfig:
    server: ServerSettings
    model_path: Path
    exploration: str
    epsilon: float
    seed: int
    intra_op_threads: int
    max_candidates: int
    artwork_target: str
    catalog_poll_s: float
    catalog_wait_s: float
    # TLS (mTLS with a client certificate) on the channel to the artwork service.
    artwork_tls: ClientTls | None = None
    temperature: float = 0.05
    sticky_s: int = 0
    model_dir: Location | None = None  # a local directory or a filesystem URL
    model_poll_s: float = 2.0
    min_offline_estimate: float = 0.0
    model_swap: str = (
        "better"  # a SWAP_RULES entry: which valid model files may replace the serving one
    )
    # Experiment cells' models (services/ranker/cell_models.py); None: production only.
    cell_model_dir: Path | None = None

    @classmethod
    def from_env(cls) -> RankerConfig:
        return cls(
            server=settings_from_env("RANKER", addresses.RANKER, 64 << 20),
            model_path=Path(env_str("RANKER_MODEL_PATH", "var/models/bundled.onnx")),
            exploration=env_choice("RANKER_EXPLORATION", "off", EXPLORATION_CHOICES),
            epsilon=env_float("RANKER_EPSILON", 0.1, minimum=0.0, maximum=1.0),
            temperature=env_float("RANKER_TEMPERATURE", 0.05, minimum=1e-4, maximum=100.0),
            sticky_s=env_int("RANKER_STICKY_S", 0, minimum=0),
            seed=env_int("RANKER_SEED", 0, minimum=0),
            intra_op_threads=env_int("RANKER_INTRA_OP_THREADS", 1, minimum=1, maximum=256),
            max_candidates=env_int("RANKER_MAX_CANDIDATES", 50_000, minimum=1),
            artwork_target=env_str("ARTWORK_TARGET", addresses.ARTWORK),
            catalog_poll_s=env_float("RANKER_CATALOG_POLL_S", 2.0, minimum=0.05),
            catalog_wait_s=env_float("RANKER_CATALOG_WAIT_S", 10.0, minimum=0.0),
            artwork_tls=client_tls_from_env("RANKER_ARTWORK"),
            model_dir=_model_dir(),
            model_poll_s=env_float("RANKER_MODEL_POLL_S", 2.0, minimum=0.05, maximum=3600.0),
            min_offline_estimate=env_float("RANKER_MIN_OFFLINE_ESTIMATE", 0.0, minimum=0.0),
            model_swap=env_choice("RANKER_MODEL_SWAP", "better", SWAP_RULES),
            cell_model_dir=_cell_model_dir(),
        )

    def policy(self) -> Policy:
        """The configured exploration policy; greedy when exploration is off."""
        return Policy(
            epsilon=self.epsilon if self.exploration == "epsilon_greedy" else 0.0,
            temperature=self.temperature if self.exploration == "softmax" else 0.0,
            seed=self.seed,
            sticky_s=self.sticky_s,
        )


def _model_dir() -> Location | None:
    """RANKER_MODEL_DIR: a directory or a filesystem URL (common/storage.py); None: unset."""
    model_dir = env_str("RANKER_MODEL_DIR", "")
    if not model_dir:
        return None
    try:
        return Location.parse(model_dir)
    except StorageError as error:
        raise ConfigError(f"RANKER_MODEL_DIR: {error}") from None


def _cell_model_dir() -> Path | None:
    """RANKER_CELL_MODEL_DIR, a local directory which must not be the production models
    directory: its newest file would become the production model."""
    cell_dir = env_str("RANKER_CELL_MODEL_DIR", "")
    if not cell_dir:
        return None
    if "://" in cell_dir:
        raise ConfigError(
            f"RANKER_CELL_MODEL_DIR: {cell_dir.split('?', 1)[0]} is a URL; the experiment "
            "cells' models must be a local directory (a mounted volume)"
        )
    model_dir = env_str("RANKER_MODEL_DIR", "")
    if model_dir and Path(model_dir).resolve() == Path(cell_dir).resolve():
        raise ConfigError(
            "RANKER_CELL_MODEL_DIR: must not be RANKER_MODEL_DIR (its files would be "
            "candidates for the production model)"
        )
    return Path(cell_dir)
