"""`keyart dataset`: the Parquet learning dataset (docs/dataset.md).

`compact` adds the gateway's closed log segments to it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from learning.commands import refusing
from learning.compact import compact


def _compact(args: argparse.Namespace) -> int:
    print(compact(args.logs, args.dataset).line())
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    dataset = commands.add_parser(
        "dataset", help="the Parquet learning dataset: compact the gateway's logs into it"
    )
    verbs = dataset.add_subparsers(dest="verb", required=True)
    compact_verb = verbs.add_parser(
        "compact",
        help="add the gateway's closed impression and feedback segments (each once)",
    )
    compact_verb.add_argument(
        "--logs", type=Path, required=True, help="the gateway's log directory (GATEWAY_LOG_DIR)"
    )
    compact_verb.add_argument(
        "--dataset", type=Path, required=True, help="the dataset directory (made if missing)"
    )
    compact_verb.set_defaults(handler=refusing("dataset compact", _compact))
