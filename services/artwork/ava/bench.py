"""`make bench-ava`: AVA throughput on a generated 1080p 24 fps video.

    python -m services.artwork.ava.bench [--seconds 90] [--workers N]

Runs the pipeline short (default 90 s of video) and extrapolates to an hour, linearly:
decoding and annotation cost per frame and per shot, which do not change with length.
Figures on a shared machine are noisy; compare runs on the same machine.
"""

from __future__ import annotations

import argparse
import itertools
import os
import time
from pathlib import Path

from demo.ava import PHOTOS, photo
from services.artwork.ava.analyse import analyse
from services.artwork.ava.crop import SHAPES, crop
from services.artwork.ava.frames import VideoStats
from services.artwork.ava.synthetic import write_video

FPS = 24.0
SIZE = (1920, 1080)
SHOT_SECONDS = 4


def bench_video(seconds: int, directory: Path) -> Path:
    """The generated video, reused when a previous run made it."""
    path = directory / f"ava-1080p-{seconds}s.mp4"
    if not path.exists():
        pictures = itertools.cycle([photo(name) for name in PHOTOS])
        shots = [(next(pictures), int(SHOT_SECONDS * FPS)) for _ in range(seconds // SHOT_SECONDS)]
        write_video(path.with_suffix(".tmp.mp4"), shots, SIZE, FPS)
        path.with_suffix(".tmp.mp4").rename(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=90, help="length of the generated video")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--top-k", type=int, default=8)
    args = parser.parse_args()

    video = bench_video(args.seconds, Path("var/bench"))
    started = time.perf_counter()
    analysis = analyse(video=video, top_k=args.top_k, workers=args.workers)
    crop_started = time.perf_counter()
    for chosen in analysis.top:
        image = chosen.frame.image()
        for shape in SHAPES:
            crop(image, shape, chosen.annotation.subject)
    crop_s = time.perf_counter() - crop_started
    wall_s = time.perf_counter() - started
    stats = analysis.video or VideoStats()
    decode_fps = stats.frames_decoded / stats.decode_s
    analyse_fps = analysis.frames_annotated / (analysis.annotate_cpu_s / args.workers)
    realtime = stats.duration_s / wall_s
    print(
        f"video: {video} ({stats.duration_s:.0f} s, {stats.frames_decoded} frames, 1920x1080 @ {FPS:g} fps)"
    )
    print(f"cores: {os.cpu_count()}, annotation workers: {args.workers}")
    print(
        f"shots found: {len(stats.shot_starts)} (cut every {SHOT_SECONDS} s: {args.seconds // SHOT_SECONDS})"
    )
    print(f"frames sampled: {stats.frames_sampled}, annotated: {analysis.frames_annotated}")
    print(
        "stage split (seconds; decode and probe run in the main process while the pool annotates):"
    )
    print(f"  decode (grab every frame, retrieve samples) {stats.decode_s:8.2f}")
    print(f"  probe (shot cuts, sharpness per sample)     {stats.probe_s:8.2f}")
    print(f"  annotate (CPU s summed over workers)        {analysis.annotate_cpu_s:8.2f}")
    print(f"  rank                                        {analysis.rank_s:8.2f}")
    print(f"  crop top {len(analysis.top)}                                  {crop_s:8.2f}")
    print(f"  wall, end to end                            {wall_s:8.2f}")
    print(
        f"decoded: {decode_fps:.0f} frames/s; annotated: {analyse_fps:.1f} frames/s over {args.workers} workers"
    )
    print(
        f"realtime factor: {realtime:.1f}x; an hour of this video, extrapolated linearly: "
        f"{3600 / realtime / 60:.1f} min (target: 4x, 15 min)"
    )
    print(
        f"summary: decode_fps={decode_fps:.1f} analyse_fps={analyse_fps:.1f} realtime_factor={realtime:.2f}"
    )


if __name__ == "__main__":
    main()
