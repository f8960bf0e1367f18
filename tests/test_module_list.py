"""ModuleList: a container whose layers are applied one by one (`x -> convs[i]`), as torchvision's
ASPP keeps its branches: declared, indexed (in loops and comprehensions too), refused when applied
whole or indexed out of range, formatted, and compiled to `nn.ModuleList` with torch's keys."""

from __future__ import annotations

import pytest

import archspec
from archspec.outputs.codegen import generate_module
from archspec.tools.fmt import format_text

BRANCHES = """block Branch(rate) {
    input x
    return x -> conv: Conv2d(4, 2, 3, padding=rate, dilation=rate) -> relu()
}

model Branches {
    input x: [N, 4, 9, 9]
    convs: ModuleList([Branch(r) for r in [1, 2, 3]])
    heads: ModuleList(Conv2d(4, 2, 1), Sequential(Conv2d(4, 2, 1, bias=False), BatchNorm2d(2)))
    outs = [x -> convs[i] for i in range(3)]
    first = x -> heads[0]
    last = x -> heads[-1]
    for i in range(2) {
        outs = outs + [x -> heads[i]]
    }
    return cat(outs + [first, last], dim=1)
}
"""


def _codes(text: str) -> list[str]:
    return [d.code for d in archspec.check_text(text).diagnostics]


def _one_error(text: str, code: str) -> str:
    found = [d for d in archspec.check_text(text).diagnostics if d.code == code]
    assert len(found) == 1, archspec.check_text(text).diagnostics
    assert found[0].help
    return found[0].message + " | " + found[0].help


def test_declared_and_indexed():
    result = archspec.check_text(BRANCHES)
    assert result.ok and result.diagnostics == []
    model = result.model()
    root = model.graph.root
    assert root.children["convs"].kind == "list"
    assert list(root.children["convs"].children) == ["0", "1", "2"]
    assert list(root.children["heads"].children["1"].children) == ["0", "1"]
    output = model.inference.shapes[model.graph.outputs[0]]
    assert output[1] == 2 * 7


def _model(body: str) -> str:
    return f"model M {{\n    input x: [N, 4, 8, 8]\n{body}\n}}\n"


def test_applied_whole_is_e108():
    text = _model("    convs: ModuleList(Conv2d(4, 2, 1), Conv2d(4, 2, 1))\n    return x -> convs")
    message = _one_error(text, "E108")
    assert "applied as a whole" in message and "2 separate layers" in message
    assert "x -> convs[0]" in message and "range(2)" in message


def test_index_out_of_range_is_e105_with_the_count():
    text = _model(
        "    convs: ModuleList(Conv2d(4, 2, 1), Conv2d(4, 2, 1))\n    return x -> convs[2]"
    )
    message = _one_error(text, "E105")
    assert "index 2 is out of range" in message and "holds 2 layers" in message


def test_index_errors():
    not_a_list = _model("    conv: Conv2d(4, 2, 1)\n    return x -> conv[0]")
    assert "not a ModuleList" in _one_error(not_a_list, "E108")
    not_a_number = _model('    convs: ModuleList(Conv2d(4, 2, 1))\n    return x -> convs["a"]')
    assert "whole number" in _one_error(not_a_number, "E108")
    unknown = _model("    return x -> convs[0]")
    assert "E102" in _codes(unknown)
    named = _model("    convs: ModuleList(a: Conv2d(4, 2, 1))\n    return x -> convs[0]")
    assert "numbered, not named" in _one_error(named, "E104")
    keyword = _model("    convs: ModuleList(Conv2d(4, 2, 1), k=1)\n    return x -> convs[0]")
    assert "E104" in _codes(keyword)


def test_an_unused_child_needing_its_input_is_reported():
    text = _model(
        "    convs: ModuleList(Conv2d(4, 2, 1), Conv2d(?, 2, 1))\n    return x -> convs[0]"
    )
    assert "E108" in _codes(text)


def test_fmt_round_trip():
    messy = BRANCHES.replace("convs[i]", "convs [ i ]").replace("heads[0]", "heads[ 0 ]")
    formatted = format_text(messy)
    assert formatted == BRANCHES
    assert format_text(formatted) == formatted


def test_codegen_reads_like_torchvision():
    source = archspec.compile_source(BRANCHES)
    assert "self.convs = nn.ModuleList(" in source
    # the model's class follows the spec: its comprehension and loop index the lists
    assert "self.convs = nn.ModuleList([Branch(r) for r in [1, 2, 3]])" in source
    assert "outs = [self.convs[i](x) for i in range(3)]" in source
    assert "last = self.heads[-1](x)" in source and "outs = outs + [self.heads[i](x)]" in source
    unrolled = generate_module(archspec.check_text(BRANCHES), specialize=True).source
    assert "self.convs[0](x)" in unrolled and "self.convs[2](x)" in unrolled
    assert "self.heads[-1]" not in unrolled and "self.heads[1](x)" in unrolled
    compile(source, "<generated>", "exec")


@pytest.mark.torch
def test_torch_state_dict_and_outputs():
    torch = pytest.importorskip("torch")
    from torch import nn

    model = archspec.build(BRANCHES).eval()
    keys = set(model.state_dict())
    assert keys >= {"convs.0.conv.weight", "convs.2.conv.bias", "heads.0.weight"}
    assert "heads.1.1.running_mean" in keys

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
            self.heads = nn.ModuleList(
                [
                    nn.Conv2d(4, 2, 1),
                    nn.Sequential(nn.Conv2d(4, 2, 1, bias=False), nn.BatchNorm2d(2)),
                ]
            )

        def forward(self, x):
            outs = [conv(x) for conv in self.convs] + [head(x) for head in self.heads]
            return torch.cat(outs + [self.heads[0](x), self.heads[-1](x)], dim=1)

    reference = Reference().eval()
    assert set(reference.state_dict()) == keys
    reference.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(2, 4, 9, 9)
    with torch.no_grad():
        assert torch.allclose(model(x), reference(x))


NESTED = """block Stages(dim) {
    input x
    blocks: ModuleList(
        ModuleList(Linear(dim, dim), Linear(dim, dim)),
        ModuleList(Linear(dim, dim), Linear(dim, dim), Linear(dim, dim)),
    )
    h = x
    for i in range(2) {
        for j in range(2 + i) {
            h = h -> blocks[i][j] -> relu()
        }
    }
    return h -> blocks[1][-1]
}

model Nested {
    input x: [N, 8]
    return x -> Stages(8)
}
"""


def test_a_list_held_by_a_list_is_indexed_twice():
    assert _codes(NESTED) == []
    source = archspec.compile_source(NESTED)
    # an outer loop keeps its own variable around an inner one
    assert "for i in range(2):\n            for j in range(2 + i):" in source
    assert "h = self.blocks[i][j](h)\n                h = F.relu(h)" in source
    assert "out = self.blocks[1][-1](h)" in source
    unrolled = generate_module(archspec.check_text(NESTED), specialize=True).source
    assert "self.blocks[1][2](" in unrolled and "self.blocks[0][1](" in unrolled
    assert format_text(NESTED) == NESTED


def test_nested_index_errors_name_the_list_and_the_index():
    base = "    blocks: ModuleList(ModuleList(Conv2d(4, 2, 1)), Conv2d(4, 2, 1))\n"
    out_of_range = _one_error(_model(base + "    return x -> blocks[0][1]"), "E105")
    assert "'blocks[0]' holds 1 layers" in out_of_range
    not_a_list = _one_error(_model(base + "    return x -> blocks[1][0]"), "E108")
    assert "'blocks[1]' is a Conv2d, not a ModuleList" in not_a_list


@pytest.mark.torch
def test_nested_lists_build_with_torchs_keys_and_both_forms_agree():
    torch = pytest.importorskip("torch")

    model = archspec.build(NESTED).eval()
    assert "stages.blocks.1.2.weight" in model.state_dict()
    unrolled_source = generate_module(archspec.check_text(NESTED), specialize=True).source
    namespace: dict = {}
    exec(compile(unrolled_source, "<unrolled>", "exec"), namespace)
    unrolled = namespace["Nested"]().eval()
    unrolled.load_state_dict(model.state_dict())
    x = torch.randn(3, 8)
    stages = model.stages.blocks
    expected = x
    for i in range(2):
        for j in range(2 + i):
            expected = torch.relu(stages[i][j](expected))
    expected = stages[1][-1](expected)
    assert torch.equal(model(x), expected) and torch.equal(unrolled(x), expected)
