"""Servers from Debian's packages, installed when missing (as CI's .ci/run does)."""

from __future__ import annotations

import os
import shutil
import subprocess


class EngineMissing(RuntimeError):
    """A server program is not installed and this process cannot install it."""


def can_install() -> bool:
    """Installing needs root and apt-get (as in CI's containers); elsewhere, nothing is tried."""
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


def install_package(package: str) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True, env=env)


def installed_binary(command: str, package: str) -> str | None:
    """`command` on PATH; as root, installs Debian's `package` first when it is missing."""
    found = shutil.which(command)
    if found or not can_install():
        return found
    install_package(package)
    return shutil.which(command)


def required(found: str | None, command: str, package: str) -> str:
    """`found`, or EngineMissing saying how to install `package`."""
    if found is None:
        raise EngineMissing(
            f"{command} is not installed and this user cannot install it (needs root and "
            f"apt-get): run `sudo apt-get install {package}`, then try again"
        )
    return found


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if the server has not exited within 10 s."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
