"""Fixtures shared by unit and end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.nats_server import NatsServer, nats_server_binary
from tests.postgres_server import PostgresServer, postgres_binaries
from tests.redis_server import RedisServer, redis_server_binary


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    binary = redis_server_binary()
    if binary is None:
        pytest.skip(
            "REDIS TESTS SKIPPED: redis-server is not installed and cannot be installed here "
            "(not root or no apt-get); install Debian's redis-server package"
        )
    server = RedisServer(binary, tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """One per module: a module that stops and restarts it leaves the others alone."""
    binary = nats_server_binary()
    if binary is None:
        pytest.skip(
            "NATS TESTS SKIPPED: nats-server is not installed and cannot be installed here "
            "(not root or no apt-get); install Debian's nats-server package"
        )
    server = NatsServer(binary, tmp_path_factory.mktemp("nats"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    binaries = postgres_binaries()
    if binaries is None:
        pytest.skip(
            "POSTGRESQL TESTS SKIPPED: PostgreSQL is not installed and cannot be installed here "
            "(not root or no apt-get); install Debian's postgresql package"
        )
    server = PostgresServer(binaries)
    yield server
    server.remove()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A new, empty database on the session's server, for this test alone."""
    return postgres_server.fresh_database()
