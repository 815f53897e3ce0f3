"""The interchange formats by name: what `keyart dataset import/export --format NAME` runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from common.storage import Location
from learning.input_checks import InputError
from learning.interchange import dsjson_export, dsjson_import, obp_export, obp_import

Importer = Callable[[Path, Location, dsjson_import.Options], int]  # file, dataset, options
Exporter = Callable[[Location, Path], int]  # dataset, file

IMPORTERS: dict[str, Importer] = {
    "dsjson": dsjson_import.import_dsjson,
    "obp": lambda path, root, options: obp_import.import_obp(path, root, options.reward_range),
}
EXPORTERS: dict[str, Exporter] = {
    "dsjson": dsjson_export.export_dsjson,
    "obp": obp_export.export_obp,
}


T = TypeVar("T")


def pick(table: dict[str, T], name: str) -> T:
    if name not in table:
        raise InputError(f"--format: {name!r} is not one of {', '.join(sorted(table))}")
    return table[name]
