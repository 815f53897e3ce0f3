"""The feedback event (a click, a play): one type for the gateway, the learning log and the
profile store. Each service converts its own proto to it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FeedbackEvent:
    """One reported event.

    `kind` is the keyart.gateway.v1.EventKind number (profile's ApplyEvent carries the
    same numbers). `genres` and `cast` are the title's, from the catalog: the gateway
    adds them before the profile folds the event into the viewer's taste; the log
    leaves them out.
    """

    event_id: str
    user_id: str
    page_id: str
    title_id: str
    artwork_id: str
    kind: int
    occurred_at_ms: int
    genres: tuple[str, ...] = ()
    cast: tuple[str, ...] = ()

    def content(self) -> tuple[str, str, str, str, int]:
        """What a retry under the same event id must repeat (AIP-155): who, where, what.
        The time is not part of it: a client that leaves `occurred_at` out gets the
        time of arrival, which differs between tries."""
        return (self.user_id, self.page_id, self.title_id, self.artwork_id, self.kind)
