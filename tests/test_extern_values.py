"""Extern values: Python objects a spec names without knowing them, `extern "torch.nn:GELU"` and
`extern "functools:partial"(extern "torch.nn:LayerNorm", eps=1e-6)` (docs/language.md, "Extern
modules"). They are arguments of extern layers, blocks and models, and initial values; the checker
never imports them, compile writes them as Python, build and verify import them."""

from __future__ import annotations

import dataclasses
import enum
import functools
import re
import sys
import textwrap

import pytest

import archspec
from archspec.cli import main
from archspec.tools.fmt import format_text

LAYERS = """
from torch import nn


class Gated(nn.Module):
    def __init__(self, dim, gate=nn.Sigmoid, norm=None):
        super().__init__()
        self.fc = nn.Linear(dim, dim)
        self.gate = gate()
        self.norm = nn.Identity() if norm is None else norm(dim)

    def forward(self, x):
        return self.norm(x * self.gate(self.fc(x)))


class Branchy(nn.Module):
    # control flow on a tensor's value: torch.fx cannot trace it, so the importer keeps it as an
    # extern, with its class arguments

    def __init__(self, dim, act=nn.ReLU):
        super().__init__()
        self.fc = nn.Linear(dim, dim)
        self.act = act()

    def forward(self, x):
        if x.sum() > 0:
            return self.act(self.fc(x))
        return self.fc(x)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = Branchy(8, act=nn.Tanh)
        self.second = Branchy(8)

    def forward(self, x):
        return self.second(self.first(x))
"""

EXTERN = """\
extern Gated(dim, gate=extern "torch.nn:Sigmoid", norm=None) = "valpkg.layers:Gated"
    (x: [N, dim]) -> [N, dim], params = dim * dim + dim
"""

SPEC = (
    EXTERN
    + """
block Pair(dim, gate=extern "torch.nn:GELU") {
    input x
    return x -> first: Gated(dim, gate=gate)
             -> second: Gated(
                 dim, norm=extern "functools:partial"(extern "torch.nn:LayerNorm", eps=1e-3))
}

model Net {
    input x: [N, 8]
    return x -> a: Pair(8)
             -> b: Pair(8, gate=extern "torch.nn:Tanh")
             -> c: Gated(8, gate=extern "torch.nn:ReLU")
}
"""
)


@pytest.fixture
def package(tmp_path, monkeypatch):
    """`valpkg.layers`, importable for build and verify."""
    root = tmp_path / "site"
    (root / "valpkg").mkdir(parents=True)
    (root / "valpkg" / "__init__.py").write_text("")
    (root / "valpkg" / "layers.py").write_text(LAYERS)
    monkeypatch.syspath_prepend(str(root))
    yield root
    for name in [m for m in sys.modules if m == "valpkg" or m.startswith("valpkg.")]:
        del sys.modules[name]


def _diagnostics(text: str) -> list[tuple[str, str]]:
    return [(d.code, d.message) for d in archspec.check_text(text, "x.arch").diagnostics]


def _model(body: str) -> str:
    return EXTERN + "\nmodel M {\n" + textwrap.indent(textwrap.dedent(body), "    ") + "}\n"


# ---------------------------------------------------------------- syntax and checking


def test_checks_clean_and_formats_stably():
    assert _diagnostics(SPEC) == []
    formatted = format_text(SPEC)
    assert format_text(formatted) == formatted
    assert 'norm=extern "functools:partial"(extern "torch.nn:LayerNorm", eps=1e-3)' in formatted
    assert _diagnostics(formatted) == []


@pytest.mark.parametrize(
    "statement, message",
    [
        ('y = x -> Linear(8, extern "torch.nn:GELU")',
         "Linear's 'out_features' takes a plain value, got the Python object "
         'extern "torch.nn:GELU"'),
        ('y = extern "torch.nn:GELU" + 1', 'extern "torch.nn:GELU" + the number 1'),
        ('y = x -> Gated(8, gate=extern "functools:partial"(x))',
         "an extern value takes plain values, got a tensor"),
        ('y = x -> Gated(8, gate=extern "torch.nn:GELU"(N))',
         "an extern value takes plain values, got the symbolic size N"),
        ('y = x -> Gated(8, gate=extern "torch.nn:GELU"(?))',
         "an extern value takes plain values, got `?`"),
        ('y = x -> Gated(8, gate=extern "torch.nn.GELU")',
         "an extern's target is 'module:attribute', got 'torch.nn.GELU'"),
        ('buffer b: [8] = extern "torch:ones"',
         "an extern initial value is what a Python function returns: call it"),
    ],
)  # fmt: skip
def test_misuse_is_an_error_at_the_value(statement, message):
    found = _diagnostics(_model(f"input x: [N, 8]\n{statement}\nreturn x\n"))
    assert len(found) == 1 and found[0][0] in ("E105", "E108"), found
    assert message in found[0][1]


def test_summary_names_the_layers_and_counts_declared_params():
    result = archspec.check_text(SPEC, "net.arch")
    summary = result.models[0].summary()
    assert summary.total_params == 5 * (8 * 8 + 8)


# ---------------------------------------------------------------- compile, build, verify


def test_compile_writes_torchs_through_nn_and_imports_others():
    source = archspec.compile_source(SPEC)
    assert "from functools import partial" in source
    assert "from valpkg.layers import Gated" in source
    assert "def __init__(self, dim: int, gate=nn.GELU) -> None:" in source  # a block default
    assert "self.second = Gated(dim, norm=partial(nn.LayerNorm, eps=0.001))" in source
    assert "self.b = Pair(8, gate=nn.Tanh)" in source
    assert "self.c = Gated(8, gate=nn.ReLU)" in source
    unrolled = archspec.check_text(SPEC, "net.arch")
    from archspec.outputs.codegen import generate_module

    assert "gate=nn.Tanh" in generate_module(unrolled, specialize=True).source


def test_two_objects_of_one_name_cannot_share_a_file(tmp_path, capsys):
    text = _model(
        'input x: [N, 8]\nreturn x -> Gated(8, norm=extern "torch.nn:LayerNorm")'
        ' -> Gated(8, norm=extern "valpkg.layers:Gated") -> Gated(8, norm=extern "other:Gated")\n'
    )
    path = tmp_path / "clash.arch"
    path.write_text(text)
    out = tmp_path / "clash.py"
    assert main(["compile", str(path), "-o", str(out)]) != 0
    assert "'Gated' is imported from other" in capsys.readouterr().err
    assert not out.exists()


def test_build_passes_the_objects_and_outputs_match(package):
    torch = pytest.importorskip("torch")
    model = archspec.build(SPEC)
    assert isinstance(model.a.first.gate, torch.nn.GELU)
    assert isinstance(model.b.first.gate, torch.nn.Tanh)
    assert isinstance(model.c.gate, torch.nn.ReLU)
    norm = model.a.second.norm
    assert isinstance(norm, torch.nn.LayerNorm) and norm.eps == 1e-3
    from valpkg.layers import Gated

    torch.manual_seed(0)
    reference = torch.nn.Sequential(
        torch.nn.Sequential(
            Gated(8, torch.nn.GELU),
            Gated(8, norm=functools.partial(torch.nn.LayerNorm, eps=1e-3)),
        ),
        torch.nn.Sequential(
            Gated(8, torch.nn.Tanh),
            Gated(8, norm=functools.partial(torch.nn.LayerNorm, eps=1e-3)),
        ),
        Gated(8, torch.nn.ReLU),
    )
    prefixes = {"a.first": "0.0", "a.second": "0.1", "b.first": "1.0", "b.second": "1.1", "c": "2"}
    renamed = {}
    for key, value in model.state_dict().items():
        head, _, rest = key.rpartition(".fc.") if ".fc." in key else key.rpartition(".norm.")
        renamed[key.replace(head, prefixes[head], 1)] = value
    reference.load_state_dict(renamed)
    x = torch.randn(3, 8)
    assert torch.equal(model(x), reference(x))
    assert archspec.verify(SPEC) == []


def test_an_object_that_does_not_import_is_e106_at_its_string(package):
    pytest.importorskip("torch")
    text = SPEC.replace('extern "torch.nn:Tanh"', 'extern "torch.nn:NoSuchLayer"')
    with pytest.raises(archspec.SpecError) as raised:
        archspec.build(text)
    (found,) = raised.value.diagnostics
    assert found.code == "E106" and "'torch.nn:NoSuchLayer'" in found.message
    assert found.primary.span.text == '"torch.nn:NoSuchLayer"'


# ---------------------------------------------------------------- the importer writes them


class _Layout(enum.Enum):
    CHANNELS_FIRST = "NCHW"
    CHANNELS_LAST = "NHWC"


@dataclasses.dataclass
class _Config:
    dim_head: int = 32
    act: type = dataclasses.field(default=None)
    scale: float = 1.0


def test_importer_writes_classes_partials_and_configs():
    torch = pytest.importorskip("torch")
    from archspec.tools.importer import mapping

    assert mapping.spec_value(torch.nn.GELU).text == 'extern "torch.nn:GELU"'
    partial = functools.partial(torch.nn.LayerNorm, eps=1e-6)
    written = mapping.spec_value(partial)
    assert written.text == 'extern "functools:partial"(extern "torch.nn:LayerNorm", eps=1e-06)'
    assert written == mapping.spec_value(functools.partial(torch.nn.LayerNorm, eps=1e-6))
    config = _Config(dim_head=64, act=torch.nn.SiLU)
    assert mapping.spec_value(config).text == (
        f'extern "{__name__}:_Config"(dim_head=64, act=extern "torch.nn:SiLU")'
    )
    assert mapping.spec_value((1, torch.nn.ReLU)) == (1, mapping.spec_value(torch.nn.ReLU))
    assert mapping.spec_value(torch.float16).text == "float16"  # the language's dtype name
    assert mapping.spec_value(_Layout.CHANNELS_LAST).text == f'extern "{__name__}:_Layout"("NHWC")'

    local = type("Local", (), {})
    for unwritable in (lambda x: x, local, object(), functools.partial(lambda: 0)):
        assert mapping.spec_value(unwritable) is mapping.UNWRITABLE


def test_imported_extern_is_built_with_its_class_arguments(package, tmp_path, capsys):
    torch = pytest.importorskip("torch")
    out = tmp_path / "net.arch"
    argv = ["import", "valpkg.layers:Net", "--input", "x=[N,8]", "--extern-unsupported"]
    assert main([*argv, "-o", str(out)]) == 0
    assert "warning" not in capsys.readouterr().err  # nothing left out
    text = out.read_text()
    assert 'first: Branchy(dim=8, act=extern "torch.nn:Tanh")' in text
    assert re.search(r"second: \w+\(dim=8\)\n", text)  # its default left out
    from valpkg.layers import Net

    torch.manual_seed(0)
    original = Net().eval()
    model = archspec.build(text).eval()
    model.load_state_dict(original.state_dict())
    x = torch.randn(2, 8).abs()  # a positive sum: the branch through act
    assert isinstance(model.first.act, torch.nn.Tanh)
    assert torch.equal(model(x), original(x))


def test_an_object_called_that_cannot_be_called_is_e108(package):
    pytest.importorskip("torch")
    text = SPEC.replace('extern "torch.nn:Tanh"', 'extern "math:pi"(2)')
    with pytest.raises(archspec.SpecError) as raised:
        archspec.build(text)
    (found,) = raised.value.diagnostics
    assert found.code == "E108"
    assert "the extern 'math:pi' is a float object, not something to call" in found.message


@pytest.mark.parametrize(
    "use",
    [
        'y = x -> Gated(8, gate=extern "functools:partial"(v))',
        'buffer b: [8] = extern "torch:ones"(v)',
    ],
)
def test_an_extern_values_arguments_are_held_to_the_nesting_limit(use):
    body = "input x: [N, 8]\nv = 1\nfor i in range(300) {\n    v = [v]\n}\n" + use + "\nreturn x\n"
    found = _diagnostics(_model(body))
    assert [code for code, _ in found] == ["E002"], found
    assert "nests lists more than 100 levels deep" in found[0][1]
