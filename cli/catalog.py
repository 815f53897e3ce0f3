"""`keyart catalog import FILE` and `keyart catalog export FILE`: a whole catalog in bulk."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cli.catalog_export import export_catalog
from cli.catalog_import import ImportOptions, import_catalog
from cli.genre_names import load_genre_map
from cli.table_file import BadLine
from cli.tls_arguments import add_tls_arguments, client_tls
from common import addresses
from common.channels import Dial
from common.config import ConfigError
from common.errors import InvalidArgument
from services.artwork.ava.config import AvaConfig


def _import(args: argparse.Namespace) -> int:
    try:
        options = ImportOptions(
            artwork=Dial.of(args.target, client_tls(args)),
            image_dir=args.image_dir or AvaConfig.from_env().image_dir,
            dry_run=args.dry_run,
            analyse=args.analyse,
            strict_names=args.strict_names,
            genre_map=load_genre_map(args.genre_map) if args.genre_map else None,
            cast_gallery=args.cast_gallery,
        )
        report = import_catalog(args.file, options)
    except (BadLine, InvalidArgument, ConfigError) as error:
        print(f"keyart: {error}", file=sys.stderr)
        return 2
    print("\n".join(report.lines()))
    return 0


def _export(args: argparse.Namespace) -> int:
    image_dir = args.image_dir or AvaConfig.from_env().image_dir
    try:
        artwork = Dial.of(args.target, client_tls(args))
        print(export_catalog(args.file, artwork, image_dir).line())
    except (BadLine, ConfigError) as error:
        print(f"keyart: {error}", file=sys.stderr)
        return 2
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    catalog = commands.add_parser("catalog", help="bulk catalog import and export")
    verbs = catalog.add_subparsers(dest="catalog_command", required=True)
    imports = verbs.add_parser(
        "import", help="send a catalog file (.jsonl, .parquet) to the artwork service"
    )
    imports.add_argument("file", type=Path)
    imports.add_argument("--dry-run", action="store_true", help="check the file; send nothing")
    imports.add_argument(
        "--analyse", action="store_true", help="AVA tags local pictures that come without tags"
    )
    imports.add_argument(
        "--cast-gallery", type=Path, help="with --analyse: a folder per cast member, face photos"
    )
    imports.add_argument(
        "--genre-map", type=Path, help='JSON {"their name": "keyart genre" | [...] | null}'
    )
    imports.add_argument(
        "--strict-names", action="store_true", help="a name that maps to no genre is an error"
    )
    imports.set_defaults(handler=_import)
    exports = verbs.add_parser("export", help="write the catalog to a file (.jsonl, .parquet)")
    exports.add_argument("file", type=Path)
    exports.set_defaults(handler=_export)
    for verb in (imports, exports):
        verb.add_argument("--target", default=addresses.ARTWORK, help="artwork service address")
        add_tls_arguments(verb)
        verb.add_argument(
            "--image-dir",
            type=Path,
            help="the image store (default: $KEYART_IMAGE_DIR, else var/images)",
        )
