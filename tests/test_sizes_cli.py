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
    assert "Counts at H=64, W=32 (given)" in out
    assert "[N, 16, H/2, W/2]" in out
    small = check_file(path).model().summary(sizes={"H": 64, "W": 32})
    large = check_file(path).model().summary(sizes={"H": 128, "W": 64})
    assert large.total_macs == 4 * small.total_macs  # every layer keeps its size ratio
    assert large.activation_bytes == 4 * small.activation_bytes


@pytest.mark.parametrize(
    ("size", "message"),
    [
        ("H=30", "TinyUNet rejects H = 30, W = 224; it accepts H, W: multiples of 4"),
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


# ---------------------------------------------------------------- the report size (`H in a..b = S`)


def _summary_text(capsys, source: str, tmp_path) -> tuple[int, str, str]:
    path = tmp_path / "net.arch"
    path.write_text(source, encoding="utf-8")
    return run(capsys, "summary", str(path))


REPORTED = """model Net {{
    input x: [N, 3, H in 32..1024{h}, W in 32..1024 step 16{w}]
    y = x -> Conv2d(3, 8, 3, padding=1) -> AdaptiveAvgPool2d(1) -> flatten(1) -> Linear(8, 10)
    return y
}}
"""


def test_summary_counts_at_the_declared_report_size(capsys, tmp_path):
    code, out, _ = _summary_text(capsys, REPORTED.format(h=" = 224", w=" = 160"), tmp_path)
    assert code == 0
    assert "Counts at H=224, W=160 (the declared report size)" in out
    assert f"{224 * 160 * 8 * (27 + 1) + 90:,}" in out


def test_summary_without_a_report_size_counts_near_224_and_says_so(capsys, tmp_path):
    """Not at 1024 (the top of the range): the ShuffleNet of the issue read 3.0 GMACs there."""
    code, out, _ = _summary_text(capsys, REPORTED.format(h="", w=""), tmp_path)
    assert code == 0
    assert "Counts at H=224, W=224 (the accepted size nearest 224)" in out
    assert tmp_path.joinpath("net.arch").exists()
    code, out, _ = run(capsys, "summary", str(DATA / "tiny_unet.arch"))
    assert "Counts at H=224, W=224 (the accepted size nearest 224)" in out


SEQUENCE = """model LM {{
    input tokens: [N, L{range}] int64
    y = tokens -> Embedding(100, 32) -> Linear(32, 100)
    return y
}}
"""


@pytest.mark.parametrize(
    ("bounds", "length"), [(" in 1..512", 512), ("", 1024)], ids=["declared", "default-range"]
)
def test_a_sequence_counts_at_the_top_of_its_range(capsys, tmp_path, bounds, length):
    """Not at 224, ImageNet's: a sequence model's cost is quoted at its context length."""
    code, out, _ = _summary_text(capsys, SEQUENCE.format(range=bounds), tmp_path)
    assert code == 0
    assert f"Counts at L={length} (the accepted size nearest the top of its range)" in out
    assert f"Total mult-adds (per sample): {length * (32 * 100 + 100):,}" in out


def test_a_declared_report_size_holds_for_a_sequence_too(capsys, tmp_path):
    code, out, _ = _summary_text(capsys, SEQUENCE.format(range=" in 1..512 = 128"), tmp_path)
    assert code == 0
    assert "Counts at L=128 (the declared report size)" in out


def test_images_and_sequences_each_count_at_their_own_default(capsys, tmp_path):
    source = """model Clip {
    input image: [N, 3, H, W]
    input tokens: [N, L in 1..77] int64
    a = image -> Conv2d(3, 8, 3, padding=1) -> AdaptiveAvgPool2d(1) -> flatten(1)
    b = tokens -> Embedding(100, 8) -> mean(1)
    return a + b
}
"""
    code, out, _ = _summary_text(capsys, source, tmp_path)
    assert code == 0
    assert (
        "Counts at H=224, W=224, L=77 (the accepted size nearest 224 for H, W and the top of "
        "its range for L)"
    ) in out
    code, out, _ = _summary_text(capsys, source.replace("1..77", "1..77 = 16"), tmp_path)
    assert (
        "Counts at H=224, W=224, L=16 (the accepted size nearest 224 for H, W and the declared "
        "report size for L)"
    ) in out


def test_sequence_first_lengths_are_sizes_and_n_the_batch(capsys):
    """`[S, N, E]` (nn.Transformer's batch_first=False): S and T are the sequence lengths, N
    the batch, so the summary counts per sample of N at the top of S's and T's ranges."""
    code, out, _ = run(capsys, "sizes", "specs/sequence/transformer.arch")
    assert code == 0
    assert "range:   S in 1..1024 (default range), T in 1..1024 (default range)" in out
    code, out, _ = run(capsys, "summary", "specs/sequence/transformer.arch")
    assert "Counts at S=1024, T=1024 (the accepted size nearest the top of its range)" in out
    assert "Input size (MB, batch 1): 4.19" in out  # 2 × 1024 × 512 float32 values


@pytest.mark.parametrize(
    ("h", "w", "message"),
    [
        (" = 2048", "", "the report size H = 2048 is outside its range 32..1024"),
        ("", " = 100", "the report size W = 100 is not on the range's steps: (100 − 32) % 16 = 4"),
    ],
)
def test_a_report_size_off_the_range_is_an_error_at_the_number(capsys, tmp_path, h, w, message):
    source = REPORTED.format(h=h, w=w)
    path = tmp_path / "net.arch"
    path.write_text(source, encoding="utf-8")
    code, out, err = run(capsys, "check", str(path))
    assert code == 1
    assert f"error[E105]: {message}" in out + err
    number = (h or w).split("= ")[1]
    column = source.splitlines()[1].index(f"= {number}") + 3  # 1-based, at the number
    assert f"net.arch:2:{column}" in out + err


def test_report_size_reaches_diagram_and_hover(capsys, tmp_path):
    from archspec.tools.lsp import hover_text

    source = REPORTED.format(h=" = 64", w=" = 48")
    code, out, _ = run(capsys, "graph", "--format", "dot", str(_write(tmp_path, source)))
    assert code == 0
    assert "MACs per sample at H=64, W=48 (the declared report size)" in out
    result = check_file(str(tmp_path / "net.arch"))
    hover = hover_text(result, str(tmp_path / "net.arch"), source.index("Conv2d") + 1)
    assert f"- MACs: {64 * 48 * 224:,} (per sample, at H=64, W=48; 224·H·W)" in hover


def _write(tmp_path, source: str):
    path = tmp_path / "net.arch"
    path.write_text(source, encoding="utf-8")
    return path
