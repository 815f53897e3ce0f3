"""A directory given as a local path or a filesystem URL: where the dataset and the models live.

`Location.parse` takes a plain path (`/data/dataset`, `var/models`), a `file://`
URL, or an object store's URL that pyarrow's filesystems read: `s3://bucket/prefix`
(credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, as a Kubernetes Secret
gives them; `?endpoint_override=host:port&scheme=http` for an S3-compatible store),
`gs://bucket/prefix`, `hdfs://host:port/path`. The URL's query options are pyarrow's
(`FileSystem.from_uri`).

Whole-file writes are atomic on both kinds: a reader sees no file, the old one or
the whole new one. On a local disk that is a fsynced temporary file renamed in
(common/atomic_files.py); on an object store, the object is made in full on the
local disk first and then put in one upload, which the store makes visible only
once complete and durable. Names starting with a dot are writers' temporary files;
listings skip them.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pyarrow.fs as pafs  # type: ignore[import-untyped]  # pyarrow ships no type hints

from common.atomic_files import write_file_atomically

_UPLOAD_CHUNK = 8 << 20


class StorageError(Exception):
    """A location that cannot be parsed or reached; the message names it. Not a ValueError or
    OSError, so the readers' handlers of a bad file's contents do not take it for one."""


@dataclass(frozen=True)
class FileStat:
    """What a watcher compares to see that a file changed."""

    mtime_ns: int
    size: int


@dataclass(frozen=True)
class Location:
    """A directory or file on `filesystem` at `path`; `shown` is how messages name it."""

    filesystem: pafs.FileSystem
    path: str
    shown: str

    @classmethod
    def parse(cls, text: str | Path) -> Location:
        text = str(text)
        if not text:
            raise StorageError("an empty location: give a directory or a filesystem URL")
        if "://" not in text:
            return cls.local(Path(text))
        try:
            filesystem, path = pafs.FileSystem.from_uri(text)
        except (ValueError, OSError) as error:
            raise StorageError(f"{text}: not a location keyart can use ({error})") from None
        shown = text.split("?", 1)[0]  # the options may hold an endpoint, never worth repeating
        return cls(filesystem, path.rstrip("/"), shown.rstrip("/"))

    @classmethod
    def local(cls, path: Path) -> Location:
        return cls(pafs.LocalFileSystem(), str(path), str(path))

    def __str__(self) -> str:
        return self.shown

    @property
    def local_path(self) -> Path | None:
        """The path on this machine's disk, or None for a remote store."""
        return Path(self.path) if isinstance(self.filesystem, pafs.LocalFileSystem) else None

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    def __truediv__(self, name: str) -> Location:
        return Location(self.filesystem, f"{self.path}/{name}", f"{self.shown}/{name}")

    def _info(self) -> pafs.FileInfo:
        try:
            return self.filesystem.get_file_info(self.path)
        except OSError as error:
            raise StorageError(f"{self}: cannot be reached ({error})") from None

    def exists(self) -> bool:
        return self._info().type != pafs.FileType.NotFound

    def stat(self) -> FileStat | None:
        """The file's modification time and size; None when there is no such file."""
        info = self._info()
        if info.type != pafs.FileType.File:
            return None
        return FileStat(info.mtime_ns or 0, info.size or 0)

    def read_bytes(self) -> bytes:
        """The whole file; FileNotFoundError when there is none."""
        local = self.local_path
        if local is not None:
            return local.read_bytes()
        if self._info().type != pafs.FileType.File:
            raise FileNotFoundError(str(self))
        with self.filesystem.open_input_stream(self.path) as stream:
            return bytes(stream.read())

    def read_text(self) -> str:
        return self.read_bytes().decode()

    def open_input(self) -> pafs.NativeFile:
        """A seekable reader (what pyarrow.parquet reads from)."""
        return self.filesystem.open_input_file(self.path)

    def write_bytes(self, data: bytes) -> Location:
        """Writes `data` atomically and durably (see the module docstring)."""
        return self.write_with(lambda out: out.write(data))

    def write_with(self, write: Callable[[BinaryIO], object]) -> Location:
        """Has `write` fill the file, atomically and durably (see the module docstring)."""
        local = self.local_path
        if local is not None:
            write_file_atomically(local, write)
            return self
        with tempfile.TemporaryFile() as staged:
            write(staged)
            staged.seek(0)
            self._upload(staged)
        return self

    def _upload(self, source: BinaryIO) -> None:
        try:
            self.filesystem.create_dir(self.path.rsplit("/", 1)[0], recursive=True)
            with self.filesystem.open_output_stream(self.path) as out:
                shutil.copyfileobj(source, out, _UPLOAD_CHUNK)
        except OSError as error:
            raise StorageError(f"{self}: cannot be written ({error})") from None

    def make_directory(self) -> None:
        local = self.local_path
        if local is not None:
            local.mkdir(parents=True, exist_ok=True)
        else:
            self.filesystem.create_dir(self.path, recursive=True)

    def files(self, suffix: str = "", recursive: bool = False) -> list[Location]:
        """The files here whose names end in `suffix`, sorted by path; dot-named ones are left out."""
        selector = pafs.FileSelector(self.path, allow_not_found=True, recursive=recursive)
        try:
            infos = self.filesystem.get_file_info(selector)
        except OSError as error:
            raise StorageError(f"{self}: cannot be listed ({error})") from None
        found = []
        for info in infos:
            relative = info.path[len(self.path) :].lstrip("/")
            if info.type != pafs.FileType.File or not info.base_name.endswith(suffix):
                continue
            if any(part.startswith(".") for part in relative.split("/")):
                continue
            found.append(self / relative)
        return sorted(found, key=lambda location: location.path)

    def delete(self) -> None:
        """Deletes the file or the whole directory; nothing when there is none."""
        info = self._info()
        if info.type == pafs.FileType.Directory:
            self.filesystem.delete_dir(self.path)
        elif info.type == pafs.FileType.File:
            self.filesystem.delete_file(self.path)

    def move_to(self, target: Location) -> None:
        """Renames a file (a copy then a delete on an object store; rerun it after a crash)."""
        target.parent().make_directory()
        self.filesystem.move(self.path, target.path)

    def parent(self) -> Location:
        return Location(self.filesystem, self.path.rsplit("/", 1)[0], self.shown.rsplit("/", 1)[0])

    def children(self) -> list[Location]:
        """The files and directories directly here, dot-named ones too, sorted by path."""
        selector = pafs.FileSelector(self.path, allow_not_found=True)
        try:
            infos = self.filesystem.get_file_info(selector)
        except OSError as error:
            raise StorageError(f"{self}: cannot be listed ({error})") from None
        return sorted((self / info.base_name for info in infos), key=lambda found: found.path)
