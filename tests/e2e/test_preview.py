"""The preview page in a real browser (Debian's Chromium driven by Playwright) against the real suite."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from PIL import Image

from cli.preview_process import preview_process
from demo.catalog import demo_titles
from demo.images import draw_missing, image_path
from demo.pages import demo_page
from suite.supervisor import ServiceProcess, Suite, SuiteConfig, free_address

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = Path("var/artifacts")


def ensure_chromium() -> Path:
    """Installs Debian's chromium when it is missing and we may (as root); the test needs a real browser."""
    if not CHROMIUM.exists():
        if os.geteuid() != 0:
            pytest.fail(
                "the preview browser test needs Debian's chromium: apt-get install chromium"
            )
        apt = ["apt-get", "-o", "DPkg::Lock::Timeout=600", "-q"]
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run([*apt, "update"], check=True, env=env)
        subprocess.run([*apt, "install", "-y", "chromium"], check=True, env=env)
    return CHROMIUM


@pytest.fixture(scope="module")
def preview(suite: Suite, suite_config: SuiteConfig) -> Iterator[ServiceProcess]:
    page_titles = {title for _, ids in demo_page() for title in ids}
    draw_missing(suite_config.image_dir, [t for t in demo_titles() if t.title_id in page_titles])
    with open(suite_config.data_dir / "preview.log", "wb") as log:
        process = preview_process(suite_config, log)
        process.start()
        try:
            process.wait_serving()
            yield process
        finally:
            assert process.stop() == 0


def fetch(preview: ServiceProcess, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://{preview.address}{path}", timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_pictures_show_the_tags(suite_config: SuiteConfig, preview: ServiceProcess) -> None:
    def mean_colour(artwork_id: str) -> tuple[int, int, int]:
        with Image.open(image_path(suite_config.image_dir, artwork_id)) as picture:
            assert picture.size == (320, 180)
            top_strip = picture.convert("RGB").crop((0, 0, 320, 30))
        pixel = top_strip.resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
        assert isinstance(pixel, tuple)
        red, green, blue = pixel
        return red, green, blue

    romance = mean_colour("good-will-hunting/damon-driver")
    comedy = mean_colour("good-will-hunting/robin-williams")
    assert romance[0] > 200 and romance[2] > romance[1]  # warm pink
    assert comedy[0] > 200 and comedy[1] > 200 and comedy[2] < 120  # bright yellow


def test_bad_query_is_a_400_naming_the_parameter(preview: ServiceProcess) -> None:
    assert fetch(preview, "/?user=a&user=b&user=c")[0] == 400
    status, body = fetch(preview, "/?defaults=maybe")
    assert status == 400 and "defaults" in body
    status, body = fetch(preview, "/?colour=red")
    assert status == 400 and "colour: unknown query parameter" in body
    assert fetch(preview, "/images/../../etc/passwd.png")[0] in (400, 404)
    status, body = fetch(preview, "/images/good-will-hunting/nothing.png")
    assert status == 404 and "no picture" in body
    assert fetch(preview, "/title/no-such-title")[0] == 404


def test_page_renders_and_says_so_when_the_gateway_is_down(
    suite: Suite, suite_config: SuiteConfig, preview: ServiceProcess
) -> None:
    addresses = {**suite_config.addresses, "gateway": free_address(), "preview": free_address()}
    without_gateway = preview_process(dataclasses.replace(suite_config, addresses=addresses))
    without_gateway.start()
    try:
        without_gateway.wait_serving()
        status, body = fetch(without_gateway, "/?user=romance-fan")
    finally:
        without_gateway.stop()
    assert status == 200
    assert "gateway unavailable (UNAVAILABLE" in body
    assert "data-title-id='good-will-hunting' data-artwork-id='good-will-hunting/neutral'" in body


def test_title_view_lists_every_candidate_best_first(preview: ServiceProcess) -> None:
    status, body = fetch(preview, "/title/good-will-hunting")
    assert status == 200
    order = [body.index(f"data-artwork-id='good-will-hunting/{name}'")
             for name in ("neutral", "damon-driver", "robin-williams")]  # fmt: skip
    assert order == sorted(order)
    assert body.count("class='thirds'") == 3
    assert body.count("class='face-box'") == 3  # two figures on damon-driver, one on robin-williams


def test_two_viewers_side_by_side_in_chromium(preview: ServiceProcess) -> None:
    from playwright.sync_api import sync_playwright

    executable = ensure_chromium()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "preview-romance-vs-comedy.png"
    url = f"http://{preview.address}/?user=romance-fan&user=comedy-fan&defaults=1"
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as playwright:
        # A fresh profile each run: Playwright passes it to Chromium as --user-data-dir.
        browser = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=str(executable),
            args=CHROMIUM_FLAGS,
            viewport={"width": 1600, "height": 1000},
        )
        try:
            page = browser.new_page()
            page.goto(url, wait_until="load")

            def shown(user: str, title_id: str) -> str:
                tile = page.locator(f".panel[data-user='{user}'] .tile[data-title-id='{title_id}']")
                return tile.get_attribute("data-artwork-id") or ""

            assert shown("romance-fan", "good-will-hunting") == "good-will-hunting/damon-driver"
            assert shown("comedy-fan", "good-will-hunting") == "good-will-hunting/robin-williams"
            default = page.locator(
                ".panel[data-mode='default'] .tile[data-title-id='good-will-hunting']"
            )
            assert default.get_attribute("data-artwork-id") == "good-will-hunting/neutral"
            # Every picture loaded (naturalWidth is 0 for a broken image).
            broken = page.eval_on_selector_all(
                "img", "imgs => imgs.filter(i => !i.naturalWidth).length"
            )
            assert broken == 0
            page.locator(
                ".panel[data-user='comedy-fan'] .tile[data-title-id='good-will-hunting']"
            ).hover()
            details = page.locator("#details-panel")
            assert "Robin Williams" in details.inner_text()
            assert details.locator("img.candidate.other").count() == 2
            page.screenshot(path=str(screenshot), full_page=False)
            assert_face_boxes_drawn(page, preview)
        finally:
            browser.close()
    print(f"preview screenshot: {screenshot.resolve()}")
    assert screenshot.stat().st_size > 10_000


def assert_face_boxes_drawn(page: Page, preview: ServiceProcess) -> None:
    """The title view outlines AVA's face boxes, on the picture, one per drawn figure."""
    page.goto(f"http://{preview.address}/title/good-will-hunting", wait_until="load")
    expected = {"damon-driver": 2, "robin-williams": 1, "neutral": 0}
    for name, count in expected.items():
        picture = page.locator(
            f".candidate-card[data-artwork-id='good-will-hunting/{name}'] .annotated"
        )
        assert picture.get_attribute("data-face-boxes") == str(count)
        boxes = picture.locator(".face-box")
        assert boxes.count() == count
        image = picture.locator("img").bounding_box()
        assert image is not None
        for index in range(count):
            box = boxes.nth(index).bounding_box()
            assert box is not None and box["width"] > 10 and box["height"] > 10
            assert (
                image["x"] <= box["x"]
                and box["x"] + box["width"] <= image["x"] + image["width"] + 0.5
            )
            assert (
                image["y"] <= box["y"]
                and box["y"] + box["height"] <= image["y"] + image["height"] + 0.5
            )
    page.screenshot(path=str(ARTIFACTS / "preview-title-face-boxes.png"), full_page=False)


def test_the_preview_logs_stopping_then_stopped(suite_config: SuiteConfig, tmp_path: Path) -> None:
    addresses = {**suite_config.addresses, "preview": free_address()}
    log_path = tmp_path / "preview.log"
    with open(log_path, "wb") as log:
        process = preview_process(dataclasses.replace(suite_config, addresses=addresses), log)
        process.start()
        process.wait_serving()
        assert process.stop() == 0
    events = [json.loads(line)["event"] for line in log_path.read_text().splitlines()]
    assert events[-2:] == ["stopping", "stopped"]
