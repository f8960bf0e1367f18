"""Shared test helpers: golden files (`pytest --update-goldens` rewrites them) and paths."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
# examples/se_net.arch builds layers of examples/mylayers.py (extern ops): importable, as they are
# where the example runs
sys.path.append(str(ROOT / "examples"))


def pytest_addoption(parser):
    parser.addoption(
        "--update-goldens",
        action="store_true",
        default=False,
        help="rewrite golden files from the current output (review the diff like code)",
    )


@pytest.fixture
def golden(request):
    """golden(path, text): compare with the stored file, or rewrite it under --update-goldens."""
    update = request.config.getoption("--update-goldens")

    def check(path: Path, text: str) -> None:
        if update or not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            if not update:
                pytest.fail(f"golden file {path} did not exist; written, review and commit it")
            return
        expected = path.read_text(encoding="utf-8")
        assert text == expected, f"output differs from {path} (run pytest --update-goldens)"

    return check


@pytest.fixture(autouse=True)
def _repo_root_cwd(monkeypatch):
    # Diagnostics name files as given; run from the repo root so paths in goldens are stable.
    monkeypatch.chdir(ROOT)
    os.environ.pop("NO_COLOR", None)


def model_specs() -> list[str]:
    """Every shipped spec (specs/ and examples/) that checks clean and defines a model."""
    import archspec

    paths = sorted((ROOT / "specs").rglob("*.arch")) + sorted((ROOT / "examples").rglob("*.arch"))
    found = []
    for path in paths:
        relative = str(path.relative_to(ROOT))
        result = archspec.check(relative)
        if result.ok and result.models:
            found.append(relative)
    return found


def git(folder: Path, *args: str) -> None:
    """Run git in `folder` with no user or system configuration and a fixed identity."""
    environment = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    subprocess.run(["git", *args], cwd=folder, env=environment, check=True, capture_output=True)


def commit_everything(folder: Path) -> None:
    """`folder` as a new git repository whose one commit holds everything in it."""
    git(folder, "init", "-q")
    git(folder, "add", ".")
    git(folder, "commit", "-q", "-m", "first")
