"""The test fixtures' PostgreSQL: the one copy is suite/postgres_server.py."""

from suite.postgres_server import PostgresServer, postgres_binaries

__all__ = ["PostgresServer", "postgres_binaries"]
