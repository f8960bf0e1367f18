"""Buffers whose initial value is a tensor computed when the module is built (Swin's
`relative_position_index`): the nodes computing it run in __init__, not in forward; the buffer
takes the value's dtype; and every way of reading the input, or sharing the computation with
forward, is refused at its line."""

from __future__ import annotations

import textwrap

import pytest

import archspec
from archspec.outputs.codegen import generate

RELATIVE_INDEX = textwrap.dedent(
    """\
    block RelativeBias(window, heads) {
        input x: [B, heads, L, L]
        param table: [(2 * window - 1) ** 2, heads] = trunc_normal(std=0.02)
        coords = stack(meshgrid(arange(window), arange(window), indexing="ij")) -> flatten(1)
        relative = coords[:, :, None] - coords[:, None, :] -> permute(1, 2, 0)
        buffer index: [window ** 4]
            = (relative[:, :, 0] + window - 1) * (2 * window - 1) + relative[:, :, 1]
                + window - 1 -> flatten()
        bias = table[index] -> view(L, L, -1) -> permute(2, 0, 1) -> unsqueeze(0)
        return x + bias
    }

    model M() {
        input x: [N, 3, 9, 9]
        a = x -> first: RelativeBias(3, 3)
        return a -> second: RelativeBias(3, 3)
    }
    """
)


def _write(tmp_path, text: str) -> str:
    path = tmp_path / "spec.arch"
    path.write_text(text, encoding="utf-8")
    return str(path)


def _first(text: str, tmp_path):
    result = archspec.check(_write(tmp_path, text))
    errors = [d for d in result.diagnostics if d.severity == "error"]
    assert errors, f"expected an error, got {result.diagnostics}"
    finding = errors[0]
    span = finding.primary.span
    return finding, (span.line, span.column)


def test_checks_clean_and_the_buffer_is_int64(tmp_path):
    result = archspec.check(_write(tmp_path, RELATIVE_INDEX))
    assert result.diagnostics == []
    checked = result.models[0]
    state_nodes = [n for n in checked.graph.nodes() if n.kind == "state" and n.name == "index"]
    assert len(state_nodes) == 2  # one read per application
    assert {checked.inference.dtype(n.id) for n in state_nodes} == {"int64"}
    built = [n for n in checked.graph.nodes() if n.built_for == "index"]
    assert built and all(n.kind == "op" for n in built)
    summary = checked.summary()
    assert not any(row.name.endswith("arange") for row in summary.rows)


def test_generated_code_builds_the_value_in_init(tmp_path):
    source = generate(archspec.load(_write(tmp_path, RELATIVE_INDEX)))
    init, forward = source.split("def forward", 1)[0], source.split("def forward", 1)[1]
    assert "torch.arange(window)" in init  # the block's class: over its argument
    unrolled = generate(archspec.load(_write(tmp_path, RELATIVE_INDEX)), specialize=True)
    assert "torch.arange(3)" in unrolled.split("def forward", 1)[0]
    assert 'self.register_buffer("index", index)' in init
    assert "arange" not in forward.split("class M")[0]
    assert "self.table[self.index]" in source


@pytest.mark.torch
def test_equals_torchvision_relative_position_index(tmp_path):
    torch = pytest.importorskip("torch")
    model = archspec.build(_write(tmp_path, RELATIVE_INDEX))
    # torchvision's define_relative_position_index for a 3×3 window, in place as it writes it
    coords = torch.stack(torch.meshgrid(torch.arange(3), torch.arange(3), indexing="ij"))
    flat = torch.flatten(coords, 1)
    relative = (flat[:, :, None] - flat[:, None, :]).permute(1, 2, 0).contiguous()
    relative[:, :, 0] += 2
    relative[:, :, 1] += 2
    relative[:, :, 0] *= 5
    expected = relative.sum(-1).flatten()
    state = model.state_dict()
    assert state["first.index"].dtype == torch.int64
    assert torch.equal(state["first.index"], expected)
    assert torch.equal(state["second.index"], expected)
    x = torch.randn(2, 3, 9, 9)
    table = model.first.table
    bias = table[expected].view(9, 9, -1).permute(2, 0, 1).unsqueeze(0)
    table2 = model.second.table
    bias2 = table2[expected].view(9, 9, -1).permute(2, 0, 1).unsqueeze(0)
    with torch.no_grad():
        assert torch.equal(model(x), x + bias + bias2)


@pytest.mark.parametrize(
    "body, words, where",
    [
        (
            "buffer b: [4] = x -> sum(dim=0)",
            "reads the input",
            (3, 21),
        ),
        (
            "buffer b: [4] = arange(4) + H",
            "reads a size read off the input",
            (3, 21),
        ),
        (
            "a = arange(4)\n    buffer b: [4] = a * 2\n    y = x + a",
            "computed when the module is built, as the initial value of 'b'",
            (5, 9),
        ),
        (
            "a = arange(4)\n    y = x + a\n    buffer b: [4] = a * 2",
            "forward also reads a part of it",
            (5, 21),
        ),
        (
            "a = arange(4)\n    buffer b: [4] = a\n    buffer c: [4] = a",
            "already initialises 'b'",
            (5, 21),
        ),
    ],
)
def test_refusals(tmp_path, body, words, where):
    text = "block B() {\n    input x: [N, H]\n    " + body + "\n    return x\n}\n"
    text += "model M() {\n    input x: [N, 4]\n    return x -> B()\n}\n"
    finding, at = _first(text, tmp_path)
    assert finding.code == "E108", finding
    assert words in finding.message, finding.message
    assert at == where, finding


def test_the_declared_shape_is_checked(tmp_path):
    text = "model M() {\n    input x: [N, 4]\n    buffer b: [5] = arange(4)\n    return x + b\n}\n"
    finding, at = _first(text, tmp_path)
    assert finding.severity == "error"
    assert at[0] == 3
    assert "[5]" in finding.message or "5" in finding.message


def test_a_stated_dtype_is_checked(tmp_path):
    text = (
        "model M() {\n    input x: [N, 4]\n    buffer b: [4] float32 = arange(4)\n"
        "    return x + b\n}\n"
    )
    finding, at = _first(text, tmp_path)
    assert at[0] == 3 and "int64" in finding.message


def test_hover_says_how_the_buffer_starts_and_its_dtype(tmp_path):
    from archspec.tools.lsp import hover_text

    path = _write(tmp_path, RELATIVE_INDEX)
    result = archspec.check(path)
    text = hover_text(result, path, RELATIVE_INDEX.index("index: [window"))
    assert "buffer, shape [81] int64" in text
    assert "computed when the module is built" in text
