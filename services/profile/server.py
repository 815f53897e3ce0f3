"""Profile server: wiring and lifecycle."""

from __future__ import annotations

from keyart.profile.v1 import profile_service_pb2, profile_service_pb2_grpc

from common.server import ServingServer, run_service, run_until_signalled
from common.sqlite_files import CorruptDatabase
from services.profile.config import ProfileConfig
from services.profile.redis_store import RedisProfileStore
from services.profile.servicer import ProfileServicer
from services.profile.sqlite_store import SqliteProfileStore
from services.profile.store import ProfileStore, StoreUnavailable
from services.profile.taste import Decay

SERVICE_NAME = profile_service_pb2.DESCRIPTOR.services_by_name["ProfileService"].full_name


def open_store(config: ProfileConfig) -> ProfileStore:
    """The backend `PROFILE_STORE` names. Blocking; StoreUnavailable when Redis is unreachable."""
    decay = Decay(config.half_life_days)
    if config.store == "sqlite":
        return SqliteProfileStore(config.db_path, decay, config.synchronous)
    return RedisProfileStore(config.store, decay)


async def serve(config: ProfileConfig) -> None:
    servicer = ProfileServicer(open_store(config))
    server = ServingServer(config.server, [SERVICE_NAME])
    profile_service_pb2_grpc.add_ProfileServiceServicer_to_server(servicer, server.server)
    await run_until_signalled(server, service="profile", on_stopped=servicer.close)


def main() -> None:
    run_service("profile", ProfileConfig.from_env, serve, fatal=(StoreUnavailable, CorruptDatabase))


if __name__ == "__main__":
    main()
