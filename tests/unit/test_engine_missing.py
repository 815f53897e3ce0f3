"""A store server that is missing and cannot be installed is named, with the command to run."""

from __future__ import annotations

import pytest

from suite.debian_package import EngineMissing, required


def test_a_found_binary_is_returned() -> None:
    assert (
        required("/usr/sbin/nats-server", "nats-server", "nats-server") == "/usr/sbin/nats-server"
    )


def test_a_missing_binary_names_the_package_to_install() -> None:
    with pytest.raises(
        EngineMissing, match=r"nats-server is not installed .*sudo apt-get install nats-server"
    ):
        required(None, "nats-server", "nats-server")
