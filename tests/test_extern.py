"""`extern`: modules archspec does not know, declared with a Python path, constructor arguments and
a shape contract (docs/language.md, "Extern modules"). The checker trusts the contract and never
imports the module; build imports it, and verify runs it against its contract."""

from __future__ import annotations

import json
import re
import sys
import textwrap

import pytest
from conftest import ROOT

import archspec
from archspec.cli import main
from archspec.core.dims import format_shape
from archspec.tools.fmt import format_text

LAYERS = """
import torch
from torch import nn


class SqueezeExcite(nn.Module):
    def __init__(self, channels, reduction=4):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1)

    def forward(self, x):
        s = x.mean((2, 3), keepdim=True)
        return x * torch.sigmoid(self.fc2(torch.relu(self.fc1(s))))


class Halve(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels * 2, 2, stride=2)

    def forward(self, x):
        return self.conv(x)


class Split(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.width = width

    def forward(self, x, ids):
        return x[:, : self.width], x[:, self.width :], ids


class NotAModule:
    def __init__(self, channels):
        pass


def make_plain(channels):
    return object()
"""

INIT = """
import torch


def causal_mask(n):
    return torch.triu(torch.ones(n, n), diagonal=1)
"""


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A small real extern package, `mypkg`, importable for build and verify."""
    root = tmp_path / "site"
    (root / "mypkg").mkdir(parents=True)
    (root / "mypkg" / "__init__.py").write_text("")
    (root / "mypkg" / "layers.py").write_text(LAYERS)
    (root / "mypkg" / "init.py").write_text(INIT)
    monkeypatch.syspath_prepend(str(root))
    for name in [m for m in sys.modules if m == "mypkg" or m.startswith("mypkg.")]:
        monkeypatch.delitem(sys.modules, name)
    yield root
    for name in [m for m in sys.modules if m == "mypkg" or m.startswith("mypkg.")]:
        del sys.modules[name]


def _doc_example() -> str:
    text = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- extern-example -->\n```arch\n(.*?)```", text, re.S)
    assert found, "docs/language.md lost its extern example"
    return found.group(1)


SE = 'extern SqueezeExcite(channels, reduction=4) = "mypkg.layers:SqueezeExcite"\n'


def spec(body: str, externs: str = "") -> str:
    return (
        textwrap.dedent(externs)
        + "\nmodel M {\n"
        + textwrap.indent(textwrap.dedent(body), "    ")
        + "}\n"
    )


def codes(result) -> list[str]:
    return [d.code for d in result.diagnostics]


def messages(result) -> list[str]:
    return [d.message for d in result.diagnostics]


# ---------------------------------------------------------------- checking (no imports)


def test_doc_example_checks_and_shapes():
    result = archspec.check_text(_doc_example())
    assert result.ok, messages(result)
    model = result.model()
    assert [format_shape(s) for s in model.output_shapes] == [
        "[N, 32, 4, 4]",
        "[N, 2, 5]",
        "[N, 5, 5]",
        "[N, 5]",
    ]
    kept = model.graph.outputs[3]
    assert model.inference.dtype(kept) == "int64"


def test_contract_arithmetic_and_arguments():
    text = spec(
        """
        input x: [N, 8, 12, 6]
        y: [N, 24, 4, 3] = x -> Grow(8, factor=3)
        return y
        """,
        'extern Grow(c, factor=2) = "p:Grow" (x: [N, c, H, W]) -> [N, c * factor, H / 3, W // 2]\n',
    )
    assert archspec.check_text(text).ok


def test_input_mismatch_at_the_use_with_arithmetic():
    text = spec(
        """
        input x: [N, 32, 7, 7]
        return x -> SqueezeExcite(64)
        """,
        SE + "    (x: [N, channels, H, W]) -> [N, channels, H, W]\n",
    )
    result = archspec.check_text(text)
    assert codes(result) == ["E207"]
    found = result.diagnostics[0]
    assert "dim 1 is 32, not channels = 64" in found.message
    line = text.splitlines().index("    return x -> SqueezeExcite(64)") + 1
    assert found.primary.span.line == line and found.primary.span.text == "SqueezeExcite(64)"
    assert any("contract" in note for note in found.notes)


def test_symbols_bind_per_application_and_must_agree():
    externs = 'extern Pair = "p:Pair" (a: [N, C], b: [N, C]) -> [N, C * 2]\n'
    good = spec(
        """
        input a: [N, 3]
        input c: [N, 5]
        x = (a, a) -> Pair()
        y = (c, c) -> Pair()
        return x, y
        """,
        externs,
    )
    assert archspec.check_text(good).ok
    bad = spec(
        """
        input a: [N, 3]
        input b: [N, 4]
        return (a, b) -> Pair()
        """,
        externs,
    )
    result = archspec.check_text(bad)
    assert codes(result) == ["E207"]
    assert "names C twice" in result.diagnostics[0].message
    assert "3 in a (dim 1), 4 in b (dim 1)" in result.diagnostics[0].message


def test_exact_division_and_rank():
    externs = 'extern Down(c) = "p:Down" (x: [N, c, H, W]) -> [N, c, H / 2, W / 2]\n'
    result = archspec.check_text(spec("input x: [N, 4, 7, 8]\nreturn x -> Down(4)\n", externs))
    assert codes(result) == ["E207"]
    assert "H / 2 = 7 / 2 is not a whole number" in result.diagnostics[0].message
    result = archspec.check_text(spec("input x: [N, 4, 8]\nreturn x -> Down(4)\n", externs))
    assert codes(result) == ["E206"]


def test_symbolic_sizes_decide_exact_division():
    externs = 'extern Down(c) = "p:Down" (x: [N, c, H, W]) -> [N, c, H / 2, W / 2]\n'
    text = spec("input x: [N, 4, H in 2..64, W in 2..64]\nreturn x -> Down(4)\n", externs)
    result = archspec.check_text(text)
    assert codes(result) == ["E209"]  # the declared range holds odd sizes, which do not divide


def test_dtypes_in_contracts():
    externs = (
        'extern Embed(n, d) = "p:Embed" (ids: [N, L] int64) -> [N, L, d]\n'
        'extern Lens = "p:Lens" (x: [N, L, D]) -> [N] int64\n'
    )
    good = spec(
        """
        input ids: [N, 6] int64
        h = ids -> Embed(10, 4)
        lengths: [N] int64 = h -> Lens()
        return lengths
        """,
        externs,
    )
    assert archspec.check_text(good).ok
    bad = spec("input x: [N, 6]\nreturn x -> Embed(10, 4)\n", externs)
    result = archspec.check_text(bad)
    assert codes(result) == ["E108"] and "takes ids as int64, got float32" in messages(result)[0]
    floats = spec("input y: [N, 6]\nreturn y -> Lens()\n", externs)
    assert codes(archspec.check_text(floats)) == ["E206"]
    ints = spec("input ids: [N, 6, 2] int64\nreturn ids -> Lens()\n", externs)
    result = archspec.check_text(ints)
    assert codes(result) == ["E108"] and "floating" in messages(result)[0]


def test_several_outputs_unpack_and_count():
    externs = 'extern Two = "p:Two" (x: [N, C]) -> ([N, C // 2], [N, C - C // 2])\n'
    good = spec("input x: [N, 5]\na, b = x -> Two()\nreturn a, b\n", externs)
    result = archspec.check_text(good)
    assert result.ok
    assert [list(s) for s in result.model().output_shapes] == [["N", 2], ["N", 3]] or [
        [str(d) for d in s] for s in result.model().output_shapes
    ] == [["N", "2"], ["N", "3"]]
    bad = spec("input x: [N, 5]\na, b, c = x -> Two()\nreturn a\n", externs)
    assert codes(archspec.check_text(bad)) == ["E108"]


@pytest.mark.parametrize(
    ("declaration", "code", "words"),
    [
        ('extern Bad(c) = "p:Bad" (x: [N, c]) -> [N, K]', "E102", "'K' is neither"),
        ('extern Bad(c) = "no-colon" (x: [N, c]) -> [N, c]', "E105", "module:attribute"),
        ('extern Bad(c) = "p:Bad" (x: [N, c]) -> [N, c], flops = 3', "E104", "not 'flops'"),
        ('extern Bad(c) = "p:Bad" (x: [N, c]) -> [N, ?]', "E108", "contract size"),
        ('extern Bad(c) = "p:Bad" (x: [N, c], x: [N, c]) -> [N, c]', "E103", "twice"),
        ('extern Bad(c) = "p:Bad" () -> [N, c]', "E109", "takes no input"),
        ('extern Conv2d(c) = "p:Bad" (x: [N, c]) -> [N, c]', "E103", "already a layer"),
    ],
)
def test_broken_declarations_are_reported_once_at_the_declaration(declaration, code, words):
    text = declaration + "\n\nmodel M {\n    input x: [N, 3]\n    return x -> Bad(3)\n}\n"
    if "Conv2d" in declaration:
        text = text.replace("Bad(3)", "relu()")
    result = archspec.check_text(text)
    assert codes(result) == [code], messages(result)
    assert words in messages(result)[0]
    assert result.diagnostics[0].primary.span.line == 1


def test_externs_import_from_other_files(tmp_path):
    (tmp_path / "archspec.toml").write_text("")
    (tmp_path / "layers.arch").write_text(
        'extern Gate(c) = "p:Gate" (x: [N, c, H, W]) -> [N, c, H, W]\n'
    )
    main_spec = tmp_path / "net.arch"
    main_spec.write_text(
        'from "layers.arch" import Gate\n\n'
        "model Net {\n    input x: [N, 4, 8, 8]\n    return x -> gate: Gate(4)\n}\n"
    )
    assert archspec.check(str(main_spec)).ok


def test_summary_says_unknown_and_json_has_null(capsys):
    text = _doc_example()
    summary = archspec.check_text(text).model().summary()
    rows = {row.name: row for row in summary.rows}
    assert rows["se"].params == 2 * 16 * 4 + 16 + 4 and not rows["se"].params_unknown
    assert rows["halve"].params_unknown and rows["halve"].macs_unknown
    rendered = str(summary)
    assert "unknown (extern)" in rendered
    assert "Total params: " in rendered and "+ unknown (externs: halve, split)" in rendered
    data = summary.to_dict()
    assert data["total_params"] is None and data["known_params"] == summary.total_params
    assert data["total_macs"] is None
    halve = next(row for row in data["rows"] if row["name"] == "halve")
    assert halve["params"] is None and halve["macs"] is None
    declared = (
        'extern G(c) = "p:G" (x: [N, c, H, W]) -> [N, c, H, W], params = c, macs = c * H * W\n'
    )
    counted = archspec.check_text(spec("input x: [N, 4, 8, 8]\nreturn x -> G(4)\n", declared))
    summary = counted.model().summary()
    assert summary.total_params == 4 and summary.total_macs == 4 * 64
    assert not summary.unknown_params and "unknown" not in str(summary)


def test_codegen_imports_and_constructs():
    source = archspec.compile_source(_doc_example())
    lines = source.splitlines()
    imports = [line for line in lines if line.startswith(("import ", "from "))]
    assert imports == [
        "import torch",
        "from mypkg.init import causal_mask",
        "from mypkg.layers import Halve, Split, SqueezeExcite",
        "from torch import nn",
    ]
    assert "        self.se = SqueezeExcite(16)" in lines
    assert "        self.halve = Halve(16)" in lines
    assert '        self.register_buffer("mask", causal_mask(5))' in lines
    assert archspec.compile_source(_doc_example()) == source  # deterministic


def test_fmt_round_trip_is_idempotent():
    messy = (
        'extern   SE( c,r = 4 )="pkg.mod:SE"(x:[N,c,H,W])->[N,c,H,W],params=c*c//r\n'
        "extern Two = 'pkg.mod:Two' (x: [N, C, L], ids: [N, L]  int64)"
        " -> ([N, C, L], [N, L] int64,)\n"
        "model M {\n    input x: [N, 4, 2, 2]\n"
        '    buffer m: [2, 2] bool = extern   "pkg.init:mask"( 2,k = 1 ), persistent=False\n'
        "    return x -> SE(4)\n}\n"
    )
    formatted = format_text(messy)
    assert formatted.splitlines()[0] == (
        'extern SE(c, r=4) = "pkg.mod:SE" (x: [N, c, H, W]) -> [N, c, H, W], params = c * c // r'
    )
    assert 'buffer m: [2, 2] bool = extern "pkg.init:mask"(2, k=1), persistent=False' in formatted
    assert format_text(formatted) == formatted
    doc = _doc_example()
    assert format_text(doc) == doc


# ---------------------------------------------------------------- build and verify (torch)


def test_build_state_dict_keys_are_the_externs_own(package):
    torch = pytest.importorskip("torch")
    model = archspec.build(_doc_example())
    keys = set(model.state_dict())
    assert {"se.fc1.weight", "se.fc1.bias", "se.fc2.weight", "halve.conv.weight", "mask"} <= keys
    from mypkg.layers import SqueezeExcite

    assert set(model.se.state_dict()) == set(SqueezeExcite(16).state_dict())
    y, a, b, kept = model(torch.randn(2, 16, 8, 8), torch.randn(2, 7, 5), torch.zeros(2, 5).long())
    assert y.shape == (2, 32, 4, 4) and a.shape == (2, 2, 5) and kept.dtype == torch.int64
    assert archspec.verify(_doc_example()) == []
    archspec.build(_doc_example(), verify=True)


LYING = spec(
    """
    input x: [N, 8, H in 4..16 = 8, 8]
    return x -> SqueezeExcite(8)
    """,
    SE + "    (x: [N, channels, H, W]) -> [N, channels, H // 2, W]\n",
)


def test_verify_catches_a_lying_contract(package, tmp_path, capsys):
    pytest.importorskip("torch")
    found = archspec.verify(LYING)
    assert [d.code for d in found] == ["E207"]
    assert "its output is [2, 8, 8, 8], but the contract says [N, 8, ⌊H/2⌋, 8] = [2, 8, 4, 8]" in (
        found[0].message
    )
    assert found[0].primary.span.line == 2  # the contract's output shape
    with pytest.raises(archspec.SpecError, match="breaks its contract"):
        archspec.build(LYING, verify=True)
    archspec.build(LYING)  # without verify, the contract is trusted
    path = tmp_path / "lying.arch"
    path.write_text(LYING)
    assert main(["verify", str(path)]) == 1
    out = capsys.readouterr().out
    assert "error[E207]: SqueezeExcite breaks its contract" in out and f"{path}:2:" in out


def test_verify_exit_zero_and_init_values(package, tmp_path, capsys):
    pytest.importorskip("torch")
    path = tmp_path / "ok.arch"
    path.write_text(_doc_example())
    assert main(["verify", str(path)]) == 0
    assert "every extern keeps its contract" in capsys.readouterr().out
    wrong = _doc_example().replace("buffer mask: [5, 5] =", "buffer mask: [5, 5] int64 =")
    found = archspec.verify(wrong)
    assert [d.code for d in found] == ["E207"] and "declared [5, 5] int64" in found[0].message


def test_import_failure_is_a_clear_error(package, tmp_path, capsys):
    pytest.importorskip("torch")
    text = _doc_example().replace("mypkg.layers:Halve", "mypkg.missing:Halve")
    with pytest.raises(archspec.SpecError) as raised:
        archspec.build(text)
    (found,) = raised.value.diagnostics
    assert found.code == "E106" and "cannot import the extern 'mypkg.missing:Halve'" in (
        found.message
    )
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "mypkg.missing" in t)
    assert found.primary.span.line == line and found.primary.span.text == '"mypkg.missing:Halve"'
    path = tmp_path / "missing.arch"
    path.write_text(text)
    assert main(["verify", str(path)]) == 1
    assert "error[E106]" in capsys.readouterr().out


@pytest.mark.parametrize("target", ["mypkg.layers:NotAModule", "mypkg.layers:make_plain"])
def test_not_a_module_is_a_clear_error(package, target):
    pytest.importorskip("torch")
    text = spec(
        "input x: [N, 4]\nreturn x -> Thing(4)\n",
        f'extern Thing(c) = "{target}" (x: [N, c]) -> [N, c]\n',
    )
    with pytest.raises(archspec.SpecError) as raised:
        archspec.build(text)
    (found,) = raised.value.diagnostics
    assert found.code == "E108" and "not an nn.Module" in found.message + found.labels[0].message


def test_cli_summary_json_null(tmp_path, capsys):
    path = tmp_path / "net.arch"
    path.write_text(_doc_example())
    assert main(["summary", "--format", "json", str(path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data[0]["total_params"] is None and data[0]["known_params"] > 0
