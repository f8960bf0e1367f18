"""Installing archspec as a user does: the built wheel (not the editable checkout) works in a fresh
virtual environment, and the console script refuses an unrelated package named `archspec`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

import pytest
from conftest import ROOT

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

# Not copied into the build: environments, caches, build outputs, version control.
NOT_SOURCES = (
    ".venv",
    ".git",
    "build",
    "dist",
    "mutants",
    "__pycache__",
    "*.egg-info",
    ".*cache",
    "node_modules",
)


def run(command: list, cwd: Path, timeout: int = 300, **options) -> subprocess.CompletedProcess:
    completed = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        **options,
    )
    assert completed.returncode == 0, (command, completed.stdout, completed.stderr)
    return completed


def build_distributions(tmp_path: Path) -> tuple[Path, Path]:
    """`python -m build` on a copy of the working tree: (wheel, sdist)."""
    pytest.importorskip("build", reason="the dev extra's `build` is not installed")
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_SOURCES), symlinks=True)
    dist = tmp_path / "dist"
    # --no-isolation: this environment's setuptools, so the build needs no network.
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, source], tmp_path)
    (wheel,) = dist.glob("*.whl")
    (sdist,) = dist.glob("*.tar.gz")
    return wheel, sdist


@pytest.mark.slow
def test_the_built_wheel_works_in_a_fresh_environment(tmp_path):
    wheel, sdist = build_distributions(tmp_path)
    if _has("twine"):  # the dev extra's; PyPI would refuse what it refuses
        run([sys.executable, "-m", "twine", "check", "--strict", wheel, sdist], tmp_path)

    environment = tmp_path / "env"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    dependencies = pyproject["project"]["dependencies"]
    installed = subprocess.run(
        [python, "-m", "pip", "install", "-q", *dependencies], capture_output=True, text=True
    )
    if installed.returncode != 0:
        pytest.skip(f"cannot install the dependencies here: {installed.stderr[-500:]}")
    run([python, "-m", "pip", "install", "-q", "--no-deps", wheel], tmp_path)
    run([python, "-m", "pip", "check"], tmp_path)  # the wheel's requirements are met

    # A project outside the checkout: a spec importing the shipped standard library.
    project = tmp_path / "project"
    project.mkdir()
    (project / "net.arch").write_text(
        textwrap.dedent(
            """\
            from "std/resnet.arch" import BasicBlock

            model Net {
                input x: [N, 64, 56, 56]
                return x -> BasicBlock(64, 64) -> BasicBlock(64, 128, stride=2)
            }
            """
        ),
        encoding="utf-8",
    )
    shutil.copy(ROOT / "specs/seeds/resnet18_imagenet.arch", project)
    shutil.copy(ROOT / "specs/seeds/resnet_blocks.arch", project)
    archspec = environment / "bin" / "archspec"
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    checked = run([archspec, "check", "."], project, env=clean)
    assert "checked 3 files: no problems" in checked.stdout
    run([archspec, "compile", "net.arch", "-o", "net.py"], project, env=clean)
    run([archspec, "compile", "resnet18_imagenet.arch", "-o", "resnet.py"], project, env=clean)
    assert "class Net(nn.Module)" in (project / "net.py").read_text(encoding="utf-8")
    # The installed package ran, not this checkout.
    where = run([python, "-c", "import archspec; print(archspec.__file__)"], project, env=clean)
    assert str(environment) in where.stdout
    module = run([python, "-m", "archspec", "check", "net.arch"], project, env=clean)
    assert "no problems" in module.stdout


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


# ---------------------------------------------------------------- the name `archspec`


def console_script(tmp_path: Path, *path: Path, **environment: str):
    """The `archspec --version` console script with `path` first on the import path."""
    code = "\n".join(
        [
            "import sys",
            "sys.argv = ['archspec', '--version']",
            "import archspec_nn",
            "archspec_nn.main()",
        ]
    )
    env = {k: v for k, v in os.environ.items() if k != "ARCHSPEC_IGNORE_NAME_CLASH"}
    env.update(PYTHONPATH=os.pathsep.join(map(str, (*path, ROOT))), **environment)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=env
    )


def unrelated_archspec(folder: Path) -> Path:
    """The conda package's layout: archspec/__init__.py and archspec/cpu/."""
    (folder / "archspec" / "cpu").mkdir(parents=True)
    (folder / "archspec" / "__init__.py").write_text("raise SystemExit('the wrong archspec ran')\n")
    (folder / "archspec" / "cpu" / "__init__.py").write_text("")
    return folder


def test_the_console_script_refuses_an_unrelated_archspec(tmp_path):
    other = unrelated_archspec(tmp_path / "site")
    completed = console_script(tmp_path, other)
    assert completed.returncode == 2
    assert "the wrong archspec ran" not in completed.stderr  # its code never ran
    assert "is not archspec-nn's" in completed.stderr
    assert str(other / "archspec") in completed.stderr
    assert "virtual environment" in completed.stderr


def test_the_console_script_warns_of_a_hidden_or_mixed_in_namesake(tmp_path):
    hidden = unrelated_archspec(tmp_path / "later")
    completed = console_script(tmp_path, ROOT, hidden)
    assert completed.returncode == 0
    assert completed.stdout.startswith("archspec ")
    assert "warning: an unrelated package named `archspec`" in completed.stderr
    assert str(hidden / "archspec") in completed.stderr
    # One package folder holding both (pip installed over conda's): ours, with cpu/ inside.
    mixed = tmp_path / "mixed" / "archspec"
    mixed.mkdir(parents=True)
    for entry in (ROOT / "archspec").iterdir():
        (mixed / entry.name).symlink_to(entry)
    (mixed / "cpu").mkdir()
    completed = console_script(tmp_path, mixed.parent)
    assert completed.returncode == 0
    assert "warning" in completed.stderr and str(mixed) in completed.stderr
    silenced = console_script(tmp_path, mixed.parent, ARCHSPEC_IGNORE_NAME_CLASH="1")
    assert silenced.returncode == 0 and silenced.stderr == ""


def test_no_warning_for_this_project_alone(tmp_path):
    completed = console_script(tmp_path)
    assert (completed.returncode, completed.stderr) == (0, "")
