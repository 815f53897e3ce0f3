"""A page's standalone stream message: its titles' entries are encoded once, yet it reads
exactly as the first record of a fresh segment would."""

from __future__ import annotations

from collections import Counter
from functools import partial

import numpy as np
import orjson

from common.features import CONTEXT_DIM, VIEWER_DIM
from common.log_schema import PageImpression
from gateway.backends import Ranking, TitleCandidates
from gateway.impressions import SegmentTitles, page_records
from gateway.page_request import PageContext, PageRequest
from gateway.render import RankedInputs, RenderedPage, TitleGroup
from gateway.stream_records import KEPT_VERSIONS, PageMessages, TitleEntries

NOW = 1_790_000_000_000


def title(title_id: str, version: str, first_row: int, candidates: int = 2) -> TitleCandidates:
    ids = tuple(f"{title_id}/{k}" for k in range(candidates))
    return TitleCandidates(title_id, ids[0], ids, tuple(f"u/{k}" for k in ids), version, first_row)


def rendered_page(groups: list[tuple[str, list[TitleCandidates]]]) -> RenderedPage:
    inputs = RankedInputs(
        None,
        [
            (
                TitleGroup.of(version, titles),
                Ranking(
                    np.arange(len(titles), dtype="<u4") % 2,
                    np.full(len(titles), 0.5, "<f4"),
                    np.linspace(0, 1, len(titles), dtype="<f4"),
                    "model-1",
                    "softmax",
                ),
            )
            for version, titles in groups
        ],
    )
    return RenderedPage("page-1", [], Counter(), [], "model-1", inputs)


PAGE = PageRequest("u", (("row", ("gwh",)),), PageContext(1, "US", 21, 5), 200)


def fresh_segment_record(rendered: RenderedPage) -> dict:
    return page_records(PAGE, rendered, NOW, partial(SegmentTitles().number, 1))[0]


def test_a_message_is_the_record_a_fresh_segment_would_start_with_page_after_page() -> None:
    messages = PageMessages()
    first = rendered_page([("cat-1", [title("gwh", "cat-1", 0), title("pf", "cat-1", 2, 3)])])
    second = rendered_page(
        [
            ("cat-1", [title("pf", "cat-1", 2, 3), title("am", "cat-1", 900)]),
            ("cat-2", [title("gwh", "cat-2", 0, 1)]),  # row 0 again, another version
        ]
    )
    for rendered in (first, second, first):  # the second time, from the encoded entries
        encoded = messages.encoded(PAGE, rendered, NOW)
        assert encoded is not None
        record, body = encoded
        assert orjson.loads(body) == fresh_segment_record(rendered)
        assert orjson.loads(orjson.dumps(record)) == orjson.loads(body)  # what a spill writes
    decoded = PageImpression.from_record(orjson.loads(body), VIEWER_DIM, CONTEXT_DIM)
    assert [(t.catalog_version, t.title_id, t.candidate_ids) for t in decoded.tiles] == [
        ("cat-1", "gwh", ("gwh/0", "gwh/1")),
        ("cat-1", "pf", ("pf/0", "pf/1", "pf/2")),
    ]


def test_only_the_latest_catalog_versions_are_kept_and_an_evicted_one_is_encoded_again() -> None:
    entries = TitleEntries()
    versions = [f"cat-{n}" for n in range(KEPT_VERSIONS + 2)]
    for version in versions + versions[:1]:
        rendered = rendered_page([(version, [title(f"t-{version}", version, 4)])])
        group = TitleGroup.of(version, [title(f"t-{version}", version, 4)])
        assert (
            orjson.loads(orjson.dumps(entries.page([group])))
            == (fresh_segment_record(rendered)["new_titles"])
        )
    assert entries.versions == [versions[-1], versions[0]]
