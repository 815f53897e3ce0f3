"""Processes start SERVING and stop cleanly on SIGTERM; the CLI prints the page."""

from __future__ import annotations

import subprocess
import sys

from suite.supervisor import START_ORDER, Suite, SuiteConfig, local_suite_config


def test_all_four_stop_cleanly_on_sigterm(suite_config: SuiteConfig, tmp_path) -> None:
    suite = Suite(local_suite_config(tmp_path, suite_config.model_path))
    suite.start()
    assert suite.stop() == {name: 0 for name in reversed(START_ORDER)}


def cli_page_line(user_id: str, title_id: str, gateway: str) -> str:
    """The line `keyart page` prints for `title_id` on `user_id`'s demo page."""
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "page", "--user", user_id, "--target", gateway],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return next(line for line in result.stdout.splitlines() if f"{title_id} " in line)


def test_cli_prints_the_personalized_page(suite: Suite, suite_config: SuiteConfig) -> None:
    line = cli_page_line("comedy-fan", "good-will-hunting", suite_config.addresses["gateway"])
    assert "good-will-hunting/robin-williams" in line
    assert "not personalized" not in line and "personalized" in line


def test_cli_says_why_a_tile_is_not_personalized(suite: Suite, suite_config: SuiteConfig) -> None:
    line = cli_page_line("new-viewer", "good-will-hunting", suite_config.addresses["gateway"])
    assert "good-will-hunting/neutral" in line
    assert "not personalized (cold start" in line
