"""`python -m loadgen --config loadtest/render_page.json [-O json] [--host H]`: ghz's job, built in."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from loadgen.ghz import ConfigProblem, format_summary, json_report, load_config
from loadgen.runner import LoadResult, run_load


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="loadgen", description=__doc__)
    parser.add_argument("--config", required=True, type=Path, help="a ghz JSON config file")
    parser.add_argument("--host", help="override the config's host")
    parser.add_argument(
        "-O", "--format", choices=("summary", "json"), help="override the config's format"
    )
    args = parser.parse_args(argv)
    try:
        run = load_config(args.config, args.host)
    except (ConfigProblem, OSError, json.JSONDecodeError) as problem:
        print(f"loadgen: {problem}", file=sys.stderr)
        return 2
    result = asyncio.run(run_load(run.plan))
    result = LoadResult(result.records[run.skip_first :], result.wall_s)
    if (args.format or run.output_format) == "json":
        print(json.dumps(json_report(result, run), indent=2))
    else:
        print(format_summary(result), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
