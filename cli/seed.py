"""Seeding the demo viewers' profiles by reporting their watch histories to the gateway."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from keyart.gateway.v1 import gateway_service_pb2 as pb

from demo.viewers import demo_histories
from suite.client import PageClient
from suite.supervisor import Suite, local_suite_config


def seed_viewers(client: PageClient) -> tuple[int, int]:
    """Returns (events applied, events already present). Safe to run again."""
    applied = duplicates = 0
    for event in demo_histories():
        response = client.report_event(
            event_id=event.event_id,
            user_id=event.user_id,
            title_id=event.title_id,
            kind=pb.EVENT_KIND_QUALIFIED_PLAY,
            occurred_at=event.occurred_at,
        )
        duplicates += response.duplicate
        applied += not response.duplicate
    return applied, duplicates


@contextmanager
def seeded_suite(
    data_dir: Path, model: Path, extra_env: Mapping[str, str] | None = None
) -> Iterator[Suite]:
    """The four processes on fresh loopback ports, data and log in `data_dir`, viewers seeded;
    `extra_env` added to every process's environment."""
    data_dir.mkdir(parents=True, exist_ok=True)
    config = local_suite_config(data_dir, model)
    config = replace(config, extra_env={**config.extra_env, **(extra_env or {})})
    with open(data_dir / "services.log", "wb") as log:
        suite = Suite(config, log)
        suite.start()
        try:
            with PageClient(config.addresses["gateway"]) as client:
                seed_viewers(client)
            yield suite
        finally:
            suite.stop()
