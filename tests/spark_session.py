"""One local[2] SparkSession for a test module, on Debian's Java runtime (installed when missing)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from learning.spark_session import session
from tests.debian_package import installed_binary


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    if installed_binary("java", "default-jre-headless") is None:
        pytest.fail("no java on PATH and it cannot be installed here (not root, or no apt-get)")
    started = session("local[2]", "keyart-tests")
    yield started
    started.stop()
