"""Fixtures shared by unit and end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.nats_server import NatsServer, nats_server_binary
from tests.postgres_server import PostgresServer, postgres_binaries
from tests.redis_server import RedisServer, redis_server_binary
from tests.s3_server import S3Server


def _binary_or_skip(binary: str | None, package: str) -> str:
    """The server's binary, or the test skipped saying loudly why (its fixture installs
    Debian's package when it can)."""
    if binary is None:
        pytest.skip(
            f"{package.split('-')[0].upper()} TESTS SKIPPED: {package} is not installed and "
            f"cannot be installed here (not root or no apt-get); install Debian's {package} package"
        )
    return binary


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(
        _binary_or_skip(redis_server_binary(), "redis-server"), tmp_path_factory.mktemp("redis")
    )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def nats_binary() -> str:
    """The nats-server program (installed from Debian when missing and root), or a skip."""
    return _binary_or_skip(nats_server_binary(), "nats-server")


@pytest.fixture(scope="module")
def nats_server(nats_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """One per module: a module that stops and restarts it leaves the others alone."""
    server = NatsServer(nats_binary, tmp_path_factory.mktemp("nats"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = S3Server(tmp_path_factory.mktemp("s3"))
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
