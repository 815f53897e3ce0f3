"""`keyart dataset`: the Parquet learning dataset (docs/dataset.md).

`compact` adds the gateway's closed log segments to it; `import` and `export`
move it in and out of DSJSON and OBP (docs/interchange.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common.storage import Location
from learning.commands import refusing
from learning.compact import compact
from learning.input_checks import InputError, reward_range
from learning.interchange import formats
from learning.interchange.dsjson_import import Options

LOCATION_HELP = (
    "the dataset: a directory or a filesystem URL (s3://bucket/prefix, …; docs/dataset.md)"
)


def _compact(args: argparse.Namespace) -> int:
    print(compact(args.logs, Location.parse(args.dataset)).line())
    return 0


def _import(args: argparse.Namespace) -> int:
    importer = formats.pick(formats.IMPORTERS, args.format)
    try:
        bounds = reward_range(args.reward_range)
    except ValueError as error:
        raise InputError(f"--reward-range: {error}") from None
    options = Options(reward_range=bounds, viewer_namespace=args.viewer_namespace)
    root = Location.parse(args.dataset)
    count = importer(args.file, root, options)
    print(f"imported {count} decisions from {args.file} into {root}")
    return 0


def _export(args: argparse.Namespace) -> int:
    root = Location.parse(args.dataset)
    count = formats.pick(formats.EXPORTERS, args.format)(root, args.file)
    print(f"exported {count} decisions from {root} to {args.file}")
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    dataset = commands.add_parser(
        "dataset",
        help="the Parquet learning dataset: compact the gateway's logs into it, DSJSON and OBP "
        "in and out",
    )
    verbs = dataset.add_subparsers(dest="verb", required=True)
    compact_verb = verbs.add_parser(
        "compact",
        help="add the gateway's closed impression and feedback segments (each once)",
    )
    compact_verb.add_argument(
        "--logs", type=Path, required=True, help="the gateway's log directory (GATEWAY_LOG_DIR)"
    )
    compact_verb.add_argument("--dataset", required=True, help=f"{LOCATION_HELP} (made if missing)")
    compact_verb.set_defaults(handler=refusing("dataset compact", _compact))
    imports = verbs.add_parser("import", help="a DSJSON or OBP log into a new dataset")
    imports.add_argument("file", type=Path)
    imports.add_argument("--format", required=True, help="dsjson or obp")
    imports.add_argument("--dataset", required=True, help=f"a new dataset: {LOCATION_HELP}")
    imports.add_argument(
        "--reward-range",
        default="0,1",
        help="LO,HI: the rewards the log may hold (DSJSON's reward is −_label_cost); default 0,1",
    )
    imports.add_argument(
        "--viewer-namespace",
        help="DSJSON: the shared namespace whose features are the viewer's (default: none)",
    )
    imports.set_defaults(handler=refusing("dataset import", _import))
    exports = verbs.add_parser("export", help="a dataset as DSJSON or OBP")
    exports.add_argument("file", type=Path)
    exports.add_argument("--format", required=True, help="dsjson or obp")
    exports.add_argument("--dataset", required=True, help=LOCATION_HELP)
    exports.set_defaults(handler=refusing("dataset export", _export))
