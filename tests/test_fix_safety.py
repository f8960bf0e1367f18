"""Fixes that are safe, suppressions that cannot hide a broken graph, no cascades (issue 15).

1. `--fix` applies only safe fixes; a fix that changes the model (E201/E202's count) is unsafe,
   marked `[~]`, applied only with `--fix --unsafe-fixes`, and offered only when the fixed text
   re-checks without the finding and without a new one.
2. A suppressed error keeps compile, build and summary from making output (graph draws it).
3. An error does not cascade into W003 on a value that its failed line reads.
4. Repeats are collapsed by code, place and message (instance paths aside).
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

import archspec
from archspec.cli import main
from archspec.driver import check_text
from archspec.tools.fixes import MAX_PASSES, apply_fixes

ROOT = Path(__file__).resolve().parent.parent
SEED_000 = ROOT / "examples" / "seed000_convnet.arch"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def write(tmp_path, text: str, name: str = "net.arch") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def model(*lines: str, shape: str = "[N, 8, 4, 4]") -> str:
    body = "".join(f"    {line}\n" for line in lines)
    return f"model Net {{\n    input x: {shape}\n{body}}}\n"


def concise(capsys, path: Path) -> str:
    return run(capsys, "check", "--output-format", "concise", str(path))[1]


# ---------------------------------------------------------------- 1. fix safety


def test_seed000_fix_is_unsafe_and_plain_fix_leaves_the_model_alone(tmp_path, capsys):
    path = tmp_path / "seed.arch"
    shutil.copy(SEED_000, path)
    before = path.read_text()
    code, out, err = run(capsys, "check", "--fix", str(path))
    assert code == 1 and path.read_text() == before
    assert "fixed 0 findings in 0 files" in err
    assert "error[E202] [~]: Linear expects in_features=3136" in out
    assert "= unsafe fix: set in_features=576 (--fix --unsafe-fixes)" in out
    assert out.endswith("([~] 1 fixable with --fix --unsafe-fixes)\n")
    code, _, err = run(capsys, "check", "--fix", "--unsafe-fixes", str(path))
    assert code == 0 and "fixed 1 finding in 1 file" in err  # W001 is a warning
    assert path.read_text() == before.replace("Linear(7 * 7 * 64, 1000)", "Linear(576, 1000)")


def test_seed000_help_names_the_pool_stride_and_the_in_features():
    (finding,) = [d for d in archspec.check(str(SEED_000)).diagnostics if d.code == "E202"]
    assert finding.help == (
        "if 3136 = 64×7×7 is right, the map is 3×3 where 7×7 is needed: check layer1.2 "
        "(MaxPool2d, stride=5) and layer2.2 (MaxPool2d, stride=2); if they are right, set "
        "in_features=576 (64×3×3), or write in_features=? to infer it"
    )


def test_channels_first_layernorm_offers_no_fix(tmp_path, capsys):
    path = write(tmp_path, model("return x -> LayerNorm(96)", shape="[N, 96, 56, 56]"))
    code, raw, _ = run(capsys, "check", "--output-format", "json", str(path))
    (finding,) = json.loads(raw)["diagnostics"]
    assert code == 1 and finding["fix"] is None
    assert finding["help"] == (
        "96 is dim 1, the channels, of the channels-first [N, 96, 56, 56], but LayerNorm reads "
        "normalized_shape from the last dim (56, the width): use LayerNorm2d(96) to normalize "
        "over the channels (ConvNeXt's); set normalized_shape=56 only if the width is meant"
    )
    run(capsys, "check", "--fix", "--unsafe-fixes", str(path))
    assert "LayerNorm(96)" in path.read_text()


def test_missing_flatten_offers_no_fix_but_says_flatten(tmp_path, capsys):
    path = write(tmp_path, model("return x -> Linear(3136, 10)", shape="[N, 64, 7, 7]"))
    _, raw, _ = run(capsys, "check", "--output-format", "json", str(path))
    (finding,) = json.loads(raw)["diagnostics"]
    assert finding["fix"] is None
    assert finding["help"] == (
        "3136 = 64×7×7 (dims 1 to 3 of [N, 64, 7, 7]), but Linear reads in_features from the "
        "last dim alone (7): flatten(1) first to use all 3136 values; set in_features=7 only to "
        "apply Linear to the last dim alone"
    )


def test_a_fix_that_would_create_another_error_is_not_offered(capsys):
    # bn1 = 16 would move the mismatch to conv2 (32 in, 16 arriving): not offered.
    path = ROOT / "tests" / "golden" / "diagnostics" / "channel_mismatch.arch"
    (finding,) = [d for d in archspec.check(str(path)).diagnostics if d.code == "E201"]
    assert finding.fix is None
    assert "[~]" not in concise(capsys, path) and "[*]" not in concise(capsys, path)


def test_safe_fixes_still_apply_with_plain_fix(tmp_path, capsys):
    text = model("return x -> ReLU(inplace=False)  # archspec: ignore[W001]")
    path = write(tmp_path, text)
    code, _, _ = run(capsys, "check", "--fix", "--extend-select", "W008", str(path))
    assert code == 0 and path.read_text() == model("return x -> ReLU()")


def test_unsafe_fixes_needs_fix(tmp_path, capsys):
    code, _, err = run(capsys, "check", "--unsafe-fixes", str(write(tmp_path, model("return x"))))
    assert code == 2 and "--unsafe-fixes goes with --fix" in err


def test_formats_mark_unsafe_fixes_coherently(capsys):
    code, raw, _ = run(capsys, "check", "--output-format", "sarif", str(SEED_000))
    (result,) = [r for r in json.loads(raw)["runs"][0]["results"] if r["ruleId"] == "E202"]
    (fix,) = result["fixes"]
    assert fix["properties"] == {"applicability": "unsafe"}
    assert fix["description"]["text"] == "set in_features=576 (unsafe: changes the model)"
    lines = concise(capsys, SEED_000).splitlines()
    assert ": E202 [~] Linear expects" in lines[1]
    assert (
        lines[-1] == "checked 1 file: 1 error, 1 warning ([~] 1 fixable with --fix --unsafe-fixes)"
    )


def failing_corpus() -> list[Path]:
    folders = [
        ROOT / "tests" / "golden" / "diagnostics",
        ROOT / "examples",
        ROOT / "tests" / "data",
    ]
    return sorted(p for folder in folders for p in folder.rglob("*.arch"))


def fix_everything(text: str, path: str) -> tuple[str, int]:
    """Apply every offered fix, safe and unsafe, until none is left (what --unsafe-fixes does)."""
    used_total = 0
    for _ in range(MAX_PASSES):
        result = check_text(text, path)
        text, used = apply_fixes(text, result.diagnostics, path, unsafe=True)
        used_total += used
        if not used:
            break
    return text, used_total


@pytest.mark.parametrize("spec", failing_corpus(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_offered_fix_leaves_fewer_errors_and_no_new_code(spec):
    """The property: on every spec of the corpora, applying all offered fixes gives a spec with
    fewer findings, no more errors, and no code that was not reported before."""
    text = spec.read_text("utf-8")
    before = check_text(text, str(spec)).diagnostics
    if not any(d.fix is not None for d in before):
        return
    fixed, used = fix_everything(text, str(spec))
    after = check_text(fixed, str(spec)).diagnostics
    assert used and fixed != text
    errors = Counter(d.severity.value for d in before), Counter(d.severity.value for d in after)
    assert errors[1]["error"] <= errors[0]["error"], [d.message for d in after]
    assert len(after) < len(before)
    assert {d.code for d in after} <= {d.code for d in before}, [d.message for d in after]
    if errors[0]["error"] and any(d.fix and d.severity.value == "error" for d in before):
        assert errors[1]["error"] < errors[0]["error"]


# ---------------------------------------------------------------- 2. suppressed errors

SUPPRESSED = model("y = x -> LayerNorm(8)  # archspec: ignore[E202]", "return y")


def test_check_passes_but_keeps_the_suppressed_error():
    result = check_text(SUPPRESSED, "net.arch")
    assert result.ok and not result.complete
    assert [d.code for d in result.suppressed] == ["E202"]
    assert [d.primary.span.line for d in result.hidden_errors] == [3]


def test_compile_refuses_a_suppressed_error(tmp_path, capsys):
    path = write(tmp_path, SUPPRESSED)
    target = tmp_path / "out.py"
    assert run(capsys, "check", str(path))[0] == 0
    code, out, err = run(capsys, "compile", str(path), "-o", str(target))
    assert code == 1 and out == "" and not target.exists()
    assert "internal error" not in err
    assert "error[E202]: LayerNorm expects normalized_shape=8, but receives 4" in err
    assert "this error is suppressed by an `# archspec: ignore` comment" in err
    assert err.endswith(
        f"archspec: {path}: 1 suppressed error (line 3) leaves the model incomplete; "
        "nothing written\n"
    )


def test_summary_refuses_and_graph_marks_a_suppressed_error(tmp_path, capsys):
    path = write(tmp_path, SUPPRESSED)
    code, out, err = run(capsys, "summary", str(path))
    assert code == 1 and out == "" and "1 suppressed error (line 3)" in err
    code, dot, err = run(capsys, "graph", str(path))
    assert code == 1 and "internal error" not in err and "drawn up to the errors" in err
    assert (
        'layernorm [label="layernorm: LayerNorm\nnormalized_shape=8\nE202" color="#c0392b"' in dot
    )


def test_build_and_compile_source_refuse_a_suppressed_error(tmp_path):
    path = write(tmp_path, SUPPRESSED)
    for make in (archspec.build, archspec.compile_source):
        with pytest.raises(archspec.SpecError) as raised:
            make(str(path))
        assert "1 error(s)" in str(raised.value) and "suppressed" in str(raised.value)
        assert [d.code for d in raised.value.diagnostics] == ["E202"]


def test_a_suppressed_budget_error_still_compiles(tmp_path, capsys):
    text = (
        "# archspec: budget params=10\n"
        "model Net {  # archspec: ignore[E301]\n"
        "    input x: [N, 8]\n"
        "    return x -> Linear(8, 8)\n"
        "}\n"
    )
    path = write(tmp_path, text)
    result = check_text(text, str(path))
    assert [d.code for d in result.suppressed] == ["E301"] and result.complete
    assert run(capsys, "compile", str(path))[0] == 0


# ---------------------------------------------------------------- 3. no cascade into W003


def test_a_value_read_by_a_failed_line_is_not_unused(capsys):
    text = model(
        "h = x -> flatten(1) -> Linear(128, 4)",
        "a = h -> ReLU()",
        "b = a -> nosuch()",
        "c = h -> ReLU()",
        "dead = h -> ReLU()",
        "return c, b",
    )
    result = check_text(text, "net.arch")
    assert [(d.code, d.primary.span.line) for d in result.diagnostics] == [
        ("E101", 5),
        ("W003", 7),  # `dead` is unused whatever the failed line meant
    ]


# ---------------------------------------------------------------- 4. collapsing repeats

BLOCK = """\
block B(c) {
    input x
    return x -> conv: Conv2d(3, 8, 3) -> bn: BatchNorm2d(8)
}
"""


def test_different_messages_at_one_place_are_not_merged():
    text = BLOCK + model(
        "input y: [N, 2, 8, 8]", "return x -> b1: B(3), y -> b2: B(3)", shape="[N, 1, 8, 8]"
    )
    result = check_text(text, "net.arch")
    assert [d.message for d in result.diagnostics if d.code == "E201"] == [
        "Conv2d expects in_channels=3, but receives 1",
        "Conv2d expects in_channels=3, but receives 2",
    ]
    errors = [d for d in result.diagnostics if d.code == "E201"]
    assert not any("reported once" in note for d in errors for note in d.notes)


def test_instances_differing_only_in_their_path_are_collapsed():
    text = BLOCK + model("return x -> b1: B(3), x -> b2: B(3), x -> b3: B(3)", shape="[N, 3, 8, 8]")
    (finding,) = check_text(text, "net.arch").diagnostics
    assert finding.code == "W002"
    assert finding.message == "Conv2d 'b1.conv' has a bias that the BatchNorm2d after it cancels"
    assert finding.notes[-1] == "reported once for 3 instances made by this line"
