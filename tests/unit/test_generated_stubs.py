"""The generated stubs import from anywhere, even beside a folder named `keyart`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = "from keyart.gateway.v1 import gateway_service_pb2 as pb\nprint(pb.DESCRIPTOR.package)\n"


@pytest.mark.parametrize(
    "beside",
    [
        ["keyart"],
        # A clone of this repository named keyart, seen from its parent: keyart/gateway is a package.
        ["keyart", "keyart/gateway", "keyart/gateway/__init__.py"],
    ],
    ids=["empty-keyart-folder", "clone-named-keyart"],
)
def test_a_script_beside_a_keyart_folder_imports_the_stubs(
    tmp_path: Path, beside: list[str]
) -> None:
    for name in beside:
        path = tmp_path / name
        path.touch() if name.endswith(".py") else path.mkdir()
    (tmp_path / "client.py").write_text(SCRIPT)
    run = subprocess.run(
        [sys.executable, "client.py"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "keyart.gateway.v1"
