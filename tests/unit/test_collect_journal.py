"""The collector's journal: sequence sets, and what a restart does after a crash at each step."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped]
import pytest

from common.storage import Location
from learning import collect_journal as journal_files
from learning.collect_journal import SequenceRanges
from learning.parquet_layout import (
    FEEDBACK,
    FEEDBACK_SCHEMA,
    DatasetError,
    parts,
    table_dataset,
    write_feedback,
)
from tests.s3_server import S3Server


def test_sequence_ranges_merge_and_answer_membership() -> None:
    ranges = SequenceRanges()
    ranges.add([5, 3, 4, 9])
    assert ranges.as_lists() == [[3, 5], [9, 9]]
    assert ranges.first_missing() == 1
    ranges.add([1, 2, 6, 7, 8])
    assert ranges.as_lists() == [[1, 9]]
    assert ranges.first_missing() == 10 and ranges.last() == 9 and ranges.count() == 9
    assert 1 in ranges and 9 in ranges and 0 not in ranges and 10 not in ranges
    ranges.add([20, 22])
    assert 21 not in ranges and 22 in ranges and ranges.count() == 11
    assert SequenceRanges(ranges.as_lists()).as_lists() == ranges.as_lists()


def _staged_batch(dataset_root: Location, *event_ids: str) -> Location:
    """A staged batch of one feedback part per event (their dates differ, so do their parts)."""
    batch = journal_files.new_batch(dataset_root)
    table = pa.table(
        {
            "event_id": list(event_ids),
            "viewer_id": ["v"] * len(event_ids),
            "page_id": ["p"] * len(event_ids),
            "title_id": ["t"] * len(event_ids),
            "artwork_id": ["a"] * len(event_ids),
            "kind": ["QUALIFIED_PLAY"] * len(event_ids),
            "time_ms": [1_700_000_000_000 + i * 86_400_000 for i in range(len(event_ids))],
        },
        schema=FEEDBACK_SCHEMA,
    )
    write_feedback(batch, table, batch.name)
    return batch


def _event_ids(dataset_root: Location) -> list[str]:
    return sorted(table_dataset(dataset_root, FEEDBACK).to_table().column("event_id").to_pylist())


def _batches_left(dataset_root: Location) -> list[str]:
    return [
        entry.name
        for entry in (dataset_root / journal_files.STAGING).children()
        if entry.name.startswith(journal_files.BATCH_PREFIX)
    ]


def test_a_batch_staged_but_not_committed_is_removed_at_restart(dataset_root: Location) -> None:
    journal = journal_files.read_journal(dataset_root)
    _staged_batch(dataset_root, "e1")  # the crash: before the journal names it
    journal_files.recover(dataset_root, journal_files.read_journal(dataset_root))
    assert parts(dataset_root, FEEDBACK) == []
    assert _batches_left(dataset_root) == []
    assert journal.stream("KEYART_FEEDBACK").committed.count() == 0


def test_a_committed_batch_not_yet_moved_in_is_finished_at_restart(dataset_root: Location) -> None:
    journal = journal_files.read_journal(dataset_root)
    batch = _staged_batch(dataset_root, "e1")
    journal.stream("KEYART_FEEDBACK").committed.add([1])
    journal.moving = batch.name
    journal_files.write_journal(dataset_root, journal)  # the crash: before the files moved in
    reread = journal_files.read_journal(dataset_root)
    journal_files.recover(dataset_root, reread)
    assert _event_ids(dataset_root) == ["e1"]
    assert not batch.exists()
    assert 1 in reread.stream("KEYART_FEEDBACK").committed


def test_a_batch_left_half_moved_is_finished_once_at_restart(dataset_root: Location) -> None:
    """The crash came mid-move: one part moved in, one copied but not yet deleted from the
    batch (an object store's move is a copy, then a delete), one not moved at all."""
    journal = journal_files.read_journal(dataset_root)
    batch = _staged_batch(dataset_root, "e1", "e2", "e3")
    journal.stream("KEYART_FEEDBACK").committed.add([1, 2, 3])
    journal.moving = batch.name
    journal_files.write_journal(dataset_root, journal)
    staged = batch.files(".parquet", recursive=True)
    assert len(staged) == 3

    def final(part: Location) -> Location:
        return dataset_root / part.path[len(batch.path) + 1 :]

    staged[0].move_to(final(staged[0]))
    final(staged[1]).write_bytes(staged[1].read_bytes())
    journal_files.recover(dataset_root, journal_files.read_journal(dataset_root))
    assert _event_ids(dataset_root) == ["e1", "e2", "e3"]
    assert len(parts(dataset_root, FEEDBACK)) == 3
    assert not batch.exists() and _batches_left(dataset_root) == []
    journal_files.recover(
        dataset_root, journal_files.read_journal(dataset_root)
    )  # and a second restart
    assert _event_ids(dataset_root) == ["e1", "e2", "e3"]


def test_commit_moves_the_batch_in_and_records_its_sequences(dataset_root: Location) -> None:
    journal = journal_files.read_journal(dataset_root)
    batch = _staged_batch(dataset_root, "e1")
    journal_files.commit(dataset_root, journal, batch, {"KEYART_FEEDBACK": [4, 5]})
    reread = journal_files.read_journal(dataset_root)
    assert reread.stream("KEYART_FEEDBACK").committed.as_lists() == [[4, 5]]
    assert reread.totals.messages == 2 and reread.totals.last_commit_ms > 0
    assert _event_ids(dataset_root) == ["e1"] and not batch.exists()


def test_a_second_writer_is_refused_while_the_first_holds_the_lock(tmp_path: Path) -> None:
    held = journal_files.lock(Location.local(tmp_path))
    assert held is not None
    with pytest.raises(DatasetError, match="another collector"):
        journal_files.lock(Location.local(tmp_path))
    held.close()
    again = journal_files.lock(Location.local(tmp_path))
    assert again is not None
    again.close()


def test_an_object_store_dataset_takes_no_lock(s3_server: S3Server) -> None:
    """An object store has no flock: one collector per dataset is the deployment's job."""
    assert journal_files.lock(Location.parse(s3_server.url("dataset"))) is None


def test_an_unreadable_journal_is_named(tmp_path: Path) -> None:
    (tmp_path / journal_files.JOURNAL).write_text('{"schema": "other/1"}')
    with pytest.raises(DatasetError, match=r"collected\.json"):
        journal_files.read_journal(Location.local(tmp_path))
