"""The collector's journal: sequence sets, and what a restart does after a crash at each step."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped]
import pytest

from learning import collect_journal as journal_files
from learning.collect_journal import SequenceRanges
from learning.parquet_layout import FEEDBACK, FEEDBACK_SCHEMA, DatasetError, parts, write_feedback


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


def _staged_batch(root: Path, event_id: str) -> Path:
    batch = journal_files.new_batch(root)
    table = pa.table(
        {
            "event_id": [event_id],
            "viewer_id": ["v"],
            "page_id": ["p"],
            "title_id": ["t"],
            "artwork_id": ["a"],
            "kind": ["QUALIFIED_PLAY"],
            "time_ms": [1_700_000_000_000],
        },
        schema=FEEDBACK_SCHEMA,
    )
    write_feedback(batch, table, batch.name)
    return batch


def test_a_batch_staged_but_not_committed_is_removed_at_restart(tmp_path: Path) -> None:
    journal = journal_files.read_journal(tmp_path)
    _staged_batch(tmp_path, "e1")  # the crash: before the journal names it
    journal_files.recover(tmp_path, journal_files.read_journal(tmp_path))
    assert parts(tmp_path, FEEDBACK) == []
    assert list((tmp_path / journal_files.STAGING).glob("batch-*")) == []
    assert journal.stream("KEYART_FEEDBACK").committed.count() == 0


def test_a_committed_batch_not_yet_moved_in_is_finished_at_restart(tmp_path: Path) -> None:
    journal = journal_files.read_journal(tmp_path)
    batch = _staged_batch(tmp_path, "e1")
    journal.stream("KEYART_FEEDBACK").committed.add([1])
    journal.moving = batch.name
    journal_files.write_journal(tmp_path, journal)  # the crash: before the files moved in
    reread = journal_files.read_journal(tmp_path)
    journal_files.recover(tmp_path, reread)
    assert len(parts(tmp_path, FEEDBACK)) == 1
    assert not batch.exists()
    assert 1 in reread.stream("KEYART_FEEDBACK").committed


def test_commit_moves_the_batch_in_and_records_its_sequences(tmp_path: Path) -> None:
    journal = journal_files.read_journal(tmp_path)
    batch = _staged_batch(tmp_path, "e1")
    journal_files.commit(tmp_path, journal, batch, {"KEYART_FEEDBACK": [4, 5]})
    reread = journal_files.read_journal(tmp_path)
    assert reread.stream("KEYART_FEEDBACK").committed.as_lists() == [[4, 5]]
    assert reread.totals.messages == 2 and reread.totals.last_commit_ms > 0
    assert len(parts(tmp_path, FEEDBACK)) == 1 and not batch.exists()


def test_a_second_writer_is_refused_while_the_first_holds_the_lock(tmp_path: Path) -> None:
    held = journal_files.lock(tmp_path)
    with pytest.raises(DatasetError, match="another collector"):
        journal_files.lock(tmp_path)
    held.close()
    journal_files.lock(tmp_path).close()


def test_an_unreadable_journal_is_named(tmp_path: Path) -> None:
    (tmp_path / journal_files.JOURNAL).write_text('{"schema": "other/1"}')
    with pytest.raises(DatasetError, match=r"collected\.json"):
        journal_files.read_journal(tmp_path)
