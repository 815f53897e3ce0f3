"""k8s/components/object-storage: the models location and the dataset as URLs from a ConfigMap,
the store's credentials from a Secret, and no shared volume left, on top of every overlay."""

from __future__ import annotations

import pytest

from common.storage import Location
from tests.unit.test_k8s_learning_loop import cron_pod
from tests.unit.test_k8s_manifests import OVERLAYS, named, of_kind, pod_templates, render

CONFIG_MAP, SECRET = "object-storage", "object-storage-credentials"
CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
# Which workload reads which location, from which ConfigMap key.
LOCATIONS = {
    ("Deployment", "ranker"): {"RANKER_MODEL_DIR": "models"},
    ("CronJob", "loop"): {"LOOP_MODELS": "models", "LOOP_DATASET": "dataset"},
    ("Deployment", "collector"): {"COLLECT_DATASET": "dataset"},
}


@pytest.fixture(scope="module", params=OVERLAYS)
def objects(request: pytest.FixtureRequest) -> list[dict]:
    return render(f"{request.param}+object-storage")


def pod_of(objects: list[dict], kind: str, name: str) -> dict:
    if kind == "CronJob":
        return cron_pod(objects, name)
    return dict(named(objects, kind, name)["spec"]["template"]["spec"])


def references(container: dict) -> dict[str, tuple[str, str, str]]:
    """Each env var set from a ConfigMap or Secret: (kind, name, key)."""
    found = {}
    for variable in container.get("env", []):
        for kind in ("configMapKeyRef", "secretKeyRef"):
            ref = variable.get("valueFrom", {}).get(kind)
            if ref:
                assert "value" not in variable, f"{variable['name']}: both value and valueFrom"
                found[variable["name"]] = (kind, ref["name"], ref["key"])
    return found


def test_each_location_and_the_credentials_come_from_the_config_map_and_the_secret(
    objects: list[dict],
) -> None:
    data = named(objects, "ConfigMap", CONFIG_MAP)["data"]
    for (kind, name), variables in LOCATIONS.items():
        (container,) = pod_of(objects, kind, name)["containers"]
        expected = {v: ("configMapKeyRef", CONFIG_MAP, key) for v, key in variables.items()}
        expected |= {c: ("secretKeyRef", SECRET, c) for c in CREDENTIALS}
        assert references(container) == expected, f"{kind}/{name}"
    for key in ("models", "dataset"):
        location = Location.parse(data[key])  # a URL keyart takes
        assert location.local_path is None and str(location).startswith("s3://")


def test_no_shared_volume_is_left_to_claim_or_mount(objects: list[dict]) -> None:
    assert of_kind(objects, "PersistentVolumeClaim") == []
    for name, template in pod_templates(objects):
        for volume in template["spec"].get("volumes", []):
            assert "persistentVolumeClaim" not in volume, f"{name} still mounts {volume['name']}"
    for kind, name in LOCATIONS:
        (container,) = pod_of(objects, kind, name)["containers"]
        assert {m["mountPath"] for m in container["volumeMounts"]} & {"/data", "/models"} == set()


def test_only_the_stores_clients_may_reach_it_and_only_over_https(objects: list[dict]) -> None:
    policy = named(objects, "NetworkPolicy", "to-object-storage")["spec"]
    (selector,) = policy["podSelector"]["matchExpressions"]
    assert selector["key"] == "app.kubernetes.io/name" and selector["operator"] == "In"
    assert sorted(selector["values"]) == sorted(name for _, name in LOCATIONS)
    assert policy["policyTypes"] == ["Egress"] and "ingress" not in policy
    (rule,) = policy["egress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 443}]
    (peer,) = rule["to"]
    assert set(peer) == {"ipBlock"}  # not any pod of the cluster
