"""Degradations and fallback reasons use the proto's enums; metrics keep lower-case names."""

from __future__ import annotations

from collections import Counter

from keyart.gateway.v1 import gateway_service_pb2 as pb
from prometheus_client import REGISTRY

from gateway.breaker import dependency_breakers
from gateway.fallbacks import FALLBACK_LABELS, Degradation, record_fallbacks


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_every_dependency_the_proto_names_has_a_breaker_named_as_its_metric_label() -> None:
    breakers = dependency_breakers(failure_threshold=5, open_s=1.0)
    assert {dependency: breaker.name for dependency, breaker in breakers.items()} == {
        pb.DEPENDENCY_PROFILE: "profile",
        pb.DEPENDENCY_ARTWORK: "artwork",
        pb.DEPENDENCY_RANKER: "ranker",
    }


def test_every_fallback_reason_has_its_lower_case_label() -> None:
    assert FALLBACK_LABELS == {
        pb.FALLBACK_REASON_UNSPECIFIED: "unspecified",
        pb.FALLBACK_REASON_COLD_START: "cold_start",
        pb.FALLBACK_REASON_PROFILE_UNAVAILABLE: "profile_unavailable",
        pb.FALLBACK_REASON_RANKER_UNAVAILABLE: "ranker_unavailable",
        pb.FALLBACK_REASON_CATALOG_UNAVAILABLE: "catalog_unavailable",
        pb.FALLBACK_REASON_UNKNOWN_TITLE: "unknown_title",
        pb.FALLBACK_REASON_MODEL_SCORE_INVALID: "model_score_invalid",
        pb.FALLBACK_REASON_EXPERIMENT_CONTROL: "experiment_control",
    }


def test_a_degradation_goes_on_the_wire_as_the_proto_dependency() -> None:
    degradation = Degradation(pb.DEPENDENCY_ARTWORK, "DEADLINE_EXCEEDED", "late")
    assert degradation.to_proto() == pb.Degradation(
        dependency=pb.DEPENDENCY_ARTWORK, status_code="DEADLINE_EXCEEDED", detail="late"
    )


def test_degradations_and_fallback_tiles_are_counted_under_lower_case_names() -> None:
    degraded = (
        "keyart_gateway_degradations_total",
        {"dependency": "ranker", "status_code": "UNAVAILABLE"},
    )
    unranked = ("keyart_gateway_fallback_tiles_total", {"reason": "ranker_unavailable"})
    cold = ("keyart_gateway_fallback_tiles_total", {"reason": "cold_start"})
    before = [sample(name, **labels) for name, labels in (degraded, unranked, cold)]
    record_fallbacks(
        "page-1",
        [Degradation(pb.DEPENDENCY_RANKER, "UNAVAILABLE", "down")],
        Counter({pb.FALLBACK_REASON_RANKER_UNAVAILABLE: 7, pb.FALLBACK_REASON_COLD_START: 3}),
    )
    after = [sample(name, **labels) for name, labels in (degraded, unranked, cold)]
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 7, 3]
