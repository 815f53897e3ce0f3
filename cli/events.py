"""`keyart events import FILE`: a viewer history → the profile service, in batches.

The whole file is checked first, its titles looked up in the artwork service (each
event carries its title's genres and cast, as ReportEvent's do), and only then is it
streamed to the profile's ApplyEvents. Event ids make a re-run safe: what was applied
before counts as duplicates.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import grpc
from keyart.artwork.v1 import artwork_service_pb2 as artwork_pb
from keyart.artwork.v1 import artwork_service_pb2_grpc
from keyart.profile.v1 import profile_service_pb2 as pb
from keyart.profile.v1 import profile_service_pb2_grpc

from cli.history_file import BadLine, read_rows
from cli.history_rows import event_from_row
from cli.progress import progress
from common import addresses
from common.events import FeedbackEvent
from services.profile.servicer import MAX_EVENTS_PER_BATCH

TITLES_PER_LOOKUP = 1000
LOOKUP_TIMEOUT_S = 30.0
# "events[12].event_id: ..." — how ApplyEvents names the event it refused.
_REFUSED = re.compile(r"events\[(\d+)\]\.(.*)", re.DOTALL)


@dataclass(frozen=True)
class History:
    """A file's events in file order, each with where it stands in the file."""

    places: list[str]
    events: list[FeedbackEvent]


def read_history(path: Path) -> History:
    """Every row checked; an event id repeated with other content is refused here already."""
    places: list[str] = []
    events: list[FeedbackEvent] = []
    first: dict[str, int] = {}
    for where, row in read_rows(path):
        event = event_from_row(where, row)
        seen = first.setdefault(event.event_id, len(events))
        if seen < len(events) and events[seen].content() != event.content():
            raise BadLine(
                where,
                "event_id",
                f"{event.event_id!r} is also at {places[seen]}, with other content",
            )
        places.append(where)
        events.append(event)
    if not events:
        raise BadLine(str(path), "", "holds no events")
    return History(places, events)


def with_titles(history: History, artwork: artwork_service_pb2_grpc.ArtworkServiceStub) -> History:
    """The events with their titles' genres and cast; BadLine for an unknown title or artwork."""
    title_ids = list(dict.fromkeys(event.title_id for event in history.events))
    titles: dict[str, artwork_pb.Title] = {}
    for start in range(0, len(title_ids), TITLES_PER_LOOKUP):
        chunk = title_ids[start : start + TITLES_PER_LOOKUP]
        response = artwork.GetTitles(
            artwork_pb.GetTitlesRequest(title_ids=chunk), timeout=LOOKUP_TIMEOUT_S
        )
        titles.update((title.title_id, title) for title in response.titles)
    artworks = {
        title_id: {artwork.artwork_id for artwork in title.artworks}
        for title_id, title in titles.items()
    }
    events = []
    for where, event in zip(history.places, history.events, strict=True):
        title = titles.get(event.title_id)
        if title is None:
            raise BadLine(where, "title_id", f"{event.title_id!r} is not in the catalog")
        if event.artwork_id and event.artwork_id not in artworks[event.title_id]:
            raise BadLine(
                where,
                "artwork_id",
                f"{event.artwork_id!r} is not a candidate of {title.title_id!r}",
            )
        events.append(replace(event, genres=tuple(title.genres), cast=tuple(title.cast)))
    return History(history.places, events)


def apply_event_request(event: FeedbackEvent) -> pb.ApplyEventRequest:
    return pb.ApplyEventRequest(
        event_id=event.event_id,
        user_id=event.user_id,
        title_id=event.title_id,
        kind=event.kind,
        occurred_at_unix_ms=event.occurred_at_ms,
        genres=event.genres,
        cast=event.cast,
        page_id=event.page_id,
        artwork_id=event.artwork_id,
    )


def send_events(
    profile: profile_service_pb2_grpc.ProfileServiceStub,
    events: list[FeedbackEvent],
    batch: int,
    advance: Callable[[int], None] = lambda count: None,
) -> pb.ApplyEventsResponse:
    """One ApplyEvents stream of `batch`-sized requests; `advance` is told of each sent."""

    def requests() -> Iterator[pb.ApplyEventsRequest]:
        for start in range(0, len(events), batch):
            chunk = events[start : start + batch]
            yield pb.ApplyEventsRequest(events=[apply_event_request(event) for event in chunk])
            advance(len(chunk))

    response: pb.ApplyEventsResponse = profile.ApplyEvents(requests())
    return response


def refused_line(error: grpc.RpcError, places: list[str]) -> BadLine | None:
    """The line ApplyEvents refused, when it refused one (a reused event id, a bad field)."""
    refused = _REFUSED.fullmatch(error.details() or "")
    if error.code() not in (grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.INVALID_ARGUMENT):
        return None
    if refused is None or int(refused[1]) >= len(places):
        return None
    return BadLine(
        places[int(refused[1])],
        "",
        f"{refused[2]} (the lines before its batch were applied; a re-run applies each once)",
    )


def import_history(args: argparse.Namespace) -> str:
    history = read_history(args.file)
    with grpc.insecure_channel(args.artwork_target) as channel:
        history = with_titles(history, artwork_service_pb2_grpc.ArtworkServiceStub(channel))
    viewers = len({event.user_id for event in history.events})
    if args.dry_run:
        return f"valid: {len(history.events)} events for {viewers} viewers (dry run: none sent)"
    with grpc.insecure_channel(args.target) as channel:
        profile = profile_service_pb2_grpc.ProfileServiceStub(channel)
        with progress(len(history.events), "event") as advance:
            try:
                response = send_events(profile, history.events, args.batch, advance)
            except grpc.RpcError as error:
                raise refused_line(error, history.places) or error from None
    return (
        f"applied: {response.applied_count}, duplicates: {response.duplicate_count}, "
        f"viewers touched: {response.viewer_count}"
    )


def _import(args: argparse.Namespace) -> int:
    try:
        print(import_history(args))
    except BadLine as error:
        print(f"keyart: {error}", file=sys.stderr)
        return 2
    return 0


def _batch_size(text: str) -> int:
    size = int(text)
    if not 1 <= size <= MAX_EVENTS_PER_BATCH:
        raise argparse.ArgumentTypeError(f"must be 1 to {MAX_EVENTS_PER_BATCH}")
    return size


def add_commands(commands: argparse._SubParsersAction) -> None:
    events = commands.add_parser("events", help="bulk viewer history")
    verbs = events.add_subparsers(dest="events_command", required=True)
    imports = verbs.add_parser(
        "import", help="send a history file (.jsonl, .csv, .parquet) to the profile service"
    )
    imports.add_argument("file", type=Path)
    imports.add_argument("--target", default=addresses.PROFILE, help="profile service address")
    imports.add_argument(
        "--artwork-target",
        default=addresses.ARTWORK,
        help="artwork service address (the titles' genres and cast)",
    )
    imports.add_argument("--dry-run", action="store_true", help="check the file; send nothing")
    imports.add_argument("--batch", type=_batch_size, default=1000, help="events per request")
    imports.set_defaults(handler=_import)
