"""Seeding an empty catalog with the demo, through `keyart catalog import` like any catalog.

The demo is the catalog import's first user: its titles are written to a catalog file
(`demo-catalog.jsonl`, images left out: demo.images draws them into the image store)
and imported over gRPC into a running artwork service. `keyart run` and the test
suite's supervisor do this; so does the dev overlay's Job in Kubernetes
(`python -m demo.catalog_seed --target artwork:50053`). A catalog that holds titles
already is left as it is. The artwork service itself knows nothing of the demo.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import grpc
from keyart.artwork.v1 import artwork_service_pb2 as pb
from keyart.artwork.v1 import artwork_service_pb2_grpc

from cli.catalog_export import catalog_row
from cli.catalog_file import write_titles
from cli.catalog_import import ImportOptions, import_catalog
from common import addresses
from common.channels import Dial
from demo.catalog import demo_titles
from services.artwork.messages import new_title

INFO_TIMEOUT_S = 10.0


def write_demo_catalog(path: Path) -> None:
    """The demo titles as a catalog file (JSON Lines or Parquet, by the extension)."""
    write_titles(path, [catalog_row(new_title(title), lambda _: None) for title in demo_titles()])


def seed_catalog(artwork: Dial) -> int:
    """Imports the demo into the artwork service when its catalog is empty; returns how
    many titles it imported (0: the catalog held titles already)."""
    with artwork.channel() as channel:
        info = artwork_service_pb2_grpc.ArtworkServiceStub(channel).GetCatalogInfo(
            pb.GetCatalogInfoRequest(), timeout=INFO_TIMEOUT_S
        )
    if info.title_count:
        return 0
    with tempfile.TemporaryDirectory(prefix="keyart-demo-catalog-") as folder:
        path = Path(folder) / "demo-catalog.jsonl"
        write_demo_catalog(path)
        return import_catalog(path, ImportOptions(artwork=artwork)).titles


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.catalog_seed", description=__doc__)
    parser.add_argument("--target", default=addresses.ARTWORK, help="the artwork service")
    parser.add_argument(
        "--write", type=Path, help="only write the demo catalog file here (.jsonl or .parquet)"
    )
    args = parser.parse_args(argv)
    if args.write is not None:
        write_demo_catalog(args.write)
        print(f"demo catalog file: {args.write}")
        return 0
    try:
        imported = seed_catalog(Dial(args.target))
    except grpc.RpcError as error:
        print(f"demo.catalog_seed: {error.code().name}: {error.details()}", file=sys.stderr)
        return 1
    print(
        f"demo catalog: {imported} titles imported" if imported else "demo catalog: already there"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
