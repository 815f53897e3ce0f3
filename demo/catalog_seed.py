"""Writing the demo catalog into an empty artwork database, before the artwork server starts.

`keyart run` and the test suite's supervisor do this; so can a deployment that
wants the demo (`python -m demo.catalog_seed /var/keyart/catalog.db`, as the
k8s base's init container does). The artwork server itself never seeds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from common.sqlite_files import CorruptDatabase
from demo.catalog import demo_titles
from services.artwork.store import ArtworkStore


def seed_catalog(db_path: Path) -> int:
    """Writes the demo titles when the database holds no title; returns how many it wrote.

    Raises CorruptDatabase (naming the file) for a damaged database, and leaves it as it is.
    """
    store = ArtworkStore(db_path, check=True)
    if store.title_count():
        return 0
    titles = demo_titles()
    store.upsert_titles(titles)
    return len(titles)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.catalog_seed", description=__doc__)
    parser.add_argument("db", type=Path, help="the artwork SQLite database (ARTWORK_DB)")
    try:
        written = seed_catalog(parser.parse_args(argv).db)
    except CorruptDatabase as error:
        print(f"demo.catalog_seed: {error}", file=sys.stderr)
        return 2
    print(f"demo catalog: {written} titles written" if written else "demo catalog: already there")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
