"""Two profile service processes on one Redis see each other's writes (scaled-out profiles)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from keyart.profile.v1 import profile_service_pb2 as pb
from keyart.profile.v1 import profile_service_pb2_grpc

from tests.e2e.replicas import running_replicas
from tests.redis_server import RedisServer

NOW_MS = 1_780_000_000_000


@pytest.fixture
def two_profiles(redis_server: RedisServer, tmp_path: Path) -> Iterator[list[str]]:
    redis_server.flush()
    store = {"PROFILE_STORE": redis_server.url, "PROFILE_DB": str(tmp_path / "unused.db")}
    with running_replicas("profile", store, tmp_path) as addresses:
        yield addresses
    assert not (tmp_path / "unused.db").exists()  # the SQLite backend was never opened


def apply(address: str, event_id: str, user_id: str) -> pb.ApplyEventResponse:
    with grpc.insecure_channel(address) as channel:
        return profile_service_pb2_grpc.ProfileServiceStub(channel).ApplyEvent(
            pb.ApplyEventRequest(
                event_id=event_id,
                user_id=user_id,
                title_id="good-will-hunting",
                kind=4,
                occurred_at_unix_ms=NOW_MS,
                genres=["comedy"],
                cast=["Robin Williams"],
            ),
            timeout=5,
        )


def features(address: str, user_id: str) -> pb.GetViewerFeaturesResponse:
    with grpc.insecure_channel(address) as channel:
        return profile_service_pb2_grpc.ProfileServiceStub(channel).GetViewerFeatures(
            pb.GetViewerFeaturesRequest(user_id=user_id), timeout=5
        )


def test_a_write_on_one_replica_is_read_on_the_other(two_profiles: list[str]) -> None:
    first, second = two_profiles
    assert not features(second, "shared-viewer").known
    assert apply(first, "shared-1", "shared-viewer").duplicate is False
    seen = features(second, "shared-viewer")
    assert (seen.known, seen.event_count) == (True, 1)


def test_a_retry_on_the_other_replica_counts_once(two_profiles: list[str]) -> None:
    first, second = two_profiles
    assert apply(first, "retried-1", "retry-viewer").duplicate is False
    assert apply(second, "retried-1", "retry-viewer").duplicate is True
    assert features(first, "retry-viewer").event_count == 1
