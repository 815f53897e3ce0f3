"""The suite with TLS on: backends require client certificates (mTLS), the gateway serves
TLS, requires bearer tokens and has reflection off. Certificates come from a throwaway CA."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from keyart.gateway.v1 import gateway_service_pb2 as pb

from cli.main import main
from loadgen.reference import LOADTEST_DIR
from suite.client import PageClient
from suite.supervisor import Suite, SuiteConfig, free_address, local_suite_config
from tests.certs import ThrowawayCa

READER = "reader-token"
REPORTER = "reporter-token"


def credentials(ca: Path, client: tuple[Path, Path] | None = None) -> grpc.ChannelCredentials:
    cert, key = client or (None, None)
    return grpc.ssl_channel_credentials(
        ca.read_bytes(),
        private_key=key.read_bytes() if key else None,
        certificate_chain=cert.read_bytes() if cert else None,
    )


@pytest.fixture(scope="module")
def secure(suite_config: SuiteConfig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    data_dir = tmp_path_factory.mktemp("secure-suite")
    ca = ThrowawayCa(data_dir / "pki")
    server, client = ca.issue("server", server=True), ca.issue("gateway-client", server=False)
    tokens = data_dir / "tokens.json"
    tokens.write_text(
        json.dumps({READER: ["/keyart.gateway.v1.PageService/RenderPage"], REPORTER: ["*"]})
    )
    health_addresses = {name: free_address() for name in ("gateway", "profile")}
    env = {
        "GATEWAY_AUTH_TOKENS_FILE": str(tokens),
        "GATEWAY_REFLECTION": "false",
        "GATEWAY_HEALTH_ADDRESS": health_addresses["gateway"],
        "PROFILE_HEALTH_ADDRESS": health_addresses["profile"],
    }
    for service in ("GATEWAY", "PROFILE", "ARTWORK", "RANKER"):
        env |= {f"{service}_TLS_CERT": str(server.cert), f"{service}_TLS_KEY": str(server.key)}
    for service in ("PROFILE", "ARTWORK", "RANKER"):
        env[f"{service}_TLS_CLIENT_CA"] = str(ca.ca)
    for caller in ("GATEWAY_BACKEND", "RANKER_ARTWORK"):  # the gateway's and the ranker's clients
        env |= {
            f"{caller}_TLS_CA": str(ca.ca),
            f"{caller}_TLS_CERT": str(client.cert),
            f"{caller}_TLS_KEY": str(client.key),
        }
    base = local_suite_config(data_dir, suite_config.model_path)
    mtls = credentials(ca.ca, (client.cert, client.key))
    config = replace(base, extra_env=base.extra_env | env, credentials=mtls)
    with open(data_dir / "services.log", "wb") as log:
        suite = Suite(config, log)
        suite.start()
        try:
            yield {
                "addresses": config.addresses,
                "ca": ca.ca,
                "client": client,
                "mtls": mtls,
                "health": health_addresses,
            }
        finally:
            suite.stop()


def health(address: str, creds: grpc.ChannelCredentials | None) -> int:
    channel = grpc.secure_channel(address, creds) if creds else grpc.insecure_channel(address)
    with channel:
        return (
            health_pb2_grpc.HealthStub(channel)
            .Check(health_pb2.HealthCheckRequest(), timeout=5)
            .status
        )


@pytest.mark.parametrize("backend", ["profile", "artwork", "ranker"])
def test_a_backend_refuses_a_client_without_a_certificate(secure: dict, backend: str) -> None:
    address = secure["addresses"][backend]
    assert health(address, secure["mtls"]) == health_pb2.HealthCheckResponse.SERVING
    for creds in (credentials(secure["ca"]), None):  # TLS without a client certificate; plaintext
        with pytest.raises(grpc.RpcError) as refused:
            health(address, creds)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


def page(secure: dict, token: str) -> pb.RenderPageResponse:
    gateway = secure["addresses"]["gateway"]
    with PageClient(gateway, credentials=credentials(secure["ca"]), token=token) as client:
        return client.render_page(
            "tls-viewer", [("featured", ["good-will-hunting", "pulp-fiction"])]
        )


def test_a_right_token_gets_a_page_through_the_mtls_backends(secure: dict) -> None:
    response = page(secure, READER)
    assert list(response.degradations) == []  # profile, artwork and ranker all answered over mTLS
    assert [tile.artwork_id for tile in response.rows[0].tiles] == [
        "good-will-hunting/neutral",
        "pulp-fiction/neutral",
    ]


@pytest.mark.parametrize("token", ["", "wrong-token"])
def test_a_missing_or_wrong_token_is_unauthenticated(secure: dict, token: str) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        page(secure, token)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "authorization" in (refused.value.details() or "")


def test_a_token_not_allowed_the_method_is_permission_denied(secure: dict) -> None:
    gateway = secure["addresses"]["gateway"]
    with (
        PageClient(gateway, credentials=credentials(secure["ca"]), token=READER) as client,
        pytest.raises(grpc.RpcError) as refused,
    ):
        client.report_event(user_id="tls-viewer", title_id="pulp-fiction", kind=pb.EVENT_KIND_CLICK)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with PageClient(gateway, credentials=credentials(secure["ca"]), token=REPORTER) as client:
        assert (
            client.report_event(
                user_id="tls-viewer", title_id="pulp-fiction", kind=pb.EVENT_KIND_CLICK
            ).duplicate
            is False
        )


def test_health_needs_no_token_and_reflection_is_off(secure: dict) -> None:
    gateway = secure["addresses"]["gateway"]
    assert health(gateway, credentials(secure["ca"])) == health_pb2.HealthCheckResponse.SERVING
    with grpc.secure_channel(gateway, credentials(secure["ca"])) as channel:
        stream = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
            timeout=5,
            metadata=(("authorization", f"Bearer {REPORTER}"),),
        )
        with pytest.raises(grpc.RpcError) as refused:
            list(stream)
    assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_the_gateway_serves_no_plaintext(secure: dict) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        health(secure["addresses"]["gateway"], None)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize("service", ["gateway", "profile"])
def test_the_health_port_answers_plaintext_probes_and_nothing_else(
    secure: dict, service: str
) -> None:
    """Kubernetes' gRPC probes speak plaintext: the health port serves them, only them."""
    address = secure["health"][service]
    assert health(address, None) == health_pb2.HealthCheckResponse.SERVING
    with grpc.insecure_channel(address) as channel, pytest.raises(grpc.RpcError) as refused:
        render: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
            "/keyart.gateway.v1.PageService/RenderPage"
        )
        render(b"", timeout=5)
    assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_the_tls_ghz_config_drives_the_secure_gateway(secure: dict, tmp_path: Path) -> None:
    config = json.loads((LOADTEST_DIR / "render_page_tls.json").read_text())
    config |= {
        "host": secure["addresses"]["gateway"],
        "cacert": str(secure["ca"]),
        "metadata": {"authorization": f"Bearer {READER}"},
        "total": 6,
    }
    path = tmp_path / "tls.json"
    path.write_text(json.dumps(config))
    done = subprocess.run(
        [sys.executable, "-m", "loadgen", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "[OK]\t6 responses" in done.stdout
    assert "Error distribution" not in done.stdout


def test_the_cli_talks_tls_with_a_token(secure: dict) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.main",
            "page",
            "--user",
            "romance-fan",
            "--target",
            secure["addresses"]["gateway"],
            "--ca",
            str(secure["ca"]),
            "--token",
            READER,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    line = next(line for line in done.stdout.splitlines() if "good-will-hunting " in line)
    assert "good-will-hunting/neutral" in line and "cold start" in line  # this suite is unseeded


def test_the_catalog_import_talks_mtls_to_the_artwork_service(
    secure: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The suite above was seeded with the demo over mTLS; a file of one's own goes the same way."""
    line = {
        "title_id": "tls-title",
        "name": "Over TLS",
        "genres": ["drama"],
        "artworks": [
            {
                "artwork_id": "tls-title/a",
                "image": "https://cdn.example.com/a.jpg",
                "tones": ["drama"],
                "visual_quality": 0.5,
                "composition": 0.5,
            }
        ],
    }
    catalog = tmp_path / "catalog.jsonl"
    catalog.write_text(json.dumps(line) + "\n")
    client = secure["client"]
    command = ["catalog", "import", str(catalog), "--target", secure["addresses"]["artwork"]]
    tls = ["--ca", str(secure["ca"]), "--cert", str(client.cert), "--key", str(client.key)]
    assert main([*command, "--ca", str(secure["ca"])]) == 1  # TLS without a client certificate
    assert "UNAVAILABLE" in capsys.readouterr().err
    assert main([*command, "--cert", str(client.cert)]) == 2
    assert capsys.readouterr().err.strip() == "keyart: --cert and --key must be given together"
    assert main([*command, *tls]) == 0
    assert "imported: 1 titles, 1 artworks" in capsys.readouterr().out
