"""The test fixtures' nats-server: the one copy is suite/nats_server.py."""

from suite.nats_server import NatsServer, nats_server_binary

__all__ = ["NatsServer", "nats_server_binary"]
