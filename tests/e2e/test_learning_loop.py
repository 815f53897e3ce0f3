"""The learning loop on the real suite: impressions and plays logged, joined, trained on, evaluated."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import grpc
from keyart.artwork.v1 import artwork_service_pb2 as artwork_pb
from keyart.artwork.v1.artwork_service_pb2_grpc import ArtworkServiceStub
from keyart.gateway.v1 import gateway_service_pb2 as pb

from common.catalog_snapshot import snapshot_path
from common.log_schema import PageImpression
from demo.pages import demo_page
from learning.dataset import candidate_matrix, load, page_matrices, read_pages
from suite.client import PageClient
from suite.supervisor import SuiteConfig

NEW_ART_TITLE = "title-00016"  # on no demo page: new art for it changes only the catalog version


def wait_for_page(logs: Path, page_id: str, timeout_s: float = 10.0) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if any(page.page_id == page_id for page in read_pages(logs)):
            return
        time.sleep(0.1)
    raise AssertionError(f"page {page_id} was not logged within {timeout_s} s")


def logged_page(logs: Path, page_id: str) -> PageImpression:
    wait_for_page(logs, page_id)
    return next(page for page in read_pages(logs) if page.page_id == page_id)


def wait_for_file(path: Path, timeout_s: float = 20.0) -> None:
    end = time.monotonic() + timeout_s
    while not path.exists():
        assert time.monotonic() < end, f"{path.name} was not written within {timeout_s} s"
        time.sleep(0.1)


def page_under_new_catalog(client: PageClient, logs: Path, version: str) -> PageImpression:
    """A page logged under `version`, once the gateway's catalog cache has caught up."""
    end = time.monotonic() + 30
    while True:
        page = logged_page(logs, client.render_page("romance-fan", demo_page()).page_id)
        if {tile.catalog_version for tile in page.tiles} == {version}:
            return page
        assert time.monotonic() < end, f"no page under catalog {version} within 30 s"
        time.sleep(0.2)


def test_decisions_logged_before_a_catalog_change_are_still_read(
    client: PageClient, suite_config: SuiteConfig
) -> None:
    """First in this module: no train or evaluate has snapshotted the catalog before it."""
    logs = suite_config.data_dir / "logs"
    artwork = suite_config.addresses["artwork"]
    before = logged_page(logs, client.render_page("romance-fan", demo_page()).page_id)
    (version_a,) = {tile.catalog_version for tile in before.tiles}
    wait_for_file(snapshot_path(logs, version_a))  # the gateway snapshots what it logs

    with grpc.insecure_channel(artwork) as channel:
        registered = ArtworkServiceStub(channel).RegisterArtworks(
            artwork_pb.RegisterArtworksRequest(
                title_id=NEW_ART_TITLE,
                artworks=[
                    artwork_pb.NewArtwork(
                        artwork_id=f"{NEW_ART_TITLE}/snapshot-test",
                        tags=artwork_pb.AvaTags(
                            tones=["drama"], visual_quality=0.5, composition=0.5
                        ),
                    )
                ],
            ),
            timeout=10,
        )
    version_b = registered.catalog_version
    assert version_b != version_a
    after = page_under_new_catalog(client, logs, version_b)

    matrices = page_matrices(logs, artwork)  # what train and evaluate resolve rows from
    assert {version_a, version_b} <= set(matrices)
    for page in (before, after):
        assert all(len(candidate_matrix(tile, matrices)) for tile in page.tiles)
    data = load(logs, artwork_target=artwork)
    assert len(data) >= len(before.tiles) + len(after.tiles)


def test_every_ranked_title_is_logged_and_a_play_joins_as_its_reward(
    client: PageClient, suite_config: SuiteConfig
) -> None:
    logs = suite_config.data_dir / "logs"
    page = client.render_page("romance-fan", demo_page())
    tile = page.rows[0].tiles[0]
    client.report_event(
        user_id="romance-fan",
        title_id=tile.title_id,
        artwork_id=tile.artwork_id,
        page_id=page.page_id,
        kind=pb.EVENT_KIND_QUALIFIED_PLAY,
    )
    wait_for_page(logs, page.page_id)

    logged = next(p for p in read_pages(logs) if p.page_id == page.page_id)
    served = {t.title_id: t for row in page.rows for t in row.tiles}
    assert {d.title_id for d in logged.tiles} == set(served)
    for decision in logged.tiles:
        assert decision.candidate_ids[decision.chosen] == served[decision.title_id].artwork_id
        assert abs(decision.propensity - served[decision.title_id].propensity) < 1e-6
    assert (logged.user_id, logged.model_version, logged.policy) == (
        "romance-fan",
        page.model_version,
        "greedy",
    )
    assert logged.viewer_known and logged.viewer_features.any()

    data = load(logs, artwork_target=suite_config.addresses["artwork"])
    assert data.reward.sum() >= 1  # the qualified play above, joined by page id + title id
    assert list(logs.glob("catalog-*.npy"))  # the catalog version's rows, snapshotted


def test_train_and_evaluate_commands_on_the_suites_logs(
    client: PageClient, suite_config: SuiteConfig, tmp_path: Path
) -> None:
    for user in ("romance-fan", "comedy-fan", "uma-fan", "new-viewer"):
        client.render_page(user, demo_page())
    logs = suite_config.data_dir / "logs"
    out = tmp_path / "learned.onnx"
    keyart = [sys.executable, "-m", "cli.main"]
    trained = subprocess.run(
        [
            *keyart,
            "train",
            "--log",
            str(logs),
            "--out",
            str(out),
            "--max-iterations",
            "20",
            "--artwork-target",
            suite_config.addresses["artwork"],
            "--allow-unexplored",  # the suite serves with exploration off: every propensity is 1
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,  # asserted below, with stderr in the message
    )
    assert trained.returncode == 0, trained.stderr
    assert out.exists() and (tmp_path / "learned.card.json").exists()
    assert "holdout DR estimate none: too few explored decisions" in trained.stdout

    evaluated = subprocess.run(
        [
            *keyart,
            "evaluate",
            "--log",
            str(logs),
            "--model",
            str(suite_config.model_path),
            "--model",
            str(out),
            "--artwork-target",
            suite_config.addresses["artwork"],
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,  # asserted below, with stderr in the message
    )
    assert evaluated.returncode == 0, evaluated.stderr
    lines = evaluated.stdout.splitlines()
    names = [line.split()[0] for line in lines[1:]]
    assert names[:2] == ["random", "default"]
    assert any(line.startswith("bundled-") for line in lines)
    assert any(line.startswith("learned-") for line in lines)
    assert "snips=" in evaluated.stdout and "dr=" in evaluated.stdout
