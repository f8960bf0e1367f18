"""Generated code as golden files: reviewed like code, formatted as ruff formats, deterministic."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from conftest import GOLDEN, ROOT, model_specs

import archspec
from archspec.cli import main
from archspec.outputs.codegen import generate

SEED_SPECS = sorted((ROOT / "specs" / "seeds").glob("*.arch"))
MODEL_SPECS = [p for p in SEED_SPECS if archspec.check(str(p.relative_to(ROOT))).models]
CODEGEN = GOLDEN / "codegen"


@pytest.mark.parametrize("spec", MODEL_SPECS, ids=lambda p: p.stem)
def test_generated_code_golden(spec, golden):
    result = archspec.check(str(spec.relative_to(ROOT)))
    golden(CODEGEN / f"{spec.stem}.py", generate(result))


def _ruff() -> str | None:
    candidate = os.path.join(os.path.dirname(sys.executable), "ruff")
    return candidate if os.path.exists(candidate) else shutil.which("ruff")


@pytest.mark.skipif(_ruff() is None, reason="ruff is not installed")
def test_generated_code_passes_ruff_check_and_format(tmp_path):
    """Every shipped spec's code, parametrized and unrolled (`--specialize`), under the project's
    own ruff settings (swin_t's unrolled size arithmetic broken at its operators, as ruff does)."""
    files = []
    for spec in model_specs():
        for form in ([], ["--specialize"]):
            target = tmp_path / f"{spec.replace('/', '_')}{'_'.join(form)}.py"
            assert main(["compile", spec, *form, "-o", str(target)]) == 0
            files.append(str(target))
    config = ["--config", str(ROOT / "pyproject.toml")]
    check = subprocess.run([_ruff(), "check", *config, *files], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = subprocess.run(
        [_ruff(), "format", "--check", "--diff", *config, *files], capture_output=True, text=True
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_generated_code_is_byte_identical_across_hash_seeds(tmp_path):
    spec = "specs/seeds/densenet_cifar10.arch"
    outputs = []
    for seed in ("0", "1", "12345"):
        target = tmp_path / f"out{seed}.py"
        env = dict(os.environ, PYTHONHASHSEED=seed)
        subprocess.run(
            [sys.executable, "-m", "archspec", "compile", spec, "-o", str(target)],
            check=True,
            cwd=ROOT,
            env=env,
        )
        outputs.append(target.read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]


def test_compile_with_errors_writes_nothing_and_keeps_existing_output(tmp_path, capsys):
    target = tmp_path / "model.py"
    target.write_text("# an earlier, good output\n")
    code = main(["compile", "examples/seed000_convnet.arch", "-o", str(target)])
    assert code == 1
    assert target.read_text() == "# an earlier, good output\n"
    err = capsys.readouterr().err
    assert "E202" in err and "nothing written" in err
    assert not [p for p in tmp_path.iterdir() if p.name != "model.py"]


def test_compile_to_stdout_is_the_same_source(capsys):
    assert main(["compile", "specs/seeds/mnist_cnn.arch"]) == 0
    out = capsys.readouterr().out
    assert out == generate(archspec.check("specs/seeds/mnist_cnn.arch"))
    compile(out, "mnist_cnn.py", "exec")  # valid Python
