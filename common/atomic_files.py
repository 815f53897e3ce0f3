"""Whole-file writes that a reader (or a crash) never sees half done."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def write_atomically(path: Path, data: bytes) -> Path:
    """Writes `data` to `path` atomically and durably (see `write_file_atomically`)."""
    return write_file_atomically(path, lambda temp: temp.write(data))


def write_file_atomically(path: Path, write: Callable[[BinaryIO], object]) -> Path:
    """Has `write` fill a temporary file beside `path`, then renames it in (so a large
    file is written as it is made, never held whole in memory).

    A reader sees no file, the old one or the whole new one. The file and its
    directory entry are fsynced, so the new file survives a crash once this
    returns. The temporary name starts with a dot (watchers skip such files) and
    is unique, so two writers of the same path do not trip over each other.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as temp:
            os.fchmod(temp.fileno(), 0o644)  # mkstemp's 0600 would hide it from a serving user
            write(temp)
            temp.flush()
            os.fsync(temp.fileno())
        os.replace(temp_name, path)
    except BaseException:
        os.unlink(temp_name)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return path
