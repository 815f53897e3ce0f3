"""A real nats-server with JetStream on a free loopback port: installed from Debian when missing."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from suite.debian_package import installed_binary, stop_server
from suite.supervisor import free_address


def nats_server_binary() -> str | None:
    return installed_binary("nats-server", "nats-server")


class NatsServer:
    """JetStream on, its store in `data_dir`: stop() then start() again keeps the streams."""

    def __init__(self, binary: str, data_dir: Path, port: int | None = None) -> None:
        self._binary = binary
        self.data_dir = data_dir
        self.port = port or int(free_address().rsplit(":", 1)[1])
        self.url = f"nats://127.0.0.1:{self.port}"
        data_dir.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        # The child has its own copy of the log descriptor; ours closes once it has started.
        with open(self.data_dir / "nats-server.log", "ab") as log:
            self.process = subprocess.Popen(
                [
                    self._binary,
                    "--jetstream",
                    "--store_dir",
                    str(self.data_dir / "jetstream"),
                    "--addr",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C reaches the owner, which stops it in order
            )
        self._wait_ready()

    def _wait_ready(self, timeout_s: float = 20.0) -> None:
        assert self.process is not None
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    if sock.recv(4).startswith(b"INFO"):  # the server greets every client
                        return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"nats-server did not answer on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            stop_server(self.process)
            self.process = None
