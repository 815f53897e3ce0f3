"""k8s/: the learning loop's workloads (NATS JetStream, the collector, the training CronJob),
their volumes and the network paths between them, in every overlay's render."""

from __future__ import annotations

import copy
import re
from urllib.parse import urlsplit

import pytest

from cli.main import build_parser
from tests.unit.test_k8s_manifests import (
    OVERLAYS,
    config,
    container_of,
    named,
    of_kind,
    pod_labels,
    render,
    selects,
)

# NATS servers (= copies of each stream) per overlay.
NATS_REPLICAS = {"dev": 1, "prod": 3, "prod-managed": 3}
NATS_CLIENT_PORT, NATS_CLUSTER_PORT, NATS_MONITOR_PORT = 4222, 6222, 8222


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> tuple[str, list[dict]]:
    return request.param, render(request.param)


def env_of(container: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def mount_of(container: dict, path: str) -> dict:
    """The volume mount `path` lies in (the deepest one)."""
    mounts = [m for m in container["volumeMounts"] if (path + "/").startswith(m["mountPath"] + "/")]
    assert mounts, f"{container['name']}: nothing mounted at {path}"
    return max(mounts, key=lambda m: len(m["mountPath"]))


def claim_behind(pod: dict, mount: dict) -> str | None:
    """The PersistentVolumeClaim a mount's volume is, or None for any other volume."""
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    return volume.get("persistentVolumeClaim", {}).get("claimName")


def cron_pod(objects: list[dict], name: str) -> dict:
    return dict(named(objects, "CronJob", name)["spec"]["jobTemplate"]["spec"]["template"]["spec"])


def test_nats_runs_one_server_in_dev_and_a_three_server_cluster_in_prod(
    overlay: tuple[str, list[dict]],
) -> None:
    name, objects = overlay
    nats = named(objects, "StatefulSet", "nats")
    replicas = NATS_REPLICAS[name]
    assert nats["spec"]["replicas"] == replicas
    assert config(objects)["GATEWAY_NATS_REPLICAS"] == str(replicas)
    args = container_of(objects, "StatefulSet", "nats")["args"]
    assert args[args.index("--name") + 1] == "$(POD_NAME)"  # JetStream needs unique names
    if replicas == 1:
        assert "--routes" not in args
        return
    headless = named(objects, "Service", "nats-headless")["spec"]
    assert nats["spec"]["serviceName"] == "nats-headless" and headless["clusterIP"] == "None"
    assert headless["publishNotReadyAddresses"] is True
    assert {"name": "cluster", "port": NATS_CLUSTER_PORT, "targetPort": "cluster"} in headless[
        "ports"
    ]
    routes = args[args.index("--routes") + 1].split(",")
    assert routes == [f"nats://nats-{i}.nats-headless:{NATS_CLUSTER_PORT}" for i in range(replicas)]
    assert args[args.index("--cluster") + 1] == f"nats://0.0.0.0:{NATS_CLUSTER_PORT}"


def test_nats_keeps_jetstream_on_a_volume_per_pod_and_is_probed_on_its_monitor_port(
    overlay: tuple[str, list[dict]],
) -> None:
    _, objects = overlay
    nats = named(objects, "StatefulSet", "nats")
    server = container_of(objects, "StatefulSet", "nats")
    assert re.fullmatch(r"nats:\d+\.\d+\.\d+", server["image"])  # an exact release
    (claim,) = nats["spec"]["volumeClaimTemplates"]
    conf = next(
        c["data"]["nats.conf"]
        for c in of_kind(objects, "ConfigMap")
        if c["metadata"]["name"].startswith("nats-config")
    )
    store_dir = re.search(r"^\s*store_dir:\s*(\S+)", conf, re.MULTILINE)
    assert store_dir, "nats.conf names no JetStream store_dir"
    assert mount_of(server, store_dir.group(1))["name"] == claim["metadata"]["name"]
    assert re.search(r"^\s*http_port:\s*8222$", conf, re.MULTILINE)
    ports = {p["name"]: p["containerPort"] for p in server["ports"]}
    assert ports == {
        "client": NATS_CLIENT_PORT,
        "cluster": NATS_CLUSTER_PORT,
        "monitor": NATS_MONITOR_PORT,
    }
    for probe in ("readinessProbe", "livenessProbe"):
        assert server[probe]["httpGet"] == {
            "path": "/healthz?js-enabled-only=true",
            "port": "monitor",
        }
    assert named(objects, "PodDisruptionBudget", "nats")["spec"]["maxUnavailable"] == 1


def test_the_gateway_and_the_collector_use_the_nats_service(
    overlay: tuple[str, list[dict]],
) -> None:
    _, objects = overlay
    sink = urlsplit(config(objects)["GATEWAY_LOG_SINK"])
    service = named(objects, "Service", str(sink.hostname))["spec"]
    assert sink.scheme == "nats" and sink.port in [p["port"] for p in service["ports"]]
    assert selects(service["selector"], pod_labels(objects)["nats"])
    collector = env_of(container_of(objects, "Deployment", "collector"))
    assert collector["COLLECT_NATS_URL"] == config(objects)["GATEWAY_LOG_SINK"]
    gateway = container_of(objects, "Deployment", "gateway")
    assert not mount_of(gateway, config(objects)["GATEWAY_LOG_DIR"]).get("readOnly")  # the spill


def test_the_collector_is_one_writer_on_the_dataset_volume(
    overlay: tuple[str, list[dict]],
) -> None:
    _, objects = overlay
    collector = named(objects, "Deployment", "collector")
    assert collector["spec"]["replicas"] == 1 and collector["spec"]["strategy"] == {
        "type": "Recreate"
    }
    pod = collector["spec"]["template"]["spec"]
    container = container_of(objects, "Deployment", "collector")
    assert container["args"] == ["cli.main", "collect"]
    env = env_of(container)
    port = int(env["COLLECT_METRICS_ADDRESS"].rsplit(":", 1)[1])
    assert env["COLLECT_METRICS_ADDRESS"] == f"0.0.0.0:{port}"
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"metrics": port}
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/metrics", "port": "metrics"}
    dataset = mount_of(container, env["COLLECT_DATASET"])
    assert dataset["mountPath"] == "/data" and not dataset.get("readOnly")
    assert claim_behind(pod, dataset) == "keyart-dataset"


def test_the_loop_runs_once_a_schedule_one_run_at_a_time_within_a_deadline(
    overlay: tuple[str, list[dict]],
) -> None:
    _, objects = overlay
    cron = named(objects, "CronJob", "loop")["spec"]
    assert cron["concurrencyPolicy"] == "Forbid" and cron["schedule"].count(" ") == 4
    assert cron["jobTemplate"]["spec"]["activeDeadlineSeconds"] > 0
    assert cron["successfulJobsHistoryLimit"] >= 1 and cron["failedJobsHistoryLimit"] >= 1
    pod = cron_pod(objects, "loop")
    (container,) = pod["containers"]
    assert container["args"] == ["cli.main", "loop", "--once"]
    env = env_of(container)
    dataset, models = (
        mount_of(container, env["LOOP_DATASET"]),
        mount_of(container, env["LOOP_MODELS"]),
    )
    assert claim_behind(pod, dataset) == "keyart-dataset"
    assert claim_behind(pod, models) == "keyart-models" and not models.get("readOnly")


def test_the_collector_and_loop_commands_are_ones_the_cli_takes(
    overlay: tuple[str, list[dict]],
) -> None:
    _, objects = overlay
    for kind, name in (("Deployment", "collector"), ("CronJob", "loop")):
        pod = cron_pod(objects, name) if kind == "CronJob" else None
        container = pod["containers"][0] if pod else container_of(objects, kind, name)
        module, *argv = container["args"]
        assert module == "cli.main"
        parsed = build_parser().parse_args(argv)  # argparse exits on arguments it does not take
        assert parsed.command == argv[0] and callable(parsed.handler)


def test_every_ranker_watches_the_published_models_read_only(
    overlay: tuple[str, list[dict]],
) -> None:
    _, objects = overlay
    pod = named(objects, "Deployment", "ranker")["spec"]["template"]["spec"]
    ranker = container_of(objects, "Deployment", "ranker")
    env = env_of(ranker)
    published = mount_of(ranker, env["RANKER_MODEL_DIR"])
    assert published["mountPath"] == env["RANKER_MODEL_DIR"] == "/models"
    assert published["readOnly"] is True and claim_behind(pod, published) == "keyart-models"
    # The bundled model, served until the first publish, is where the init container puts it.
    (init,) = pod["initContainers"]
    bundled = mount_of(ranker, env["RANKER_MODEL_PATH"])
    assert bundled["name"] == mount_of(init, init["command"][-1].rstrip("/"))["name"]
    assert claim_behind(pod, bundled) is None


# The shared volumes' access mode: dev is a one-node cluster, where every pod mounting them
# runs on the one node (kind's provisioner has no ReadWriteMany); elsewhere rankers spread.
ACCESS_MODES = {
    "dev": ["ReadWriteOnce"],
    "prod": ["ReadWriteMany"],
    "prod-managed": ["ReadWriteMany"],
}


def test_the_shared_volumes_are_shared_and_leave_the_class_to_the_overlay(
    overlay: tuple[str, list[dict]],
) -> None:
    name, objects = overlay
    claims = {c["metadata"]["name"]: c["spec"] for c in of_kind(objects, "PersistentVolumeClaim")}
    assert set(claims) == {"keyart-dataset", "keyart-models"}
    for spec in claims.values():
        assert spec["accessModes"] == ACCESS_MODES[name] and "storageClassName" not in spec


Edge = tuple[str, str, int]  # (source app, target app, TCP port)


def policy_edges(objects: list[dict], direction: str) -> set[Edge]:
    """Every (source, target, port) an ingress or egress rule admits between keyart's pods;
    '*' for a rule open to any peer or any port."""
    peer_key = "from" if direction == "ingress" else "to"
    edges: set[Edge] = set()
    for policy in of_kind(objects, "NetworkPolicy"):
        selector = policy["spec"]["podSelector"].get("matchLabels")
        if not selector:
            continue  # default-deny, DNS and the metrics scrape, checked elsewhere
        owner = selector["app.kubernetes.io/name"]
        for rule in policy["spec"].get(direction, []):
            ports = [p.get("port", "*") for p in rule.get("ports", [])] or ["*"]
            for peer in rule.get(peer_key) or [{}]:
                other = peer.get("podSelector", {}).get("matchLabels", {})
                other_app = other.get("app.kubernetes.io/name", "*")
                source, target = (
                    (other_app, owner) if direction == "ingress" else (owner, other_app)
                )
                edges |= {(source, target, port) for port in ports}
    return edges


LOOP_APPS = {"nats", "collector", "loop"}


def loop_edges(objects: list[dict], direction: str) -> set[Edge]:
    return {e for e in policy_edges(objects, direction) if LOOP_APPS & {e[0], e[1]}}


EXPECTED_LOOP_EDGES = {
    ("gateway", "nats", NATS_CLIENT_PORT),
    ("collector", "nats", NATS_CLIENT_PORT),
    ("nats", "nats", NATS_CLUSTER_PORT),
}


def test_only_the_gateway_and_the_collector_reach_nats_and_nats_reaches_only_itself(
    overlay: tuple[str, list[dict]],
) -> None:
    _, objects = overlay
    assert loop_edges(objects, "ingress") == EXPECTED_LOOP_EDGES
    assert loop_edges(objects, "egress") == EXPECTED_LOOP_EDGES
    scrape = named(objects, "NetworkPolicy", "allow-metrics-scrape")["spec"]["podSelector"]
    assert "collector" in scrape["matchExpressions"][0]["values"]
    assert "nats" not in scrape["matchExpressions"][0]["values"]  # 8222 is JSON, for probes


def test_the_loop_pods_are_covered_by_default_deny_only(overlay: tuple[str, list[dict]]) -> None:
    _, objects = overlay
    cron = named(objects, "CronJob", "loop")["spec"]
    labels = cron["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    admitting = [
        p["metadata"]["name"]
        for p in of_kind(objects, "NetworkPolicy")
        if p["spec"]["podSelector"].get("matchLabels")
        and selects(p["spec"]["podSelector"]["matchLabels"], labels)
    ]
    assert admitting == []


def test_the_edge_rules_refuse_nats_open_to_others() -> None:
    objects = copy.deepcopy(render("prod"))
    policy = named(objects, "NetworkPolicy", "nats")
    policy["spec"]["ingress"][0]["from"].append(
        {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "ranker"}}}
    )
    policy["spec"]["ingress"].append({"ports": [{"protocol": "TCP", "port": NATS_MONITOR_PORT}]})
    assert loop_edges(objects, "ingress") - EXPECTED_LOOP_EDGES == {
        ("ranker", "nats", NATS_CLIENT_PORT),
        ("*", "nats", NATS_MONITOR_PORT),
    }
