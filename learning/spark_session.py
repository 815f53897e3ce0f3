"""A SparkSession for `--engine spark`: `local[N]` on this machine, or a cluster's master URL.

pyspark is an optional dependency (requirements-spark.txt) and needs a Java
runtime; without either the command is refused in one line, not a traceback.
On a cluster the executors run this same Python (`PYSPARK_PYTHON`, this
interpreter's path) with keyart installed, and read the dataset (and any
--model file) at the same path: put both on storage every node mounts.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from common.storage import Location
from learning.parquet_layout import DatasetError
from learning.parquet_reader import DEFAULT_BATCH
from learning.policy_probabilities import ProbabilitiesRefused

DEFAULT_MASTER = f"local[{min(os.cpu_count() or 1, 4)}]"


class EngineUnavailable(Exception):
    """The Spark engine cannot start here; the message says what is missing."""


def local_dataset(root: Location) -> Path:
    """The dataset's directory on this machine's disk. Spark reads object stores only through
    Hadoop's connectors (s3a: hadoop-aws and the AWS SDK's jars), which this build does not
    ship, so another location is refused (docs/spark.md)."""
    local = root.local_path
    if local is None:
        raise EngineUnavailable(
            f"--engine spark: {root}: Spark reads object stores only through Hadoop's "
            "connectors (s3a, hadoop-aws), which this build does not ship; give a local "
            "directory or file:// URL, or use --engine numpy"
        )
    return local


def session(master: str = DEFAULT_MASTER, app: str = "keyart") -> Any:
    """A SparkSession (typed Any: pyspark is optional and mypy may not see it)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise EngineUnavailable(
            "--engine spark needs pyspark: pip install -r requirements-spark.txt"
        ) from None
    if not shutil.which("java") and not os.environ.get("JAVA_HOME"):
        raise EngineUnavailable(
            "--engine spark needs a Java runtime (Debian: apt-get install default-jre-headless)"
        )
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.master(master)
        .appName(app)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "8")
        # An executor's batch materializes its decisions' candidates, as the numpy engine's does.
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(DEFAULT_BATCH))
    )
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = builder.config("spark.driver.host", "127.0.0.1").config(
            "spark.driver.bindAddress", "127.0.0.1"
        )
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


# What an executor may refuse, by its class's name in the traceback Spark sends back.
_REFUSALS = {"ProbabilitiesRefused": ProbabilitiesRefused, "DatasetError": DatasetError}
_REFUSAL_LINE = re.compile(r"^(?:[\w.]+\.)?(" + "|".join(_REFUSALS) + r"): (.+)$", re.MULTILINE)


@contextmanager
def executor_refusals() -> Iterator[None]:
    """Bad input an executor found (a missing or malformed outside-policy row, a decision naming
    no action set) raised again on the driver as the numpy engine raises it: one line, not the
    executor's traceback wrapped in Spark's."""
    try:
        yield
    except Exception as error:
        found = _REFUSAL_LINE.findall(str(error))
        if not found:
            raise
        name, message = found[-1]
        raise _REFUSALS[name](message) from None
