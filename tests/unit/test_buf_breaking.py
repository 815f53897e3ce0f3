"""`make lint`'s breaking-change check (.ci/buf-breaking): the real buf against real git
histories built from this tree's protos, including the shallow clone CI makes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUF = REPO / "node_modules" / ".bin" / "buf"
SCRIPT = REPO / ".ci" / "buf-breaking"
RANKER_PROTO = Path("protos/keyart/ranker/v1/ranker_service.proto")
FIELD = "bytes context_features = 2;"

pytestmark = pytest.mark.skipif(
    not BUF.exists(), reason="the buf CLI is not installed: `make lint` installs it"
)


def git(repo: Path, *args: str) -> str:
    identity = ["-c", "user.name=test", "-c", "user.email=test@example.com"]
    done = subprocess.run(
        ["git", *identity, *args], cwd=repo, check=True, capture_output=True, text=True
    )
    return done.stdout


def history(repo: Path, *changes: tuple[str, str]) -> Path:
    """A repository whose first commit holds this tree's protos and buf.yaml, then one commit
    per (old, new) replacement in the ranker's proto."""
    repo.mkdir()
    shutil.copytree(REPO / "protos", repo / "protos")
    shutil.copy(REPO / "buf.yaml", repo / "buf.yaml")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "protos")
    for old, new in changes:
        proto = repo / RANKER_PROTO
        text = proto.read_text()
        assert old in text
        proto.write_text(text.replace(old, new))
        git(repo, "commit", "-q", "-am", f"{old} -> {new}")
    return repo


def check(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), str(BUF)],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,  # the exit status is what is tested
    )


RENUMBERED = (FIELD, "bytes context_features = 98;")
ADDED = (FIELD, FIELD + "\n  string note = 99;")


def test_a_renumbered_field_in_the_last_commit_fails_naming_it(tmp_path: Path) -> None:
    done = check(history(tmp_path / "repo", RENUMBERED))
    assert done.returncode != 0
    assert 'field "2" with name "context_features"' in done.stdout


def test_an_added_field_passes(tmp_path: Path) -> None:
    done = check(history(tmp_path / "repo", ADDED))
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_shallow_clone_fetches_the_previous_commit_and_still_catches_the_break(
    tmp_path: Path,
) -> None:
    origin = history(tmp_path / "origin", RENUMBERED)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--depth", "1", origin.as_uri(), str(clone))
    done = check(clone)
    assert "fetching one commit deeper" in done.stdout
    assert done.returncode != 0
    assert 'field "2" with name "context_features"' in done.stdout


def test_a_shallow_clone_that_cannot_fetch_fails_saying_how_to_fix_it(tmp_path: Path) -> None:
    origin = history(tmp_path / "origin", RENUMBERED)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--depth", "1", origin.as_uri(), str(clone))
    shutil.rmtree(origin)
    done = check(clone)
    assert done.returncode == 2
    assert "clone with --depth 2 or more" in done.stderr


def test_the_commit_that_adds_buf_yaml_passes_against_a_parent_without_one(
    tmp_path: Path,
) -> None:
    """As this branch's first commit does: the parent's protos/ is read without a config."""
    repo = history(tmp_path / "repo")
    git(repo, "rm", "-q", "buf.yaml")
    git(repo, "commit", "-q", "-m", "no buf.yaml yet")
    shutil.copy(REPO / "buf.yaml", repo / "buf.yaml")
    git(repo, "add", "buf.yaml")
    git(repo, "commit", "-q", "-m", "buf.yaml")
    done = check(repo)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_first_commit_is_skipped_with_a_message(tmp_path: Path) -> None:
    done = check(history(tmp_path / "repo"))
    assert done.returncode == 0
    assert "skipped, HEAD is the first commit" in done.stdout
