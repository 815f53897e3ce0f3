"""The preview web server as a child process of `keyart run` and of the browser test."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import IO

from suite.supervisor import ServiceProcess, SuiteConfig


def http_ready(address: str, timeout_s: float = 0.5) -> bool:
    try:
        with urllib.request.urlopen(f"http://{address}/healthz", timeout=timeout_s) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def preview_process(config: SuiteConfig, log: IO[bytes] | None = None) -> ServiceProcess:
    """The preview on `config.addresses["preview"]`, talking to the suite's gateway and catalog."""
    return ServiceProcess("preview", config, log, module="preview.server", ready=http_ready)
