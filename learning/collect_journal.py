"""What the collector has put into the dataset, so that each stream message lands there once.

The journal (`DATASET/collected.json`) holds, per stream, the sequence numbers
already in the dataset, as merged ranges. A batch of messages is committed in
three steps, each of which a crash may interrupt:

1. its part files are written under `DATASET/.collect/<batch>/`, mirroring the
   dataset's layout (no reader looks there);
2. the journal is replaced (atomically, durably) with the batch's sequences
   added and the batch named as `moving`;
3. the staged files are renamed into the dataset and the batch directory removed.

Only then are the messages acknowledged. At start (`recover`), a `moving`
batch is finished (its remaining files renamed in) and any other batch
directory is deleted: it was never committed, and its messages were never
acknowledged, so they come again. A message whose sequence the journal holds
is acknowledged and skipped: it is in the dataset already (a crash between
step 3 and the acknowledgement, or an acknowledgement lost).

DATASET is a Location (common/storage.py). On a local disk a rename is
os.replace, and the directory is fsynced. On an object store there is no
rename: a file is moved by a copy and then a delete (`Location.move_to`), so a
crash may leave a file both staged and in place. Step 3 is rerun from the
staged files that are left: a file already moved is no longer staged and is
not moved again; one copied and not yet deleted is copied again over the same
bytes. The journal and the uploads are durable once their PUT returned.

One collector writes a dataset at a time. On a local disk `lock` takes an flock
on `DATASET/.collect/lock` for the process's life; an object store has no such
lock, so there that is the deployment's job (one replica, strategy Recreate:
k8s/, docs/collector.md) and `lock` takes none.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO

from common.storage import Location
from learning.parquet_layout import DatasetError

JOURNAL = "collected.json"
STAGING = ".collect"
SCHEMA = "keyart-collect/1"
BATCH_PREFIX = "batch-"  # staged batches; other entries of STAGING (the lock, caches) stay


class SequenceRanges:
    """A set of stream sequence numbers, kept as sorted, merged, inclusive [first, last] ranges."""

    def __init__(self, ranges: Iterable[Iterable[int]] = ()) -> None:
        self._ranges: list[list[int]] = []
        for first, last in ranges:
            self._add_range(int(first), int(last))

    def __contains__(self, sequence: int) -> bool:
        i = bisect_right(self._ranges, [sequence, float("inf")]) - 1
        return i >= 0 and self._ranges[i][0] <= sequence <= self._ranges[i][1]

    def add(self, sequences: Iterable[int]) -> None:
        run: list[int] = []  # [first, last] of the consecutive run being gathered
        for sequence in sorted(sequences):
            if run and sequence <= run[1] + 1:
                run[1] = max(run[1], sequence)
                continue
            if run:
                self._add_range(*run)
            run = [sequence, sequence]
        if run:
            self._add_range(*run)

    def _add_range(self, first: int, last: int) -> None:
        merged = [first, last]
        kept = []
        for existing in self._ranges:
            if existing[1] + 1 < merged[0] or merged[1] + 1 < existing[0]:
                kept.append(existing)
            else:
                merged = [min(merged[0], existing[0]), max(merged[1], existing[1])]
        kept.append(merged)
        self._ranges = sorted(kept)

    def first_missing(self) -> int:
        """The lowest sequence (from 1) not in the set: where delivery must resume."""
        if self._ranges and self._ranges[0][0] == 1:
            return self._ranges[0][1] + 1
        return 1

    def last(self) -> int:
        """The highest sequence in the set (0 when empty)."""
        return self._ranges[-1][1] if self._ranges else 0

    def count(self) -> int:
        return sum(last - first + 1 for first, last in self._ranges)

    def as_lists(self) -> list[list[int]]:
        return [list(r) for r in self._ranges]


@dataclass
class StreamState:
    committed: SequenceRanges = field(default_factory=SequenceRanges)


@dataclass
class Totals:
    """What the collector has added to the dataset, over its whole life."""

    messages: int = 0
    decisions: int = 0
    feedback: int = 0
    action_sets: int = 0
    parts: int = 0
    skipped_decisions: int = 0  # catalog version never found: counted, not collected
    last_commit_ms: int = 0


@dataclass
class Journal:
    streams: dict[str, StreamState] = field(default_factory=dict)
    totals: Totals = field(default_factory=Totals)
    moving: str | None = None  # a batch directory whose files may not all be renamed in yet

    def stream(self, name: str) -> StreamState:
        return self.streams.setdefault(name, StreamState())

    def to_json(self) -> bytes:
        document = {
            "schema": SCHEMA,
            "streams": {
                name: {"committed": state.committed.as_lists()}
                for name, state in sorted(self.streams.items())
            },
            "totals": asdict(self.totals),
            "moving": self.moving,
        }
        return (json.dumps(document, indent=1) + "\n").encode()


def read_journal(root: Location) -> Journal:
    path = root / JOURNAL
    try:
        document = json.loads(path.read_text())
        if document.get("schema") != SCHEMA:
            raise DatasetError(f"{path}: schema {document.get('schema')!r}, expected {SCHEMA!r}")
        return Journal(
            streams={
                name: StreamState(SequenceRanges(state["committed"]))
                for name, state in document["streams"].items()
            },
            totals=Totals(**document["totals"]),
            moving=document["moving"],
        )
    except FileNotFoundError:
        return Journal()
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DatasetError(f"{path}: unreadable journal ({error!r})") from None


def write_journal(root: Location, journal: Journal) -> None:
    (root / JOURNAL).write_bytes(journal.to_json())


def lock(root: Location) -> IO[bytes] | None:
    """Holds a local dataset for this collector (released when the process ends); None for
    an object store, which has no lock (see the module docstring)."""
    local = root.local_path
    if local is None:
        return None
    (local / STAGING).mkdir(parents=True, exist_ok=True)
    handle = open(local / STAGING / "lock", "ab")  # noqa: SIM115 - held for the process's life
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise DatasetError(f"{root}: another collector is writing this dataset") from None
    return handle


def new_batch(root: Location) -> Location:
    """An empty staging directory for one batch, named uniquely (its parts take the name)."""
    batch = root / STAGING / f"{BATCH_PREFIX}{time.time_ns()}-{os.getpid()}"
    batch.make_directory()
    return batch


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _move(staged: Location, final: Location) -> None:
    local = staged.local_path
    if local is None:
        staged.move_to(final)  # a copy, then a delete: see the module docstring
        return
    target = Path(final.path)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(local, target)
    _fsync_directory(target.parent)


def move_in(root: Location, batch: Location) -> int:
    """Renames the batch's staged files to the same places in the dataset and removes the
    batch; returns how many were moved. Rerun after a crash, it moves those still staged."""
    moved = 0
    for staged in batch.files(".parquet", recursive=True):
        _move(staged, root / staged.path[len(batch.path) + 1 :])
        moved += 1
    batch.delete()
    return moved


def commit(
    root: Location, journal: Journal, batch: Location, sequences: dict[str, list[int]]
) -> None:
    """Steps 2 and 3 of the module docstring, for a batch whose files are staged in `batch`."""
    for stream, numbers in sequences.items():
        journal.stream(stream).committed.add(numbers)
    journal.totals.messages += sum(len(numbers) for numbers in sequences.values())
    journal.totals.last_commit_ms = int(time.time() * 1000)
    journal.moving = batch.name
    write_journal(root, journal)
    move_in(root, batch)


def recover(root: Location, journal: Journal) -> None:
    """Finishes the batch a crash left moving and removes batches never committed."""
    staging = root / STAGING
    if journal.moving and (staging / journal.moving).exists():
        move_in(root, staging / journal.moving)
    for leftover in staging.children():
        if leftover.name.startswith(BATCH_PREFIX):
            leftover.delete()
