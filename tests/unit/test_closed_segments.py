"""Which segments are closed: the one a writer holds is not, until it is closed or its writer dies."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

from common.log_schema import FEEDBACK, header
from common.segment_log import (
    SegmentLog,
    SegmentSettings,
    closed_segments,
    read_records,
    segments,
)


def feedback_log(directory: Path, max_bytes: int = 1 << 20) -> SegmentLog:
    return SegmentLog(SegmentSettings(directory, FEEDBACK, max_bytes=max_bytes), header(FEEDBACK))


def one_record(n: int, _segment: int) -> list[dict]:
    return [{"type": "feedback", "n": n, "pad": "x" * 200}]


def test_the_segment_being_written_is_not_closed_until_the_log_closes(tmp_path: Path) -> None:
    segment_log = feedback_log(tmp_path, max_bytes=1_000)
    segment_log.start()
    for n in range(12):
        segment_log.append(partial(one_record, n)).result(timeout=10)
    written = segments(tmp_path, FEEDBACK)
    assert len(written) >= 3  # rolled by size
    assert closed_segments(tmp_path, FEEDBACK) == written[:-1]  # the newest is still open
    segment_log.close()
    assert closed_segments(tmp_path, FEEDBACK) == written


WRITER = """
import sys, time
from pathlib import Path
from common.log_schema import FEEDBACK, header
from common.segment_log import SegmentLog, SegmentSettings
log = SegmentLog(SegmentSettings(Path(sys.argv[1]), FEEDBACK), header(FEEDBACK))
log.start()
log.append(lambda _segment: [{"type": "feedback", "n": 0}]).result(timeout=10)
print("written", file=sys.stderr, flush=True)  # stdout carries the log
time.sleep(60)
"""


def test_a_segment_whose_writer_was_killed_is_closed(tmp_path: Path) -> None:
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path)], stderr=subprocess.PIPE, text=True
    )
    try:
        assert writer.stderr is not None and writer.stderr.readline() == "written\n"
        (segment,) = segments(tmp_path, FEEDBACK)
        assert closed_segments(tmp_path, FEEDBACK) == []
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=10)
    deadline = time.monotonic() + 5
    while closed_segments(tmp_path, FEEDBACK) != [segment]:
        assert time.monotonic() < deadline, "the dead writer's lock was not released"
        time.sleep(0.05)


def test_a_log_started_again_in_the_same_second_keeps_the_first_ones_segment(
    tmp_path: Path,
) -> None:
    for n in range(2):  # the same process, the same second: both would be ...-000001
        segment_log = feedback_log(tmp_path)
        segment_log.start()
        segment_log.append(partial(one_record, n)).result(timeout=10)
        segment_log.close()
    assert len(segments(tmp_path, FEEDBACK)) == 2
    assert [r["n"] for r in read_records(tmp_path, FEEDBACK) if r["type"] == "feedback"] == [0, 1]
