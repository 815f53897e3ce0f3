"""Property-based bad input against the running gateway (hypothesis, 1,000 requests per RPC).

Whatever arrives — random strings, huge or empty lists, duplicated titles,
negative or enormous budgets, unknown enum values, invalid UTF-8 in ids (sent
as raw bytes, since Python's protobuf refuses to build it) — the answer is OK,
or INVALID_ARGUMENT / NOT_FOUND with a message naming the field, or
RESOURCE_EXHAUSTED; never UNKNOWN or INTERNAL, never a hang; and the servers
keep serving.
"""

from __future__ import annotations

import os

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from keyart.gateway.v1 import gateway_service_pb2 as pb

from suite.client import PageClient
from suite.supervisor import START_ORDER, SuiteConfig, is_serving
from tests.raw_requests import FIELD_MESSAGE, call_raw, length_field

RENDER_PAGE = "/keyart.gateway.v1.PageService/RenderPage"
REPORT_EVENT = "/keyart.gateway.v1.PageService/ReportEvent"
EXAMPLES = int(os.environ.get("KEYART_PROPERTY_EXAMPLES", "1000"))
KNOWN_TITLES = ["good-will-hunting", "pulp-fiction", "title-00042", "title-00007"]
# ALREADY_EXISTS: an event id drawn twice with other content (it names event_id, as it should).
FIELD_CODES = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
}
RUN = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same 1,000 requests every run: a failure reproduces
    suppress_health_check=list(HealthCheck),
    database=None,
)

ids = st.one_of(
    st.sampled_from(["romance-fan", "comedy-fan", "x", ""]),
    st.text(max_size=40),
    st.text(min_size=120, max_size=140),
)
titles = st.one_of(st.sampled_from(KNOWN_TITLES), ids)
int32 = st.integers(-(2**31), 2**31 - 1)
rows = st.lists(
    st.builds(
        pb.RowRequest,
        row_id=ids,
        title_ids=st.one_of(
            st.lists(titles, max_size=8),
            st.lists(st.sampled_from(KNOWN_TITLES), min_size=90, max_size=110),  # huge, duplicated
        ),
    ),
    max_size=6,
) | st.lists(
    st.just(pb.RowRequest(row_id="r", title_ids=["pulp-fiction"])), min_size=95, max_size=105
)
contexts = st.builds(
    pb.Context,
    device_type=st.one_of(st.integers(0, 5), int32),
    country=st.one_of(st.sampled_from(["US", "FR", ""]), st.text(max_size=4)),
    local_hour=st.one_of(st.none(), st.integers(0, 23), int32),
    day_of_week=st.one_of(st.integers(0, 8), int32),
)
pages = st.builds(
    pb.RenderPageRequest,
    user_id=ids,
    rows=rows,
    context=contexts,
    budget_ms=st.one_of(st.sampled_from([0, 50, 250]), int32),
)
events = st.builds(
    pb.ReportEventRequest,
    event_id=ids,
    user_id=ids,
    page_id=st.one_of(st.just(""), ids),
    title_id=titles,
    artwork_id=st.one_of(
        st.just(""), st.sampled_from(["good-will-hunting/neutral", "pulp-fiction/neutral"]), ids
    ),
    kind=st.one_of(st.integers(0, 5), int32),
)
# Bytes that are not UTF-8, for a string field appended at the wire level (the last value wins).
bad_utf8 = st.binary(min_size=1, max_size=12).filter(lambda raw: not _is_utf8(raw))


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def with_bad_utf8(message: bytes, number: int, payload: bytes) -> bytes:
    return message + length_field(number, payload)


def check_answer(code: grpc.StatusCode, details: str) -> None:
    assert code in {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED, *FIELD_CODES}, (
        code,
        details,
    )
    if code in FIELD_CODES:
        assert FIELD_MESSAGE.match(details), details


@pytest.fixture(scope="module")
def gateway(suite, gateway_channel: grpc.Channel) -> grpc.Channel:
    return gateway_channel


@given(
    page=pages,
    corrupt=st.one_of(
        st.none(),
        # user_id (1), a row (2) holding a bad row_id (1) or title id (2), context.country (3.2)
        st.tuples(st.sampled_from(["user_id", "row_id", "title_id", "country"]), bad_utf8),
    ),
)
@RUN
def test_render_page_answers_every_request_cleanly(gateway: grpc.Channel, page, corrupt) -> None:
    raw = page.SerializeToString()
    if corrupt is not None:
        field, payload = corrupt
        inner = {
            "user_id": (1, payload),
            "row_id": (2, length_field(1, payload)),
            "title_id": (2, length_field(1, b"r") + length_field(2, payload)),
            "country": (3, length_field(2, payload)),
        }[field]
        raw = with_bad_utf8(raw, *inner)
    code, details = call_raw(gateway, RENDER_PAGE, raw)
    check_answer(code, details)
    if corrupt is not None:
        assert code == grpc.StatusCode.INVALID_ARGUMENT, details
        assert "is not valid UTF-8" in details, details


@given(
    event=events,
    corrupt=st.one_of(st.none(), st.tuples(st.sampled_from([1, 2, 3, 4, 5]), bad_utf8)),
)
@RUN
def test_report_event_answers_every_request_cleanly(gateway: grpc.Channel, event, corrupt) -> None:
    raw = event.SerializeToString()
    if corrupt is not None:
        raw = with_bad_utf8(raw, *corrupt)
    code, details = call_raw(gateway, REPORT_EVENT, raw)
    check_answer(code, details)
    if corrupt is not None:
        assert code == grpc.StatusCode.INVALID_ARGUMENT, details
        assert details.endswith("is not valid UTF-8"), details


# One unary method per server, to send garbage to.
RAW_TARGETS = {
    "gateway": (RENDER_PAGE, 4 << 20),
    "profile": ("/keyart.profile.v1.ProfileService/GetViewerFeatures", 4 << 20),
    "artwork": ("/keyart.artwork.v1.ArtworkService/GetCandidates", 64 << 20),
    "ranker": ("/keyart.ranker.v1.RankerService/RankPage", 64 << 20),
}


@pytest.mark.parametrize("service", START_ORDER)
def test_random_bytes_and_an_oversize_message_get_a_clean_status(
    suite, suite_config: SuiteConfig, service: str
) -> None:
    method, limit = RAW_TARGETS[service]
    address = suite_config.addresses[service]
    seen: set[grpc.StatusCode] = set()
    with grpc.insecure_channel(address, options=[("grpc.max_send_message_length", -1)]) as channel:

        @given(raw=st.binary(max_size=512))
        @settings(RUN, max_examples=max(EXAMPLES // 5, 50))
        def random_bytes(raw: bytes) -> None:
            code, details = call_raw(channel, method, raw)
            seen.add(code)
            assert code not in {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL}, details
            if code == grpc.StatusCode.INVALID_ARGUMENT:
                assert FIELD_MESSAGE.match(details), details

        random_bytes()
        code, details = call_raw(channel, method, b"\x0a" + b"\xff" * (limit + 1))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, details
    assert grpc.StatusCode.INVALID_ARGUMENT in seen  # garbage was refused, not just ignored
    assert is_serving(address)


def test_every_server_still_serves_after_the_properties(suite, suite_config: SuiteConfig) -> None:
    assert all(is_serving(suite_config.addresses[name]) for name in START_ORDER)
    with PageClient(suite_config.addresses["gateway"]) as client:
        page = client.render_page("romance-fan", [("featured", ["good-will-hunting"])])
    assert page.rows[0].tiles[0].artwork_id == "good-will-hunting/damon-driver"
