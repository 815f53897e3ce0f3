"""The learning logs on real files: schema round trip, durability contract, segments, the join."""

from __future__ import annotations

import base64
import json
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zstandard
from keyart.gateway.v1.gateway_service_pb2 import EVENT_KIND_CLICK as CLICK
from keyart.gateway.v1.gateway_service_pb2 import EVENT_KIND_QUALIFIED_PLAY as QUALIFIED_PLAY

from common.catalog_snapshot import save_snapshot
from common.events import FeedbackEvent
from common.features import ARTWORK_DIM, CONTEXT_DIM, VIEWER_DIM
from common.log_schema import (
    FEEDBACK,
    IMPRESSIONS,
    LogFormatError,
    PageImpression,
    TileDecision,
    decode_decisions,
    encode_decisions,
    feedback_from_record,
    feedback_record,
    header,
)
from common.segment_log import CorruptSegment, Render, SegmentLog, SegmentSettings, read_records
from gateway.backends import Ranking, TitleCandidates
from gateway.impressions import SegmentTitles, page_records
from gateway.page_request import PageContext, PageRequest
from gateway.render import RankedInputs, RenderedPage, TitleGroup
from learning.dataset import load, read_pages, write_bandit_file
from tests.unit.learning_data import synthetic

NOW = 1_790_000_000_000


def impression(page_id: str = "page-1", time_ms: int = NOW) -> PageImpression:
    rng = np.random.default_rng(0)
    return PageImpression(
        page_id=page_id,
        user_id="romance-fan",
        time_ms=time_ms,
        context={
            "device_type": "DEVICE_TYPE_TV",
            "country": "US",
            "local_hour": 21,
            "day_of_week": "DAY_OF_WEEK_FRIDAY",
        },
        context_features=rng.random(CONTEXT_DIM).astype(np.float32),
        viewer_known=True,
        viewer_features=rng.random(VIEWER_DIM).astype(np.float32),
        model_version="bundled-abc",
        policy="epsilon_greedy(epsilon=0.1)",
        tiles=(
            # Propensities and scores are logged as float32, as the ranker sends them.
            TileDecision("gwh", ("gwh/a", "gwh/b"), "cat-1", 0, 1, 0.75, 0.8125, True, True),
            TileDecision("pf", ("pf/a", "pf/b", "pf/c"), "cat-1", 2, 0, 0.03125, 0.375, True, True),
        ),
    )


def batch(*records: dict) -> Render:
    """A batch of `records`, whatever the segment number."""
    return lambda _segment: list(records)


def write(directory: Path, kind: str, records: list[dict], **settings: Any) -> None:
    segment_log = SegmentLog(SegmentSettings(directory, kind, **settings), header(kind))
    segment_log.start()
    for record in records:  # one batch each: a batch never straddles two segments
        future = segment_log.append(batch(record))
        assert future.result(timeout=10) is None  # resolved once written and fsynced
    segment_log.close()


def test_page_impression_round_trips_through_a_segment_file(tmp_path: Path) -> None:
    page = impression()
    write(tmp_path, IMPRESSIONS, [page.to_record()])
    header_record, stored = list(read_records(tmp_path, IMPRESSIONS))
    assert header_record["schema"] == "keyart-learning-log/6"
    assert [entry[2] for entry in stored["new_titles"]] == [tile.title_id for tile in page.tiles]
    chosen = decode_decisions(stored["decisions"])["chosen"]
    assert chosen.tolist() == [tile.chosen for tile in page.tiles]
    back = PageImpression.from_record(stored, VIEWER_DIM, CONTEXT_DIM)
    np.testing.assert_array_equal(back.viewer_features, page.viewer_features)
    np.testing.assert_array_equal(back.context_features, page.context_features)
    assert back.tiles == page.tiles
    assert (back.page_id, back.policy, back.model_version, back.context) == (
        page.page_id,
        page.policy,
        page.model_version,
        page.context,
    )


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda text: text[:-8], "decisions do not decode"),
        (
            lambda text: encode_decisions_bytes(zstandard.decompress(base64.b64decode(text))[:-1]),
            "decisions are 35 bytes, not whole 18-byte entries",
        ),
    ],
)
def test_damaged_decisions_are_refused(damage, problem: str) -> None:
    record = impression().to_record()
    record["decisions"] = damage(record["decisions"])
    with pytest.raises(LogFormatError, match=problem):
        PageImpression.from_record(record, VIEWER_DIM, CONTEXT_DIM)


def encode_decisions_bytes(data: bytes) -> str:
    return base64.b64encode(zstandard.compress(data)).decode()


def with_choices(decisions: str, chosen: list[int]) -> str:
    columns: dict[str, Sequence[float] | np.ndarray] = dict(decode_decisions(decisions))
    columns["chosen"] = np.array(chosen)
    return encode_decisions(columns)


def test_feedback_round_trips(tmp_path: Path) -> None:
    event = FeedbackEvent("e-1", "u", "page-1", "gwh", "gwh/b", QUALIFIED_PLAY, NOW)
    write(tmp_path, FEEDBACK, [feedback_record(event)])
    record = list(read_records(tmp_path, FEEDBACK))[1]
    assert record["kind"] == "QUALIFIED_PLAY"  # the file names the kind, as before
    assert feedback_from_record(record) == event


def test_segments_roll_by_size_and_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    records = [{"type": "feedback", "n": i, "pad": "x" * 200} for i in range(20)]
    write(tmp_path, FEEDBACK, records, max_bytes=1_000)
    segments = sorted(tmp_path.glob("feedback-*.jsonl"))
    assert len(segments) > 3
    with segments[-1].open("ab") as last:
        last.write(b'{"type": "feedback", "n": 99')  # a crash in the middle of a line
    read = [r["n"] for r in read_records(tmp_path, FEEDBACK) if r["type"] == "feedback"]
    assert read == list(range(20))


def _page_with_snapshot(tmp_path: Path, plays: list[FeedbackEvent]) -> None:
    """The page above, its plays, and catalog cat-1 whose row i is all i."""
    write(tmp_path, IMPRESSIONS, [impression().to_record()])
    write(tmp_path, FEEDBACK, [feedback_record(event) for event in plays])
    rows = np.repeat(np.arange(6, dtype=np.float32)[:, None], ARTWORK_DIM, axis=1)
    save_snapshot(tmp_path, "cat-1", rows)


def test_join_rewards_qualified_plays_of_the_page_and_title_within_the_window(
    tmp_path: Path,
) -> None:
    _page_with_snapshot(
        tmp_path,
        [
            FeedbackEvent("e-1", "u", "page-1", "gwh", "gwh/b", QUALIFIED_PLAY, NOW + 60_000),
            FeedbackEvent("e-1", "u", "page-1", "gwh", "gwh/b", QUALIFIED_PLAY, NOW + 60_000),
            FeedbackEvent("e-2", "u", "page-1", "pf", "pf/a", CLICK, NOW + 1_000),
            FeedbackEvent("e-3", "u", "page-2", "pf", "pf/a", QUALIFIED_PLAY, NOW + 1_000),
        ],
    )
    data = load(tmp_path, reward_window_s=30 * 60)
    assert data.reward.tolist() == [1.0, 0.0]  # a click is not a reward; page-2 is another page
    assert data.chosen.tolist() == [1, 0]
    assert data.counts.tolist() == [2, 3]
    np.testing.assert_allclose(data.propensity, [0.75, 0.03125], rtol=1e-6)
    assert data.artwork[:, 0].tolist() == [0, 1, 2, 3, 4]  # each candidate's own catalog row

    late = load(tmp_path, reward_window_s=30)  # the play came 60 s after the impression
    assert late.reward.tolist() == [0.0, 0.0]


def test_decisions_under_a_catalog_version_without_snapshot_are_skipped(tmp_path: Path) -> None:
    write(tmp_path, IMPRESSIONS, [impression().to_record()])
    assert len(load(tmp_path)) == 0  # no snapshot of cat-1, no artwork service to ask


def test_a_log_of_another_schema_version_is_refused(tmp_path: Path) -> None:
    (tmp_path / "impressions-0.jsonl").write_text(
        json.dumps({"type": "header", "schema": "v0"}) + "\n"
    )
    with pytest.raises(LogFormatError, match="schema"):
        load(tmp_path)


def test_bandit_import_format_round_trips(tmp_path: Path) -> None:
    data, _ = synthetic(50, 3, seed=4, logging="epsilon")
    path = tmp_path / "bandit.jsonl"
    write_bandit_file(data, path)
    back = load(path)
    for name in ("viewer", "context", "artwork", "counts", "chosen", "propensity", "reward"):
        np.testing.assert_allclose(getattr(back, name), getattr(data, name), rtol=1e-6)


def test_bandit_file_with_wrong_widths_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(
        '{"schema": "keyart-bandit/1"}\n'
        + json.dumps(
            {
                "viewer": [0.0] * 3,
                "context": [0.0] * CONTEXT_DIM,
                "candidates": [[0.0] * ARTWORK_DIM],
                "chosen": 0,
                "propensity": 1.0,
                "reward": 0,
            }
        )
        + "\n"
    )
    with pytest.raises(LogFormatError, match=re.escape("bad.jsonl:2")):
        load(path)


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        # record 1 cut short, the rest written after it: a lost middle, not a torn tail
        (
            lambda raw: raw[: raw.index(b"\n") + 10] + b"\n" + raw[raw.index(b"\n") + 30 :],
            "line 2 is not a JSON record",
        ),
        (lambda raw: raw.split(b"\n", 1)[1], "line 1 is out of place"),  # the header is gone
        (lambda raw: raw + b"\x00\xff garbage\n", "line 5 is not a JSON record"),
    ],
)
def test_a_damaged_segment_is_refused_naming_the_file(tmp_path: Path, damage, problem: str) -> None:
    write(tmp_path, FEEDBACK, [{"type": "feedback", "n": i} for i in range(3)])
    (segment,) = tmp_path.glob("feedback-*.jsonl")  # a header and three records
    segment.write_bytes(damage(segment.read_bytes()))
    with pytest.raises(CorruptSegment, match=f"^log segment {segment} {problem}$"):
        list(read_records(tmp_path, FEEDBACK))


def test_a_segment_names_each_title_once(tmp_path: Path) -> None:
    titles = [
        TitleCandidates("gwh", "gwh/a", ("gwh/a", "gwh/b"), ("u/a", "u/b"), "cat-1", 0),
        TitleCandidates("pf", "pf/c", ("pf/a", "pf/b", "pf/c"), ("u/1", "u/2", "u/3"), "cat-1", 2),
    ]
    ranking = Ranking(
        np.array([1, 0], "<u4"),
        np.array([0.8, 0.4], "<f4"),
        np.array([0.95, 0.5], "<f4"),
        "model-1",
        "softmax",
    )
    inputs = RankedInputs(None, [(TitleGroup.of("cat-1", titles), ranking)])
    rendered = RenderedPage("page-1", [], Counter(), [], "model-1", inputs)
    page = PageRequest("u", (("row", ("gwh", "pf")),), PageContext(1, "US", 21, 5), 200)
    numbering = SegmentTitles()
    first, second, next_segment = (
        page_records(page, rendered, NOW, partial(numbering.number, segment))[0]
        for segment in (1, 1, 2)
    )
    assert first["new_titles"] == [
        [0, "cat-1", "gwh", 0, "gwh/a\ngwh/b"],
        [1, "cat-1", "pf", 2, "pf/a\npf/b\npf/c"],
    ]
    assert second["new_titles"] == []  # the segment has named them already
    assert next_segment["new_titles"] == first["new_titles"]  # a new segment names them again

    write(tmp_path, IMPRESSIONS, [first, second])
    pages = list(read_pages(tmp_path))
    assert [tile.candidate_ids for tile in pages[1].tiles] == [
        titles[0].artwork_ids,
        titles[1].artwork_ids,
    ]
    assert [tile.first_row for tile in pages[1].tiles] == [0, 2]
    assert pages[1].tiles == pages[0].tiles
    with pytest.raises(LogFormatError, match="title number 0 is not named in it or earlier"):
        PageImpression.from_record(second, VIEWER_DIM, CONTEXT_DIM)  # read without its segment


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda r: r["new_titles"][0].pop(), "new_titles entry .* is not 5 fields"),
        (
            lambda r: r["new_titles"][0].__setitem__(3, -1),
            "new_titles entry 0 has a bad number or row",
        ),
        (lambda r: r["new_titles"][0].__setitem__(4, ""), "new_titles entry 0 has bad text fields"),
        (
            lambda r: r.__setitem__("decisions", with_choices(r["decisions"], [1, 9])),
            "'pf' chose 9 of 3",
        ),
    ],
)
def test_a_record_naming_its_titles_badly_is_refused(change, problem: str) -> None:
    record = impression().to_record()
    change(record)
    with pytest.raises(LogFormatError, match=problem):
        PageImpression.from_record(record, VIEWER_DIM, CONTEXT_DIM)


@pytest.mark.parametrize(("sync_s", "fsyncs"), [(0.0, range(7, 8)), (3600.0, range(1, 4))])
def test_a_log_nobody_waits_on_fsyncs_at_most_every_sync_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sync_s: float, fsyncs: range
) -> None:
    """Five batches: every-batch sync fsyncs each, plus the new directory entry and the
    close; a periodic log fsyncs at most once in the period, plus those two."""
    calls: list[int] = []
    real_fsync = os.fsync

    def counted_fsync(fd: int) -> None:
        calls.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counted_fsync)
    segment_log = SegmentLog(SegmentSettings(tmp_path, FEEDBACK, sync_s=sync_s), header(FEEDBACK))
    segment_log.start()
    for n in range(5):
        assert segment_log.append(batch({"type": "feedback", "n": n})).result(10) is None
    assert [r.get("n") for r in read_records(tmp_path, FEEDBACK)][1:] == [0, 1, 2, 3, 4]  # flushed
    segment_log.close()
    assert len(calls) in fsyncs


def test_titles_keep_their_numbers_in_any_order_and_each_catalog_version_has_its_own(
    tmp_path: Path,
) -> None:
    gwh, pf = (
        TitleCandidates("gwh", "gwh/a", ("gwh/a", "gwh/b"), ("u/a", "u/b"), "cat-1", 0),
        TitleCandidates("pf", "pf/c", ("pf/a", "pf/b", "pf/c"), ("u/1", "u/2", "u/3"), "cat-1", 2),
    )
    later = TitleCandidates("am", "am/a", ("am/a",), ("u/m",), "cat-1", 900)  # grows the row table
    moved = TitleCandidates("gwh", "gwh/b", ("gwh/b",), ("u/b",), "cat-2", 0)  # row 0 again

    def record(groups: list[tuple[str, list[TitleCandidates]]]) -> dict:
        inputs = RankedInputs(
            None,
            [
                (
                    TitleGroup.of(version, group),
                    Ranking(
                        np.zeros(len(group), "<u4"),
                        np.zeros(len(group), "<f4"),
                        np.ones(len(group), "<f4"),
                        "model-1",
                        "greedy",
                    ),
                )
                for version, group in groups
            ],
        )
        rendered = RenderedPage("page", [], Counter(), [], "model-1", inputs)
        page = PageRequest("u", (("row", ("gwh",)),), PageContext(1, "US", 21, 5), 200)
        return page_records(page, rendered, NOW, partial(numbering.number, 1))[0]

    numbering = SegmentTitles()
    records = [
        record([("cat-1", [gwh, pf])]),
        record([("cat-1", [pf, later, gwh]), ("cat-2", [moved])]),
    ]
    assert [entry[:3] for entry in records[1]["new_titles"]] == [
        [2, "cat-1", "am"],
        [3, "cat-2", "gwh"],
    ]
    write(tmp_path, IMPRESSIONS, records)
    pages = list(read_pages(tmp_path))
    assert [(t.catalog_version, t.title_id, t.first_row) for t in pages[1].tiles] == [
        ("cat-1", "pf", 2),
        ("cat-1", "am", 900),
        ("cat-1", "gwh", 0),
        ("cat-2", "gwh", 0),
    ]


def test_a_page_record_carries_experiment_and_cell_and_older_records_read_as_none() -> None:
    logged = replace(impression(), experiment="new-model", cell="treatment")
    record = json.loads(json.dumps(logged.to_record()))
    assert (record["experiment"], record["cell"]) == ("new-model", "treatment")
    read = PageImpression.from_record(record, VIEWER_DIM, CONTEXT_DIM)
    assert (read.experiment, read.cell) == ("new-model", "treatment")
    del record["experiment"], record["cell"]  # written before experiments existed
    old = PageImpression.from_record(record, VIEWER_DIM, CONTEXT_DIM)
    assert (old.experiment, old.cell) == ("", "")
