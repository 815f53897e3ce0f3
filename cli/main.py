"""The `keyart` command: run the suite, look at a page, report an event."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import grpc

from cli.ava import add_commands as add_ava_commands
from cli.catalog import add_commands as add_catalog_commands
from cli.collect import add_commands as add_collect_commands
from cli.dataset import add_commands as add_dataset_commands
from cli.events import add_commands as add_event_commands
from cli.experiment import add_commands as add_experiment_commands
from cli.loop import add_commands as add_loop_commands
from cli.models import add_commands as add_model_commands
from cli.render import format_page
from cli.seed import seed_viewers
from common.config import env_str
from common.errors import KeyartError
from demo.pages import demo_page, reference_page
from learning.commands import add_commands as add_learning_commands
from suite.client import DEFAULT_TARGET, EVENT_KINDS, PageClient


def gateway_client(args: argparse.Namespace) -> PageClient:
    credentials = grpc.ssl_channel_credentials(args.ca.read_bytes()) if args.ca else None
    return PageClient(args.target, credentials=credentials, token=args.token)


def _page(args: argparse.Namespace) -> int:
    rows = reference_page() if args.reference else demo_page()
    with gateway_client(args) as client:
        response = client.render_page(args.user, rows, budget_ms=args.budget_ms)
    print(format_page(args.user, response))
    return 0


def _event(args: argparse.Namespace) -> int:
    with gateway_client(args) as client:
        response = client.report_event(
            user_id=args.user,
            title_id=args.title,
            kind=EVENT_KINDS[args.kind],
            event_id=args.event_id,
            artwork_id=args.artwork,
            page_id=args.page_id,
        )
    print("duplicate: already recorded" if response.duplicate else "recorded")
    return 0


def _seed(args: argparse.Namespace) -> int:
    with gateway_client(args) as client:
        applied, duplicates = seed_viewers(client)
    print(f"seeded: {applied} new events, {duplicates} already there")
    return 0


def _run(args: argparse.Namespace) -> int:
    from cli.run import run

    return run(args.token)


def _run_scaled(args: argparse.Namespace) -> int:
    from cli.run_scaled import run_scaled

    return run_scaled(args.data_dir)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="keyart", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="start all four services (embedded stores, demo data)")
    run.set_defaults(handler=_run)

    scaled = commands.add_parser(
        "run-scaled", help="the production shape: real stores, NATS, two replicas of each service"
    )
    scaled.add_argument(
        "--data-dir", type=Path, help="where everything keeps its data (default: a new temp dir)"
    )
    scaled.set_defaults(handler=_run_scaled)

    page = commands.add_parser("page", help="render a viewer's demo page and print it")
    page.add_argument("--user", required=True, help="viewer id, e.g. romance-fan")
    page.add_argument("--reference", action="store_true", help="the 40×40 benchmark page instead")
    page.add_argument("--budget-ms", type=int, default=0, help="0 = the gateway's default")
    page.set_defaults(handler=_page)

    event = commands.add_parser("event", help="report a feedback event")
    event.add_argument("--user", required=True)
    event.add_argument("--title", required=True)
    event.add_argument("--kind", choices=sorted(EVENT_KINDS), default="qualified-play")
    event.add_argument("--artwork", default="", help="the artwork the viewer saw")
    event.add_argument(
        "--page-id",
        default="",
        help="the page_id of the RenderPage answer the viewer acted on: makes the event a reward",
    )
    event.add_argument(
        "--event-id",
        default=None,
        help="idempotency key: the same id again is answered 'duplicate' (default: random)",
    )
    event.set_defaults(handler=_event)

    seed = commands.add_parser("seed", help="send the demo viewers' watch histories")
    seed.set_defaults(handler=_seed)

    for sub in (page, event, seed):
        sub.add_argument("--target", default=DEFAULT_TARGET, help="gateway address")
        sub.add_argument("--ca", type=Path, help="CA certificate: talk TLS to the gateway")
    for sub in (run, page, event, seed):
        sub.add_argument(
            "--token",
            default=env_str("KEYART_TOKEN", ""),
            help="bearer token, when the gateway requires one (default: $KEYART_TOKEN)",
        )
    add_ava_commands(commands)
    add_catalog_commands(commands)
    add_event_commands(commands)
    add_learning_commands(commands)
    add_dataset_commands(commands)
    add_experiment_commands(commands)
    add_model_commands(commands)
    add_collect_commands(commands)
    add_loop_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except grpc.RpcError as error:
        print(f"keyart: {error.code().name}: {error.details()}", file=sys.stderr)
        return 1
    except KeyartError as error:
        print(f"keyart: {type(error).__name__}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
