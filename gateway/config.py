"""Gateway configuration, read once from the environment."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from common import addresses
from common.config import env_float, env_int, env_str
from common.server import ServerSettings, settings_from_env
from common.tls import ClientTls, client_tls_from_env
from gateway.auth import TokenPolicy, load_token_policy


@dataclass(frozen=True)
class PageLimits:
    """What one RenderPage may ask for; beyond these the request is INVALID_ARGUMENT."""

    max_rows: int
    max_titles_per_row: int
    max_titles_per_page: int
    default_budget_ms: int
    max_budget_ms: int


@dataclass(frozen=True)
class GatewayConfig:
    server: ServerSettings
    profile_target: str
    artwork_target: str
    ranker_target: str
    backend_max_message_bytes: int
    event_timeout_ms: int
    limits: PageLimits
    max_concurrent_pages: int
    catalog_cache_titles: int
    catalog_poll_s: float
    breaker_failures: int
    breaker_open_s: float
    workers: int
    # TLS (mTLS with a client certificate) on the channels to profile, artwork and ranker.
    backend_tls: ClientTls | None = None
    # Bearer tokens and the methods each may call; None = no auth.
    auth: TokenPolicy | None = None
    experiments_file: Path | None = None  # docs/experiments.md; None: no experiments
    experiments_poll_s: float = 2.0

    @classmethod
    def from_env(cls) -> GatewayConfig:
        max_budget_ms = env_int("GATEWAY_MAX_BUDGET_MS", 10_000, minimum=1, maximum=600_000)
        tokens_file = env_str("GATEWAY_AUTH_TOKENS_FILE", "")
        experiments = env_str("GATEWAY_EXPERIMENTS_FILE", "")
        return cls(
            server=settings_from_env("GATEWAY", addresses.GATEWAY, 4 << 20),
            profile_target=env_str("PROFILE_TARGET", addresses.PROFILE),
            artwork_target=env_str("ARTWORK_TARGET", addresses.ARTWORK),
            ranker_target=env_str("RANKER_TARGET", addresses.RANKER),
            backend_max_message_bytes=env_int(
                "GATEWAY_BACKEND_MAX_MESSAGE_BYTES", 64 << 20, minimum=1 << 20, maximum=1 << 30
            ),
            event_timeout_ms=env_int("GATEWAY_EVENT_TIMEOUT_MS", 2_000, minimum=1),
            limits=PageLimits(
                max_rows=env_int("GATEWAY_MAX_ROWS", 100, minimum=1),
                max_titles_per_row=env_int("GATEWAY_MAX_TITLES_PER_ROW", 100, minimum=1),
                max_titles_per_page=env_int("GATEWAY_MAX_TITLES_PER_PAGE", 4_000, minimum=1),
                default_budget_ms=env_int(
                    "GATEWAY_DEFAULT_BUDGET_MS", 250, minimum=1, maximum=max_budget_ms
                ),
                max_budget_ms=max_budget_ms,
            ),
            max_concurrent_pages=env_int("GATEWAY_MAX_CONCURRENT_PAGES", 16, minimum=1),
            catalog_cache_titles=env_int("GATEWAY_CATALOG_CACHE_TITLES", 200_000, minimum=1),
            catalog_poll_s=env_float("GATEWAY_CATALOG_POLL_S", 2.0, minimum=0.05),
            breaker_failures=env_int("GATEWAY_BREAKER_FAILURES", 5, minimum=1),
            breaker_open_s=env_float("GATEWAY_BREAKER_OPEN_S", 1.0, minimum=0.01),
            workers=env_int("GATEWAY_WORKERS", 1, minimum=1, maximum=64),
            backend_tls=client_tls_from_env("GATEWAY_BACKEND"),
            auth=load_token_policy(tokens_file, "GATEWAY_AUTH_TOKENS_FILE")
            if tokens_file
            else None,
            experiments_file=Path(experiments) if experiments else None,
            experiments_poll_s=env_float(
                "GATEWAY_EXPERIMENTS_POLL_S", 2.0, minimum=0.05, maximum=3600.0
            ),
        )
