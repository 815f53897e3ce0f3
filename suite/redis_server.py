"""A real redis-server on a free loopback port: installed from Debian when missing."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import redis

from suite.debian_package import installed_binary, stop_server
from suite.supervisor import free_address


def redis_server_binary() -> str | None:
    return installed_binary("redis-server", "redis-server")


class RedisServer:
    """Durable as keyart's Redis should be: AOF on, fsync before every reply."""

    def __init__(self, binary: str, data_dir: Path, port: int | None = None) -> None:
        self.port = port or int(free_address().rsplit(":", 1)[1])
        self.url = f"redis://127.0.0.1:{self.port}/0"
        data_dir.mkdir(parents=True, exist_ok=True)
        # The child has its own copy of the log descriptor; ours closes once it has started.
        with open(data_dir / "redis.log", "ab") as log:
            self.process = subprocess.Popen(
                [
                    binary,
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--dir",
                    str(data_dir),
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    "always",
                    "--save",
                    "",
                    "--daemonize",
                    "no",
                    "--protected-mode",
                    "yes",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C reaches the owner, which stops it in order
            )
        self._wait_ready()

    def _wait_ready(self, timeout_s: float = 20.0) -> None:
        end = time.monotonic() + timeout_s
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        while time.monotonic() < end:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            try:
                client.ping()
                client.close()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise TimeoutError(f"redis-server did not answer on port {self.port}")

    def flush(self) -> None:
        with redis.Redis.from_url(self.url) as client:
            client.flushall()

    def stop(self) -> None:
        stop_server(self.process)
