"""A RenderPage request checked against the page limits, as plain data, in two steps:
its head (`parse_page_head`), then the whole page with its rows (`with_rows`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from google.protobuf.descriptor import EnumDescriptor
from keyart.gateway.v1 import gateway_service_pb2 as pb

from common.errors import InvalidArgument
from common.validation import require_id, require_path_ids
from gateway.config import PageLimits

_COUNTRY = re.compile(r"[A-Z]{2}")


@dataclass(frozen=True)
class PageContext:
    device_type: int
    country: str
    local_hour: int | None
    day_of_week: int


@dataclass(frozen=True)
class PageHead:
    """A request's viewer, context and budget: enough to ask the profile for the viewer
    while the rows are read."""

    user_id: str
    context: PageContext
    budget_ms: int


@dataclass(frozen=True)
class PageRequest:
    """A whole page: the head's fields and the rows, each row an id and its title ids."""

    user_id: str
    rows: tuple[tuple[str, tuple[str, ...]], ...]
    context: PageContext
    budget_ms: int

    @cached_property
    def title_ids(self) -> list[str]:
        """Every tile's title in page order (a title may appear in several rows)."""
        return [title for _, titles in self.rows for title in titles]

    def unique_title_ids(self) -> list[str]:
        return list(dict.fromkeys(self.title_ids))


def _enum_value(value: int, enum: EnumDescriptor, field: str) -> int:
    if value not in enum.values_by_number:
        raise InvalidArgument(field, f"{value} is not a known {enum.name} value")
    return value


def parse_context(context: pb.Context) -> PageContext:
    if context.country and not _COUNTRY.fullmatch(context.country):
        raise InvalidArgument(
            "context.country", f"{context.country[:16]!r} is not an ISO 3166-1 alpha-2 code"
        )
    local_hour = context.local_hour if context.HasField("local_hour") else None
    if local_hour is not None and not 0 <= local_hour <= 23:
        raise InvalidArgument("context.local_hour", f"{local_hour} is not an hour 0-23")
    return PageContext(
        device_type=_enum_value(
            context.device_type, pb.DeviceType.DESCRIPTOR, "context.device_type"
        ),
        country=context.country,
        local_hour=local_hour,
        day_of_week=_enum_value(
            context.day_of_week, pb.DayOfWeek.DESCRIPTOR, "context.day_of_week"
        ),
    )


def _title_ids(title_ids: Sequence[str], row: int) -> tuple[str, ...]:
    return require_path_ids(title_ids, f"rows[{row}].title_ids")


def parse_page_head(request: pb.RenderPageRequest, limits: PageLimits) -> PageHead:
    """The request's head, its rows not read yet (`with_rows`)."""
    user_id = require_id(request.user_id, "user_id")
    if request.budget_ms < 0:
        raise InvalidArgument(
            "budget_ms", f"{request.budget_ms} is negative; use 0 for the default"
        )
    if request.budget_ms > limits.max_budget_ms:
        raise InvalidArgument(
            "budget_ms", f"{request.budget_ms} ms; the limit is {limits.max_budget_ms} ms"
        )
    return PageHead(
        user_id=user_id,
        context=parse_context(request.context),
        budget_ms=request.budget_ms or limits.default_budget_ms,
    )


def with_rows(head: PageHead, request: pb.RenderPageRequest, limits: PageLimits) -> PageRequest:
    """The whole page: `head` and the request's rows, each checked against the limits."""
    if not request.rows:
        raise InvalidArgument("rows", "must hold at least one row")
    if len(request.rows) > limits.max_rows:
        raise InvalidArgument("rows", f"{len(request.rows)} rows; the limit is {limits.max_rows}")
    rows = []
    total = 0
    for r, row in enumerate(request.rows):
        row_id = require_id(row.row_id, f"rows[{r}].row_id")
        if not row.title_ids:
            raise InvalidArgument(f"rows[{r}].title_ids", "must hold at least one title")
        if len(row.title_ids) > limits.max_titles_per_row:
            raise InvalidArgument(
                f"rows[{r}].title_ids",
                f"{len(row.title_ids)} titles; the limit is {limits.max_titles_per_row}",
            )
        total += len(row.title_ids)
        if total > limits.max_titles_per_page:
            raise InvalidArgument(
                "rows", f"more than {limits.max_titles_per_page} titles on the page"
            )
        rows.append((row_id, _title_ids(row.title_ids, r)))
    return PageRequest(head.user_id, tuple(rows), head.context, head.budget_ms)


def parse_page_request(request: pb.RenderPageRequest, limits: PageLimits) -> PageRequest:
    return with_rows(parse_page_head(request, limits), request, limits)
