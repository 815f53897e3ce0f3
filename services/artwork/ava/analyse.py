"""Frames → annotations (in a process pool) → the ranked top K. No side effects."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from services.artwork.ava.annotate import Annotation, annotate
from services.artwork.ava.faces import FaceMatcher, Gallery
from services.artwork.ava.frames import Frame, VideoStats, read_stills, sample_video
from services.artwork.ava.rank import Scored, rank, rejection

_matcher: FaceMatcher | None = None


def _start_worker(gallery: Gallery | None) -> None:
    """Each worker trains its own matcher (OpenCV objects do not pickle) and runs
    OpenCV single-threaded, the pool being the parallelism."""
    global _matcher  # noqa: PLW0603 - per-process state, set once by the pool initializer
    cv2.setNumThreads(1)
    _matcher = FaceMatcher(gallery) if gallery is not None else None


def _annotate(frame: Frame) -> tuple[Annotation, float]:
    started = time.process_time()
    annotation = annotate(frame.image(), _matcher)
    return annotation, time.process_time() - started


@dataclass
class Analysis:
    top: list[Scored]
    frames_annotated: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    video: VideoStats | None = None
    annotate_cpu_s: float = 0.0  # summed over the workers
    rank_s: float = 0.0
    wall_s: float = 0.0


def _shots(
    video: Path | None,
    stills: Path | None,
    samples_per_second: float,
    frames_per_shot: int,
    stats: VideoStats,
) -> Iterator[list[Frame]]:
    if video is not None:
        yield from sample_video(video, samples_per_second, frames_per_shot, stats)
    elif stills is not None:
        yield read_stills(stills)


def analyse(
    *,
    video: Path | None = None,
    stills: Path | None = None,
    gallery: Gallery | None = None,
    top_k: int,
    workers: int,
    samples_per_second: float = 4.0,
    frames_per_shot: int = 2,
) -> Analysis:
    """Exactly one of `video` and `stills`. Decoding runs here while the pool annotates
    the shots already closed."""
    if (video is None) == (stills is None):
        raise ValueError("analyse takes exactly one of video and stills")
    started = time.perf_counter()
    stats = VideoStats()
    pending: list[Future[tuple[Annotation, float]]] = []
    frames: list[Frame] = []
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(gallery,),
    ) as pool:
        for shot in _shots(video, stills, samples_per_second, frames_per_shot, stats):
            frames.extend(shot)
            pending.extend(pool.submit(_annotate, frame) for frame in shot)
        results = [future.result() for future in pending]
    analysis = Analysis(top=[], frames_annotated=len(frames), video=stats if video else None)
    annotated = []
    for frame, (annotation, cpu_s) in zip(frames, results, strict=True):
        analysis.annotate_cpu_s += cpu_s
        reason = rejection(annotation)
        if reason is not None:
            analysis.rejected[reason] = analysis.rejected.get(reason, 0) + 1
        annotated.append((frame, annotation))
    ranked_at = time.perf_counter()
    analysis.top = rank(annotated, top_k)
    analysis.rank_s = time.perf_counter() - ranked_at
    analysis.wall_s = time.perf_counter() - started
    return analysis
