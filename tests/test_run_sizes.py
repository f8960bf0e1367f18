"""Sizes a block reads off its input (`input x: [N, H, W, C]` binding H, W, C), used as function
arguments and resolved per input size by shape inference (archspec.elaborate.run_sizes): static
shapes against torch at every size of a range, the generated code's reads (`x.size(2)`), and each
place such a size cannot go, refused at its line."""

from __future__ import annotations

import textwrap

import pytest

import archspec
from archspec.elaborate.run_sizes import SizeExpr, SizeOf, resolve, source

WINDOW_PAD = textwrap.dedent(
    """\
    # Swin's window padding: pad H and W up to multiples of the window, shift by half a window
    # unless the window covers the map, then undo both.
    block WindowPad(window) {
        input x: [N, H, W, C]
        pad_r = (window - W % window) % window
        pad_b = (window - H % window) % window
        shift = (window // 2 if window < H + pad_b else 0)
        y = x -> pad((0, 0, 0, pad_r, 0, pad_b)) -> roll(shifts=(-shift, -shift), dims=(1, 2))
        y = y * (C // 2) - min(H, W)
        return y[:, :H, :W, :]
    }

    model M() {
        input x: [N, H in 1..20, W in 1..20, 6]
        return x -> WindowPad(7)
    }
    """
)


def _check(text: str):
    return archspec.check_text(text, "spec.arch")


def _at(finding) -> tuple[str, int, int]:
    span = finding.primary.span
    return finding.code, span.line, span.column


def _load(text: str, tmp_path):
    path = tmp_path / "spec.arch"
    path.write_text(text, encoding="utf-8")
    return archspec.load(str(path))


def test_window_pad_is_accepted_at_every_size():
    result = _check(WINDOW_PAD)
    assert result.diagnostics == []
    report = result.models[0].sizes
    assert report.accepted["H"][0] == 1 and report.accepted["H"][-1] == 20
    assert len(report.accepted["W"]) == 20


def test_generated_code_reads_sizes_off_the_live_tensor(tmp_path):
    from archspec.outputs.codegen import generate

    source_text = generate(_load(WINDOW_PAD, tmp_path))
    # the block's class computes them over its argument, as the spec does
    assert "pad_r = (self.window - x.size(2) % self.window) % self.window" in source_text
    assert "shift = self.window // 2 if self.window < x.size(1) + pad_b else 0" in source_text
    assert "y * (x.size(3) // 2) - min(x.size(1), x.size(2))" in source_text  # a call: no parens
    assert "[:, : x.size(1), : x.size(2), :]" in source_text  # ruff's slice spacing
    unrolled = generate(_load(WINDOW_PAD, tmp_path), specialize=True)  # the instance's numbers
    assert "(7 - x.size(2) % 7) % 7" in unrolled


@pytest.mark.torch
@pytest.mark.parametrize("size", [(1, 1), (5, 9), (7, 7), (8, 13), (14, 20), (20, 3)])
def test_window_pad_equals_torch(size, tmp_path):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F
    from torch_harness import build_checked, observed_shapes, shape_disagreements

    path = tmp_path / "spec.arch"
    path.write_text(WINDOW_PAD, encoding="utf-8")
    model, checked, filename = build_checked(str(path))
    sizes = {"H": size[0], "W": size[1]}
    real, output = observed_shapes(model, checked, filename, sizes=sizes)
    assert shape_disagreements(checked, real, sizes=sizes) == []

    torch.manual_seed(0)
    x = torch.randn(2, size[0], size[1], 6)
    height, width = size
    pad_r, pad_b = (7 - width % 7) % 7, (7 - height % 7) % 7
    shift = 3 if 7 < height + pad_b else 0
    y = F.pad(x, (0, 0, 0, pad_r, 0, pad_b)).roll(shifts=(-shift, -shift), dims=(1, 2))
    y = y * 3 - min(height, width)
    assert torch.equal(model(x), y[:, :height, :width, :])


def test_layer_arguments_cannot_read_sizes():
    text = textwrap.dedent(
        """\
        block B() {
            input x: [N, C]
            return x -> Linear(C, 4)
        }
        model M() {
            input x: [N, 8]
            return x -> B()
        }
        """
    )
    result = _check(text)
    (finding,) = result.diagnostics
    assert _at(finding) == ("E108", 3, 24)
    assert "fixed when the layer is built" in finding.message
    assert "pass the size to the block as an argument" in finding.help


@pytest.mark.parametrize(
    "statement, column, words",
    [
        ("if H > 3 {\n        y = x\n    }", 8, "an `if` condition needs a value known"),
        ("for i in range(H) {\n        y = x\n    }", 14, "range() needs a value known"),
        ("y = (x if H > 3 else x * 2)", 10, "can only pick a number"),
        ("param p: [H] = 0", 15, "must be a positive integer"),
        ("y = [x, x][H % 2]", 16, "an index must be an integer"),
    ],
)
def test_sizes_read_at_run_time_cannot_shape_the_graph(statement, column, words):
    text = "block B() {\n    input x: [N, H]\n    " + statement + "\n    return x\n}\n"
    text += "model M() {\n    input x: [N, 8]\n    return x -> B()\n}\n"
    result = _check(text)
    assert result.diagnostics, text
    finding = result.diagnostics[0]
    assert finding.code in ("E108", "E105"), finding
    assert _at(finding)[1:] == (3, column), finding
    assert words in finding.message


def test_a_condition_on_the_batch_size_is_undecided():
    text = textwrap.dedent(
        """\
        block B() {
            input x: [N, C]
            return x * (2 if N > 1 else 1)
        }
        model M() {
            input x: [N, 8]
            return x -> B()
        }
        """
    )
    (finding,) = _check(text).diagnostics
    assert _at(finding)[:2] == ("E210", 3)
    assert "cannot compare N with 1" in finding.message


def test_a_block_reads_the_sizes_of_each_application():
    # One block applied at two sizes: each application resolves its own W.
    text = textwrap.dedent(
        """\
        block Crop() {
            input x: [N, C, H, W]
            return x[:, :, :, : W // 2]
        }
        model M() {
            input x: [N, 3, 8, 10]
            a = x -> Crop()
            b = x -> max_pool2d(2) -> Crop()
            return a, b
        }
        """
    )
    result = _check(text)
    assert result.diagnostics == []
    shapes = result.models[0].output_shapes
    assert [tuple(s)[1:] for s in shapes] == [(3, 8, 5), (3, 4, 2)]


def test_resolve_and_source():
    width = SizeOf("x", 2, "W")
    pad = SizeExpr("%", (SizeExpr("-", (7, SizeExpr("%", (width, 7)))), 7))
    assert str(pad) == "(7 - W % 7) % 7"
    shapes = {"x": (2, 5, 12, 3)}
    assert resolve(pad, shapes.get) == 2
    choice = SizeExpr("if", (SizeExpr("<", (7, width)), 3, 0))
    assert resolve([choice, (width,)], shapes.get) == [3, (12,)]
    assert str(SizeExpr("-", (1, SizeExpr("-", (width, 2))))) == "1 - (W - 2)"
    assert str(SizeExpr("**", (SizeExpr("**", (width, 2)), 3))) == "(W ** 2) ** 3"
    assert source(SizeExpr("neg", (choice,)), lambda s: f"t.size({s.dim})") == (
        "-(3 if 7 < t.size(2) else 0)"
    )


@pytest.mark.torch
def test_docs_example_checks_clean_and_runs(tmp_path):
    """docs/language.md's "Sizes of a block's input" example: no findings, every size of its
    range accepted, and torch agrees on every shape at sizes that pad, shift or do neither."""
    pytest.importorskip("torch")
    from conftest import ROOT
    from torch_harness import build_checked, observed_shapes, shape_disagreements

    text = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    section = text.split("\n### Sizes of a block's input\n", 1)[1]
    example = section.split("```arch\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "example.arch"
    path.write_text(example, encoding="utf-8")
    result = archspec.check(str(path))
    assert result.diagnostics == []
    assert len(result.models[0].sizes.accepted["H"]) == 58
    model, checked, filename = build_checked(str(path))
    for sizes in ({"H": 7, "W": 7}, {"H": 8, "W": 30}, {"H": 64, "W": 9}):
        real, out = observed_shapes(model, checked, filename, sizes=sizes)
        assert shape_disagreements(checked, real, sizes=sizes) == []
        assert tuple(out.shape) == (2, sizes["H"], sizes["W"], 32)


def test_a_size_of_a_failed_tensor_is_not_reported_again():
    text = textwrap.dedent(
        """\
        block Half() {
            input x: [N, C]
            return x -> pad((0, C))
        }
        model M() {
            input x: [N, 4]
            return x -> Linear(5, 3) -> Half()
        }
        """
    )
    result = _check(text)
    (finding,) = result.diagnostics  # the Linear's mismatch, once: the pad reads nothing
    assert finding.primary.span.line == 7 and "Linear" in finding.message


def test_macs_count_every_row_a_sample_folds_into_the_batch():
    # Swin's windows: [N, 4, 6] -> [N·4, 6]: a sample is 4 rows of the Linear's batch.
    folded = _check(
        "model M {\n    input x: [N, 4, 6]\n    return x -> reshape(N * 4, 6) -> Linear(6, 3)\n}\n"
    )
    assert [d.code for d in folded.diagnostics] == ["W011"]  # the batch changes, it says
    assert folded.models[0].mac_count == 4 * (6 * 3 + 3)
    # dim 0 a size of the sample (H first), the batch in dim 1: the count holds N (one row of
    # each of the H slices per sample), a sample is all H of them: 3·12 per row × H
    swapped = _check(
        "model M {\n    input x: [N, 3, H in 2..4, 5]\n"
        "    return x -> permute(2, 0, 1, 3) -> Linear(5, 2)\n}\n"
    )
    assert swapped.diagnostics == []
    assert str(swapped.models[0].mac_count) == "36·H"


def test_stated_sizes_bind_and_check_in_models():
    text = textwrap.dedent(
        """\
        model M {
            input x: [N, 4, 9]
            h: [N, C, L] = x -> max_pool1d(2)
            y: [N, C, L // 2] = h -> max_pool1d(2)
            return y -> avg_pool1d(L // 2)
        }
        """
    )
    result = _check(text)
    assert result.diagnostics == []
    assert tuple(result.models[0].output_shapes[0])[1:] == (4, 1)
    wrong = _check(text.replace("L // 2] = h", "L - 1] = h"))
    (finding,) = wrong.diagnostics
    assert finding.code == "E207" and "L - 1" in finding.message


def test_a_stated_size_read_off_a_failed_tensor_checks_nothing():
    text = textwrap.dedent(
        """\
        model M {
            input x: [N, 4]
            a: [N, C] = x -> Linear(5, 3)
            b: [N, C] = x -> relu()
            return b
        }
        """
    )
    result = _check(text)
    assert [d.primary.span.line for d in result.diagnostics] == [3]


def test_a_wrong_stated_dtype_in_a_block_names_the_instance():
    text = textwrap.dedent(
        """\
        block B() {
            input x: [N, 4]
            y: [N, 4] int64 = x -> relu()
            return y
        }
        model M {
            input x: [N, 4]
            return x -> b: B()
        }
        """
    )
    (finding,) = _check(text).diagnostics
    assert finding.code == "E207" and any("in b" in note for note in finding.notes)


@pytest.mark.parametrize(
    "text, atomic",
    [
        ("3", True),
        ("x.size(2)", True),
        ("self.window", True),
        ("x.size(2).bit_length()", True),
        ("f(a, (b))", True),
        ("x.size(2", False),  # an unclosed call
        ("a + b", False),
        ("(a)", False),
        ("x.", False),
    ],
)
def test_what_needs_no_parentheses(text, atomic):
    """The generated code parenthesizes a size unless it is one name, number or call chain."""
    from archspec.elaborate.run_sizes import is_atomic

    assert is_atomic(text) is atomic
