"""Domain errors. Servicers raise these; one interceptor maps them to gRPC status codes."""

from __future__ import annotations


class KeyartError(Exception):
    """Base of the errors a caller is told about, with a message safe to show."""


class InvalidArgument(KeyartError):
    """The request is malformed. The message names the offending field."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class AlreadyExists(KeyartError):
    """The request would create what exists already, differently (e.g. a reused event id)."""


class NotFound(KeyartError):
    """A named entity does not exist."""


class Unavailable(KeyartError):
    """The service cannot serve yet (or any more); the caller may retry."""


class ResourceExhausted(KeyartError):
    """A limit was reached; the caller should back off."""


class FailedPrecondition(KeyartError):
    """The request is valid but the service is not in a state to answer it yet."""
