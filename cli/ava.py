"""`keyart ava ...`: run the AVA pipeline and register its candidates with the artwork service."""

from __future__ import annotations

import argparse
from pathlib import Path

from services.artwork.ava.client import DEFAULT_ARTWORK_TARGET, ArtworkCatalogClient
from services.artwork.ava.config import AvaConfig
from services.artwork.ava.ingest import IngestRequest, IngestResult, image_paths, ingest


def format_result(title_id: str, result: IngestResult, image_dir: Path) -> str:
    analysis = result.analysis
    lines = [
        f"{title_id}: {len(result.artworks)} candidates registered"
        f" (catalog {result.catalog_version}); {analysis.frames_annotated} frames annotated,"
        f" rejected {analysis.rejected or 'none'}"
    ]
    # Best AVA score first: the pipeline picks for diversity, so its order is not the score's.
    ranked = sorted(
        zip(analysis.top, result.artworks, strict=True), key=lambda pair: -pair[0].score
    )
    for chosen, artwork in ranked:
        lines.append(
            f"  {artwork.artwork_id}  score {chosen.score:.3f}  {chosen.annotation.shot_type}"
            f"  cast {list(artwork.cast)}  tones {list(artwork.tones)}"
            f"  quality {artwork.visual_quality:.2f}  composition {artwork.composition:.2f}"
            f"\n    {image_paths(image_dir, artwork.artwork_id)['16x9']}"
        )
    return "\n".join(lines)


def _ingest(args: argparse.Namespace) -> int:
    config = AvaConfig.from_env()
    request = IngestRequest(
        title_id=args.title,
        video=args.video,
        stills=args.stills,
        cast_gallery=args.cast_gallery,
        labels=args.labels,
        top_k=args.top_k,
        replace=args.replace,
    )
    with ArtworkCatalogClient(args.target) as catalog:
        result = ingest(request, config, catalog)
    print(format_result(args.title, result, config.image_dir))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from demo.ava import rebuild

    config = AvaConfig.from_env()
    with ArtworkCatalogClient(args.target) as catalog:
        results = rebuild(config, catalog)
    for result in results:
        print(format_result(result.artworks[0].artwork_id.split("/")[0], result, config.image_dir))
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    ava = commands.add_parser("ava", help="turn stills or video into candidate artwork")
    verbs = ava.add_subparsers(dest="ava_command", required=True)

    run = verbs.add_parser("ingest", help="analyse, rank, crop and register a title's candidates")
    run.add_argument("--title", required=True, help="an existing title id")
    source = run.add_mutually_exclusive_group(required=True)
    source.add_argument("--video", type=Path, help="a video file")
    source.add_argument("--stills", type=Path, help="a folder of still images")
    run.add_argument("--cast-gallery", type=Path, help="a folder per cast member with face photos")
    run.add_argument("--labels", type=Path, help='editorial labels, JSON: {"tones": [...]}')
    run.add_argument("--top-k", type=int, default=4, help="candidates to keep (1-32)")
    run.add_argument("--replace", action="store_true", help="drop the title's other candidates")
    run.set_defaults(handler=_ingest)

    demo = verbs.add_parser("demo", help="rebuild some demo candidates from scikit-image photos")
    demo.set_defaults(handler=_demo)

    for verb in (run, demo):
        verb.add_argument(
            "--target", default=DEFAULT_ARTWORK_TARGET, help="artwork service address"
        )
