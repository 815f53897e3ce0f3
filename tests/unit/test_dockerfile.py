"""The Dockerfile (no engine runs here to build it): stages, pinned base, non-root runtime
without build tools, one entry point per service, and no download outside the registries."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from suite.supervisor import SERVICE_MODULES

ROOT = Path(__file__).resolve().parents[2]


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical = re.sub(r"\\\n", " ", text)
    lines = [line.strip() for line in logical.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


@pytest.fixture(scope="module")
def steps() -> list[tuple[str, str]]:
    return instructions((ROOT / "Dockerfile").read_text())


def stages(steps: list[tuple[str, str]]) -> dict[str, list[tuple[str, str]]]:
    named: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for instruction, args in steps:
        if instruction == "FROM":
            current = named.setdefault(args.split()[-1], [])
        current.append((instruction, args))
    return named


def test_a_builder_and_a_runtime_stage_on_a_pinned_base(steps: list[tuple[str, str]]) -> None:
    assert list(stages(steps)) == ["builder", "runtime"]
    base = next(
        args
        for instruction, args in steps
        if instruction == "ARG" and args.startswith("PYTHON_IMAGE=")
    )
    image = base.split("=", 1)[1]
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", image), image
    assert [args for instruction, args in steps if instruction == "FROM"] == [
        "${PYTHON_IMAGE} AS builder",
        "${PYTHON_IMAGE} AS runtime",
    ]


def test_the_builder_generates_stubs_and_builds_the_model(steps: list[tuple[str, str]]) -> None:
    runs = " ".join(args for instruction, args in stages(steps)["builder"] if instruction == "RUN")
    assert "pip install -r requirements.txt" in runs
    assert "grpc_tools.protoc" in runs and "--grpc_python_out=gen" in runs
    assert "services.ranker.model_recipe --out var/models/bundled.onnx" in runs


def test_the_runtime_is_non_root_unbuffered_and_has_no_build_tools(
    steps: list[tuple[str, str]],
) -> None:
    runtime = stages(steps)["runtime"]
    users = [args for instruction, args in runtime if instruction == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    env = " ".join(args for instruction, args in runtime if instruction == "ENV")
    assert "PYTHONUNBUFFERED=1" in env.split()
    runs = " ".join(args for instruction, args in runtime if instruction == "RUN")
    assert not re.search(r"apt-get|apk |pip install|gcc|build-essential|make ", runs)


def test_one_entry_point_serves_every_service(steps: list[tuple[str, str]]) -> None:
    runtime = stages(steps)["runtime"]
    entrypoint = json.loads(
        next(args for instruction, args in runtime if instruction == "ENTRYPOINT")
    )
    command = json.loads(next(args for instruction, args in runtime if instruction == "CMD"))
    assert entrypoint == ["python", "-m"] and command[0] in SERVICE_MODULES.values()
    copied = {args.split()[-1] for instruction, args in runtime if instruction == "COPY"}
    for module in SERVICE_MODULES.values():
        assert f"/app/{module.split('.')[0]}" in copied, module
        assert (ROOT / (module.replace(".", "/") + ".py")).exists(), module


def keyart_modules_run_by_k8s() -> set[str]:
    """The `python -m` module of every container in k8s/ that runs the keyart image."""

    def containers(node: object) -> Iterator[dict]:
        if isinstance(node, dict):
            if str(node.get("image", "")).split(":")[0] == "keyart" and node.get("args"):
                yield node
            for value in node.values():
                yield from containers(value)
        elif isinstance(node, list):
            for value in node:
                yield from containers(value)

    return {
        container["args"][0]
        for path in (ROOT / "k8s").rglob("*.yaml")
        for doc in yaml.safe_load_all(path.read_text())
        for container in containers(doc)
    }


def local_packages(module: str) -> set[str]:
    """The repository's top-level packages `module` imports, directly or not (lazy imports
    inside functions included: a command may reach them)."""
    seen: set[str] = set()
    packages: set[str] = set()
    pending = [module]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        base = ROOT / name.replace(".", "/")
        source = (
            base.with_suffix(".py") if base.with_suffix(".py").exists() else base / "__init__.py"
        )
        if not source.exists():
            continue
        packages.add(name.split(".")[0])
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                pending += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                pending += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    return packages


def test_the_image_holds_every_package_the_k8s_commands_import(
    steps: list[tuple[str, str]],
) -> None:
    modules = keyart_modules_run_by_k8s()
    assert {"gateway.server", "cli.main"} <= modules
    copied = {
        args.split()[-1] for instruction, args in stages(steps)["runtime"] if instruction == "COPY"
    }
    for module in sorted(modules):
        for package in sorted(local_packages(module)):
            assert f"/app/{package}" in copied, f"{module} imports {package}"


def test_the_model_is_where_the_ranker_init_container_copies_it_from(
    steps: list[tuple[str, str]],
) -> None:
    copied = {
        args.split()[-1] for instruction, args in stages(steps)["runtime"] if instruction == "COPY"
    }
    assert "/app/var/models" in copied
    ranker = yaml.safe_load_all((ROOT / "k8s/base/ranker.yaml").read_text())
    deployment = next(doc for doc in ranker if doc["kind"] == "Deployment")
    init = deployment["spec"]["template"]["spec"]["initContainers"][0]
    assert init["command"][2].startswith("/app/var/models/")


def test_nothing_is_downloaded_outside_the_package_registries(steps: list[tuple[str, str]]) -> None:
    for instruction, args in steps:
        assert not re.search(r"\b(curl|wget)\b", args), args
        assert not (instruction == "ADD" and re.search(r"https?://|git@", args)), args
