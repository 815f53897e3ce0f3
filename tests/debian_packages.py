"""Commands the tests need from Debian's packages: installed when missing, as CI's root does."""

from __future__ import annotations

import os
import shutil
import subprocess


def debian_command(command: str, package: str) -> str | None:
    """`command` on PATH; as root, installs Debian's `package` first when it is missing."""
    found = shutil.which(command)
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True, env=env)
    return shutil.which(command)
