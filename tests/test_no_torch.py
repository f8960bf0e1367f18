"""`archspec check` needs only lark, networkx and graphviz: it must work where torch cannot load."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from conftest import ROOT

BLOCK_TORCH = """
import importlib.abc
import sys


class BlockTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision"):
            raise ImportError(f"{name} is blocked for this test")
        return None


sys.meta_path.insert(0, BlockTorch())
try:
    import torch  # noqa: F401
except ImportError:
    pass
else:
    raise SystemExit("the torch blocker does not work")
"""


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_check_runs_with_torch_blocked():
    completed = run_python(
        BLOCK_TORCH
        + """
import archspec.cli

code = archspec.cli.main(["check", "specs/"])
assert code == 0, code
code = archspec.cli.main(["check", "--format", "json", "examples/seed000_convnet.arch"])
assert code == 1, code
pair = ["tests/data/diff/widened_cnn/old.arch", "tests/data/diff/widened_cnn/new.arch"]
code = archspec.cli.main(["diff", "--format", "markdown", *pair])
assert code == 1, code
assert not any(m.split(".")[0] in ("torch", "torchvision") for m in sys.modules)
print("OK")
"""
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip().splitlines()[-1] == "OK"
    assert "files: no problems" in completed.stdout or "files: 0 errors" in completed.stdout


def test_importing_the_checker_does_not_import_torch():
    completed = run_python(
        """
import sys
import archspec
import archspec.cli
import archspec.driver

result = archspec.check("specs/seeds/mnist_cnn.arch")
assert result.ok
print(sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchvision")))
"""
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]"


def test_check_trusts_externs_without_importing_them():
    """An extern names a module that does not exist: check, summary and compile still work (they
    never import it), with torch blocked too."""
    completed = run_python(
        BLOCK_TORCH
        + """
import archspec

text = '''
extern Gate(c) = "no_such_package.layers:Gate" (x: [N, c, H, W]) -> [N, c, H, W]

model M {
    input x: [N, 4, 8, 8]
    buffer mask: [8, 8] = extern "no_such_package.init:mask"(8)
    return (x -> gate: Gate(4) -> relu()) + mask
}
'''
result = archspec.check_text(text)
assert result.ok, result.diagnostics
assert "unknown (extern)" in str(result.summary())
assert "from no_such_package.layers import Gate" in archspec.compile_source(text)
assert not any(m.split(".")[0] in ("torch", "torchvision", "no_such_package") for m in sys.modules)
print("OK")
"""
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip().splitlines()[-1] == "OK"


def test_build_without_torch_names_the_extra_to_install():
    completed = run_python(
        BLOCK_TORCH
        + """
import archspec

try:
    archspec.build("specs/seeds/mnist_cnn.arch")
except ModuleNotFoundError as error:  # still what a caller catching ImportError expects
    assert error.name == "torch", error.name
    print(error)
else:
    raise SystemExit("build worked without torch")
try:
    archspec.verify("specs/seeds/mnist_cnn.arch")
except ImportError as error:
    print(error)
"""
    )
    assert completed.returncode == 0, completed.stderr
    first, second = completed.stdout.strip().splitlines()
    assert first.startswith("archspec.build needs PyTorch")
    assert "pip install 'archspec-nn[torch]'" in first
    assert second.startswith("archspec.verify needs PyTorch")
