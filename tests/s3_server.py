"""An S3-compatible object store on a free loopback port, for the object-storage tests.

No S3 server is packaged for Debian, and AWS is out of reach here, so the store is
moto's standalone server (`moto_server`, a dev requirement): a separate process
speaking the S3 HTTP API, which pyarrow's real S3 client talks to over loopback.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

from suite.debian_package import stop_server
from suite.supervisor import free_address

ACCESS_KEY = "keyart-test"
SECRET_KEY = "keyart-test-secret"


class S3Server:
    """`url(prefix)` names a location in a fresh bucket; `env` holds the credentials.
    `port`: listen there (a restart of a stopped server, which comes back empty)."""

    def __init__(self, log_dir: Path, port: int | None = None) -> None:
        self.port = port or int(free_address().rsplit(":", 1)[1])
        self.endpoint = f"127.0.0.1:{self.port}"
        self.env = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
        binary = Path(sys.executable).with_name("moto_server")
        with open(log_dir / "moto_server.log", "ab") as log:
            self.process = subprocess.Popen(
                [str(binary), "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_ready()
        os.environ.update(self.env)  # this process's pyarrow clients, and the children it starts

    def _wait_ready(self, timeout_s: float = 30.0) -> None:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self.process.returncode}")
            try:
                urllib.request.urlopen(f"http://{self.endpoint}/", timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(f"moto_server did not answer on {self.endpoint}")

    def url(self, prefix: str) -> str:
        """A location under a bucket of its own (made on first write)."""
        bucket = f"keyart-{uuid.uuid4().hex[:12]}"
        options = f"endpoint_override={self.endpoint}&scheme=http&region=us-east-1"
        return f"s3://{bucket}/{prefix}?{options}&allow_bucket_creation=true"

    def stop(self) -> None:
        stop_server(self.process)
