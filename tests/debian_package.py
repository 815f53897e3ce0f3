"""The test fixtures' Debian packages: the one copy is suite/debian_package.py."""

from suite.debian_package import installed_binary, stop_server

__all__ = ["installed_binary", "stop_server"]
