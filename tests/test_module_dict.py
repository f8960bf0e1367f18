"""ModuleDict (`heads: ModuleDict({"out": Conv2d(...)})`, applied by key `x -> heads["out"]`) and
loops over containers (`[x -> conv for conv in convs]`, `for key in heads`), as torch code writes
`for conv in self.convs` and `self.heads["out"](x)`: declared, applied, refused at line:col,
formatted, and compiled to torch's modules with torch's state_dict keys and outputs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import archspec
from archspec.tools.fmt import format_text

ROOT = Path(__file__).resolve().parent.parent

HEADS = """block Branch(rate) {
    input x
    return x -> conv: Conv2d(4, 2, 3, padding=rate, dilation=rate) -> relu()
}

model Heads {
    input x: [N, 4, 9, 9]
    convs: ModuleList([Branch(r) for r in [1, 2, 3]])
    layers: ModuleDict(
        {
            "stem": Conv2d(4, 4, 1),
            "block-1": Sequential(Conv2d(4, 4, 3, padding=1, bias=False), BatchNorm2d(4)),
            "0": ReLU(),
        },
    )
    heads: ModuleDict(a: Conv2d(4, 2, 1), b: Conv2d(4, 3, 1, bias=False))
    outs = [x -> conv for conv in convs]
    h = x -> layers["stem"] -> layers["block-1"] -> layers["0"]
    for key in heads {
        outs = outs + [h -> heads[key]]
    }
    more = [conv(h) for conv in convs]
    return cat(outs + more, dim=1)
}
"""


def _model(body: str) -> str:
    return f"model M {{\n    input x: [N, 4, 8, 8]\n{body}\n}}\n"


def _one_error(text: str, code: str) -> tuple[str, str]:
    """The one diagnostic of `code`: its `line:col` and `message | help`."""
    diagnostics = archspec.check_text(text).diagnostics
    found = [d for d in diagnostics if d.code == code]
    assert len(found) == 1, diagnostics
    span = found[0].primary.span
    line, col = span.source.line_col(span.start)
    return f"{line}:{col}", f"{found[0].message} | {found[0].help}"


def test_declared_applied_and_iterated():
    result = archspec.check_text(HEADS)
    assert result.ok and result.diagnostics == []
    model = result.model()
    root = model.graph.root
    assert root.children["layers"].kind == "dict"
    assert list(root.children["layers"].children) == ["stem", "block-1", "0"]
    assert list(root.children["heads"].children) == ["a", "b"]
    # the loops applied every layer: each convs layer twice (x, then h), each head once
    branches = root.children["convs"].children.values()
    assert [len(branch.children["conv"].applications) for branch in branches] == [2, 2, 2]
    assert len(root.children["heads"].children["b"].applications) == 1
    output = model.inference.shapes[model.graph.outputs[0]]
    assert output[1] == 3 * 2 + 2 + 3 + 3 * 2


def test_a_for_statement_applies_the_layers_in_turn():
    text = _model(
        "    convs: ModuleList(Conv2d(4, 8, 1), Conv2d(8, 6, 1))\n"
        "    y = x\n    for conv in convs {\n        y = y -> conv\n    }\n    return y"
    )
    result = archspec.check_text(text)
    assert result.diagnostics == []
    model = result.model()
    assert model.inference.shapes[model.graph.outputs[0]][1] == 6


def test_missing_key_names_the_keys_and_the_closest():
    text = _model(
        '    heads: ModuleDict({"stem": Conv2d(4, 2, 1), "head": Conv2d(4, 2, 1)})\n'
        '    return x -> heads["stme"]'
    )
    where, message = _one_error(text, "E102")
    assert where == "4:23"  # the key, `"stme"`
    assert "'heads' has no layer 'stme'" in message and "'stem', 'head'" in message
    assert "did you mean 'stem'?" in message


def test_key_errors():
    by_number = _model('    heads: ModuleDict({"a": Conv2d(4, 2, 1)})\n    return x -> heads[0]')
    where, message = _one_error(by_number, "E108")
    assert where == "4:23" and "indexed by a key, a string, got the number 0" in message
    assert '`heads["a"]`' in message
    number_key = _model("    heads: ModuleDict({1: Conv2d(4, 2, 1)})\n    return x -> heads[1]")
    where, message = _one_error(number_key, "E108")
    assert where == "3:24" and "keys are strings, got the number 1" in message
    dotted = _model('    heads: ModuleDict({"a.b": Conv2d(4, 2, 1)})\n    return x -> heads["a.b"]')
    where, message = _one_error(dotted, "E105")
    assert where == "3:24" and "torch refuses '' and '.'" in message
    # torch's add_module: "attribute 'items' already exists"
    method = _model(
        '    heads: ModuleDict({"items": Conv2d(4, 2, 1)})\n    return x -> heads["items"]'
    )
    assert "a method of every ModuleDict" in _one_error(method, "E105")[1]
    twice = _model(
        '    heads: ModuleDict({"a": Conv2d(4, 2, 1), "a": Conv2d(4, 2, 1)})\n'
        '    return x -> heads["a"]'
    )
    where, message = _one_error(twice, "E103")
    assert where == "3:46" and "'a' already exists" in message


def test_declaration_errors():
    unnamed = _model("    heads: ModuleDict(Conv2d(4, 2, 1))\n    return x -> heads[0]")
    where, message = _one_error(unnamed, "E104")
    assert where == "3:23" and "named by their keys" in message
    keyword = _model('    heads: ModuleDict(stem=Conv2d(4, 2, 1))\n    return x -> heads["stem"]')
    where, message = _one_error(keyword, "E104")
    assert "no keyword arguments ('stem')" in message and '`ModuleDict({"stem": ...})`' in message
    not_a_layer = _model('    heads: ModuleDict({"a": 3})\n    return x -> heads["a"]')
    assert "ModuleDict holds layers, got the number 3" in _one_error(not_a_layer, "E108")[1]


def test_applied_whole_is_e108_with_the_keyed_form():
    text = _model('    heads: ModuleDict({"a": Conv2d(4, 2, 1)})\n    return x -> heads')
    where, message = _one_error(text, "E108")
    assert where == "4:17" and "the ModuleDict 'heads' is applied as a whole" in message
    assert '`x -> heads["a"]`' in message and "for key in heads" in message


def test_only_containers_are_looped_over():
    text = _model("    conv: Conv2d(4, 2, 1)\n    return cat([x -> c for c in conv], 1)")
    where, message = _one_error(text, "E108")
    assert where == "4:33" and "cannot loop over 'conv', a Conv2d" in message


def test_a_looped_layer_is_no_argument():
    as_argument = _model(
        "    convs: ModuleList(Conv2d(4, 2, 1))\n"
        "    return cat([x -> Conv2d(4, 2, 1, bias=c) for c in convs], 1)"
    )
    assert "E108" in [d.code for d in archspec.check_text(as_argument).diagnostics]
    in_sequential = _model(
        "    convs: ModuleList(Conv2d(4, 2, 1))\n    return x -> Sequential(*[c for c in convs])"
    )
    assert "the layer convs[0]" in _one_error(in_sequential, "E108")[1]


def test_existing_diagnostics_hold_for_looped_layers():
    # a layer of the list that no loop reaches keeps its `?` uninferred
    unapplied = _model(
        '    heads: ModuleDict({"a": Conv2d(4, 2, 1), "b": Conv2d(?, 2, 1)})\n'
        '    return x -> heads["a"]'
    )
    assert "'heads.b' is declared but never applied" in _one_error(unapplied, "E108")[1]
    # a chain that feeds the second layer what the first made: 2 channels, not 4
    chained = _model(
        "    convs: ModuleList(Conv2d(4, 2, 1), Conv2d(4, 2, 1))\n"
        "    y = x\n    for conv in convs {\n        y = y -> conv\n    }\n    return y"
    )
    assert _one_error(chained, "E201")[0] == "3:47"  # the second Conv2d's in_channels
    # one layer applied to two shapes: its `?` was read off the first
    twice = _model(
        "    convs: ModuleList(Conv2d(?, 2, 1))\n"
        "    a = [x -> conv for conv in convs]\n"
        "    return cat([a[0] -> conv for conv in convs], 1)"
    )
    assert "E201" in [d.code for d in archspec.check_text(twice).diagnostics]


def test_loop_variable_shadows_a_layer_and_is_restored():
    text = _model(
        "    conv: Conv2d(4, 5, 1)\n"
        "    convs: ModuleList(Conv2d(4, 2, 1), Conv2d(4, 3, 1))\n"
        "    outs = [x -> conv for conv in convs]\n"
        "    return cat(outs + [x -> conv], 1)"
    )
    result = archspec.check_text(text)
    assert result.diagnostics == []
    model = result.model()
    assert model.inference.shapes[model.graph.outputs[0]][1] == 2 + 3 + 5


def test_fmt_round_trip():
    messy = HEADS.replace('layers["stem"]', 'layers [ "stem" ]').replace(
        "for conv in convs]", "for conv in  convs ]"
    )
    formatted = format_text(messy)
    assert formatted == HEADS
    assert format_text(formatted) == formatted


def test_codegen_reads_like_torch():
    source = archspec.compile_source(HEADS)
    assert "self.layers = nn.ModuleDict(" in source
    assert '"block-1": nn.Sequential(' in source
    assert 'self.layers["stem"](x)' in source and 'self.layers["0"](' in source
    assert 'self.heads["a"](h)' in source and 'self.heads["b"](h)' in source
    assert "self.convs[0](x)" in source and "self.convs[2](h)" in source
    compile(source, "<generated>", "exec")


def test_doc_example_checks_clean():
    example = _doc_example()
    result = archspec.check_text(example)
    assert result.diagnostics == []
    source = archspec.compile_source(example)
    assert 'self.heads["out"](' in source and "self.convs[1](" in source


def _doc_example() -> str:
    text = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- module-dict-example -->\n```arch\n(.*?)```", text, re.S)
    assert found, "docs/language.md lost its ModuleDict example"
    return found.group(1)


@pytest.mark.torch
def test_torch_state_dict_and_outputs():
    torch = pytest.importorskip("torch")
    from torch import nn

    model = archspec.build(HEADS).eval()

    class Branch(nn.Module):
        def __init__(self, rate: int) -> None:
            super().__init__()
            self.conv = nn.Conv2d(4, 2, 3, padding=rate, dilation=rate)

        def forward(self, x):
            return torch.relu(self.conv(x))

    class Reference(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.convs = nn.ModuleList([Branch(r) for r in [1, 2, 3]])
            self.layers = nn.ModuleDict(
                {
                    "stem": nn.Conv2d(4, 4, 1),
                    "block-1": nn.Sequential(
                        nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)
                    ),
                    "0": nn.ReLU(),
                }
            )
            self.heads = nn.ModuleDict(
                {"a": nn.Conv2d(4, 2, 1), "b": nn.Conv2d(4, 3, 1, bias=False)}
            )

        def forward(self, x):
            outs = [conv(x) for conv in self.convs]
            h = x
            for layer in self.layers.values():
                h = layer(h)
            outs += [head(h) for head in self.heads.values()]
            return torch.cat(outs + [conv(h) for conv in self.convs], dim=1)

    reference = Reference().eval()
    keys = list(model.state_dict())
    assert keys == list(reference.state_dict())  # the same keys, in the same order
    assert "layers.block-1.1.running_mean" in keys and "heads.b.weight" in keys
    assert "heads.b.bias" not in keys
    with torch.no_grad():  # random weights and statistics, so BatchNorm's are not the identity
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.copy_(torch.rand_like(tensor) + 0.5)
    reference.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(2, 4, 9, 9)
    with torch.no_grad():
        assert torch.allclose(model(x), reference(x), atol=1e-6)


@pytest.mark.torch
def test_doc_example_matches_torch():
    torch = pytest.importorskip("torch")
    model = archspec.build(_doc_example()).eval()
    assert {"convs.0.conv.weight", "heads.aux.weight", "heads.out.bias"} <= set(model.state_dict())
    assert model(torch.randn(1, 8, 16, 16)).shape[1] == 3 * 16 + 5 + 2
