"""`archspec sizes`, `summary --size` and the sizes in generated code: golden outputs and exit
codes (the exactness of the sets themselves is tested against torch in test_sizes_torch.py)."""

from __future__ import annotations

import json

import pytest
from conftest import GOLDEN, ROOT

from archspec.cli import main
from archspec.driver import check_file

DATA = ROOT / "tests" / "data" / "sizes"
CASES = sorted(DATA.glob("*.arch"))


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_sizes_text_golden(case, capsys, golden):
    code, out, _ = run(capsys, "sizes", str(case.relative_to(ROOT)))
    golden(GOLDEN / "sizes" / f"{case.stem}.txt", f"exit code {code}\n{out}")


def test_sizes_json_states_the_sets():
    code = None
    from contextlib import redirect_stdout
    from io import StringIO

    buffer = StringIO()
    with redirect_stdout(buffer):
        code = main(["sizes", "--format", "json", str(DATA / "tiny_unet.arch")])
    assert code == 0
    (model,) = json.loads(buffer.getvalue())
    assert model["model"] == "TinyUNet" and model["symbolic"] and model["complete"]
    assert model["accepted"]["H"] == list(range(4, 1025, 4))
    assert model["description"] == "H, W: multiples of 4"
    assert (model["accepted_count"], model["total_count"]) == (256 * 256, 1024 * 1024)
    codes = {r["code"] for r in model["rejections"]}
    assert codes == {"E203", "E204"}


def test_sizes_of_a_concrete_model_says_so(capsys):
    code, out, _ = run(capsys, "sizes", "specs/seeds/mnist_cnn.arch")
    assert code == 0
    assert "no symbolic sizes: checked at [N, 1, 28, 28] only" in out


def test_sizes_exits_1_when_no_size_is_accepted(capsys):
    case = GOLDEN / "diagnostics" / "sizes_none_accepted.arch"
    code, out, err = run(capsys, "sizes", str(case))
    assert code == 1
    assert "accepts: no size in H in 1..1024, W in 1..1024" in out
    assert "E202" in err


def test_summary_counts_at_chosen_sizes(capsys):
    path = str(DATA / "tiny_unet.arch")
    code, out, _ = run(capsys, "summary", path, "--size", "H=64,W=32")
    assert code == 0
    assert "Counts at H = 64, W = 32" in out
    assert "[N, 16, H/2, W/2]" in out
    small = check_file(path).model().summary(sizes={"H": 64, "W": 32})
    large = check_file(path).model().summary(sizes={"H": 128, "W": 64})
    assert large.total_macs == 4 * small.total_macs  # every layer keeps its size ratio
    assert large.activation_bytes == 4 * small.activation_bytes


@pytest.mark.parametrize(
    ("size", "message"),
    [
        ("H=30", "TinyUNet rejects H = 30, W = 1024; it accepts H, W: multiples of 4"),
        ("D=4", "TinyUNet has no input size 'D' (its sizes: H, W)"),
        ("H=abc", "--size takes NAME=VALUE with a positive integer, got 'H=abc'"),
    ],
)
def test_summary_refuses_sizes_it_cannot_count_at(capsys, size, message):
    code, _, err = run(capsys, "summary", str(DATA / "tiny_unet.arch"), "--size", size)
    assert code == 2
    assert err == f"archspec: {message}\n"


def test_generated_code_states_the_accepted_sizes(capsys):
    code, out, _ = run(capsys, "compile", str(DATA / "tiny_unet.arch"))
    assert code == 0
    assert "Input sizes: H, W: multiples of 4 (`archspec sizes`)." in out
    assert "# [N, 16, H/2, W/2]" in out
    assert "# [N, 2, H, W]" in out


def test_symbolic_shapes_reach_the_diagram(capsys):
    code, out, _ = run(capsys, "graph", str(DATA / "tiny_unet.arch"), "--format", "dot")
    assert code == 0
    assert "H/4" in out and "W/4" in out


def test_readme_shows_the_real_unet_sizes(capsys):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    marker = "$ archspec sizes specs/segmentation/unet.arch\n"
    shown = readme[readme.index(marker) + len(marker) :].split("```", 1)[0]
    code, out, _ = run(capsys, "sizes", "specs/segmentation/unet.arch")
    assert code == 0
    assert shown == out


def test_sizes_diff_and_summary_are_identical_across_hash_seeds():
    """Sets, dicts and guards must not leak hash order into what users read."""
    import os
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from archspec.cli.commands import main\n"
        "for args in (['sizes', '--format', 'json', sys.argv[1]], ['sizes', sys.argv[2]],\n"
        "             ['summary', sys.argv[1]], ['compile', sys.argv[1]],\n"
        "             ['diff', sys.argv[1], sys.argv[2], '--format', 'json']):\n"
        "    main(args)\n"
    )
    outputs = set()
    for seed in ("0", "1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "NO_COLOR": "1"}
        completed = subprocess.run(
            [sys.executable, "-c", script, str(DATA / "tiny_unet.arch"), str(DATA / "pairs.arch")],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        outputs.add(completed.stdout + completed.stderr)
    assert len(outputs) == 1
