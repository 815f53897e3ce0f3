"""The test fixtures' redis-server: the one copy is suite/redis_server.py."""

from suite.redis_server import RedisServer, redis_server_binary

__all__ = ["RedisServer", "redis_server_binary"]
