"""Writing the demo catalog into an empty artwork database, before the artwork server starts.

`keyart run` and the test suite's supervisor do this; so can a deployment that
wants the demo (`python -m demo.catalog_seed /var/keyart/catalog.db`, as the
k8s base's init container does). The artwork server itself never seeds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from demo.catalog import demo_titles
from services.artwork.store import ArtworkStore


def seed_catalog(db_path: Path) -> int:
    """Writes the demo titles when the database holds no title; returns how many it wrote."""
    store = ArtworkStore(db_path)
    if store.title_count():
        return 0
    titles = demo_titles()
    store.upsert_titles(titles)
    return len(titles)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m demo.catalog_seed", description=__doc__)
    parser.add_argument("db", type=Path, help="the artwork SQLite database (ARTWORK_DB)")
    written = seed_catalog(parser.parse_args(argv).db)
    print(f"demo catalog: {written} titles written" if written else "demo catalog: already there")


if __name__ == "__main__":
    main()
