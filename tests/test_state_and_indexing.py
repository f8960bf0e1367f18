"""Learned parameters and buffers (`param`, `buffer`) and tensor indexing (`x[:, 0]`), against
torch: state_dict keys and shapes, counts in summary, generated code run in torch, random index
expressions compared with torch's own indexing, each refusal with its code, and `fmt`.

The generators at the top also feed tests/test_ops_torch.py's differential test (getitem, the
Permute layer).
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
from conftest import ROOT  # noqa: E402
from torch_harness import build_checked, observed_shapes, shape_disagreements  # noqa: E402

import archspec  # noqa: E402
from archspec.ops.subscripts import ELLIPSIS, Indices, SliceItem  # noqa: E402
from archspec.outputs.codegen import generate  # noqa: E402
from archspec.tools.fmt import format_text  # noqa: E402

pytestmark = pytest.mark.torch


@dataclass
class Case:
    """As tests/test_ops_torch.py's Case: arguments by name, exactly as torch receives them."""

    args: dict
    inputs: list
    infer: tuple = ()


# ---------------------------------------------------------------- generators (test_ops_torch)


def _bound(d, size: int):
    return d(st.one_of(st.none(), st.integers(-size - 2, size + 2)))


def _index_item(d, size: int):
    kind = d(st.sampled_from(["int", "slice", "slice", "none", "ellipsis"]))
    if kind == "int":
        return d(st.integers(-size - 1, size))
    if kind == "slice":
        step = d(st.sampled_from([None, None, 1, 2, 3, 0, -1]))
        return SliceItem(_bound(d, size), _bound(d, size), step)
    return None if kind == "none" else ELLIPSIS


def getitem_case(d) -> Case:
    rank = d(st.integers(0, 4))
    shape = tuple(d(st.integers(1, 5)) for _ in range(rank))
    count = d(st.integers(1, rank + 2))
    sizes = [shape[i] if i < rank else 3 for i in range(count)]
    items = tuple(_index_item(d, size) for size in sizes)
    return Case({"index": Indices(items)}, [shape])


def permute_layer_case(d) -> Case:
    rank = d(st.integers(1, 4))
    shape = tuple(d(st.integers(1, 4)) for _ in range(rank))
    dims = list(d(st.permutations(range(rank))))
    if d(st.integers(0, 4)) == 0:
        dims = dims[:-1] or [rank]  # a wrong count (or a dim out of range)
    return Case({"dims": dims}, [shape])


def torch_index(indices: Indices):
    """The Python index torch receives for archspec's Indices."""

    def item(value):
        if isinstance(value, SliceItem):
            return slice(value.start, value.stop, value.step)
        return Ellipsis if value is ELLIPSIS else value

    return tuple(item(value) for value in indices.items)


def _several_ellipses(indices: Indices) -> bool:
    """torch reads `x[..., 0, ...]` in its own way (numpy refuses it); archspec refuses (E105)."""
    return sum(item is ELLIPSIS for item in indices.items) > 1


def _stricter(case: Case) -> bool:
    """Where archspec refuses what torch runs, on purpose: a slice that holds nothing gives torch
    an empty tensor (archspec: E203), and several `...` (E105)."""
    if _several_ellipses(case.args["index"]):
        return True
    try:
        return 0 in torch.zeros(case.inputs[0])[torch_index(case.args["index"])].shape
    except (IndexError, ValueError):
        return False


STATE_GENERATORS = {"getitem": getitem_case, "Permute": permute_layer_case}
STATE_FUNCTIONS = {"getitem": lambda x, index: x[torch_index(index)]}
STATE_STRICTER = {"getitem": _stricter}


# ---------------------------------------------------------------- helpers


def _write(tmp_path, text: str, name: str = "spec.arch"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _codes(text: str) -> list[str]:
    return sorted(d.code for d in archspec.check_text(textwrap.dedent(text)).diagnostics)


def _runs_like_archspec(path) -> torch.Tensor:
    """Compile, run in torch, and compare every node's shape with archspec's; the output."""
    model, checked, filename = build_checked(str(path))
    real, output = observed_shapes(model, checked, filename)
    assert shape_disagreements(checked, real) == []
    return output


# ---------------------------------------------------------------- parameters and buffers

STATE_SPEC = """
block Scaled(dim) {
    input x: [N, dim, H, W]
    out = x -> conv: Conv2d(dim, dim, 3, padding=1)
    param layer_scale: [dim, 1, 1] = 1e-6
    buffer shift: [dim, 1, 1] = ones()
    buffer scratch: [dim] = zeros(), persistent=False
    return layer_scale * out + shift
}

model Net(width=8) {
    input x: [N, 3, 6, 6]
    param class_token: [1, 1, width] = zeros()
    param frozen: [2, width] = full(0.5), requires_grad=False
    param embedding: [1, 36, width] = normal(std=0.02)
    param table: [4, width] = uniform(-0.1, 0.1)
    param trunc: [width] = trunc_normal(std=0.5)
    h = x -> stem: Conv2d(3, width, 1) -> block1: Scaled(width) -> block2: Scaled(width)
    tokens = h -> flatten(2) -> transpose(1, 2)
    tokens = tokens + embedding + trunc
    first = tokens[:, 0] + class_token[:, 0] + frozen[0] + table[-1]
    return first
}
"""


def test_parameters_and_buffers_have_torchs_state_dict_keys(tmp_path):
    model = archspec.build(_write(tmp_path, STATE_SPEC))
    state = model.state_dict()
    # A module's own tensors come before its children's (torch's _save_to_state_dict order);
    # the non-persistent buffer is not saved.
    assert list(state) == [
        "class_token", "frozen", "embedding", "table", "trunc",
        "stem.weight", "stem.bias",
        "block1.layer_scale", "block1.shift", "block1.conv.weight", "block1.conv.bias",
        "block2.layer_scale", "block2.shift", "block2.conv.weight", "block2.conv.bias",
    ]  # fmt: skip
    assert state["block1.layer_scale"].shape == (8, 1, 1)
    assert state["embedding"].shape == (1, 36, 8)
    assert dict(model.named_buffers())["block1.scratch"].shape == (8,)
    assert "block1.shift" not in dict(model.named_parameters())
    assert not model.frozen.requires_grad and model.class_token.requires_grad


def test_initial_values_are_the_declared_ones(tmp_path):
    torch.manual_seed(0)
    model = archspec.build(_write(tmp_path, STATE_SPEC))
    assert torch.equal(model.block1.layer_scale, torch.full((8, 1, 1), 1e-6))
    assert torch.equal(model.block1.shift, torch.ones(8, 1, 1))
    assert torch.equal(model.class_token, torch.zeros(1, 1, 8))
    assert torch.equal(model.frozen, torch.full((2, 8), 0.5))
    assert 0.005 < model.embedding.std().item() < 0.04  # normal(std=0.02), 288 draws
    assert model.table.abs().max().item() <= 0.1
    assert model.trunc.abs().max().item() <= 2.0  # trunc_normal cuts at a=-2, b=2


def test_parameters_count_in_summary_and_buffers_do_not(tmp_path):
    path = _write(tmp_path, STATE_SPEC)
    model = archspec.build(path)
    checked = archspec.check(path).model()
    assert checked.parameter_count == sum(p.numel() for p in model.parameters())
    summary = checked.summary()
    assert summary.total_params == checked.parameter_count
    frozen = model.frozen.numel()
    assert summary.trainable_params == summary.total_params - frozen
    rows = {row.name: row for row in summary.rows}
    assert (rows["block1.layer_scale"].type, rows["block1.layer_scale"].params) == ("Parameter", 8)
    assert (rows["block1.shift"].type, rows["block1.shift"].params) == ("Buffer", 0)
    conv = 8 * 8 * 9 + 8
    assert rows["block1"].params == conv + 8  # the block's row sums its layers and parameters


def test_generated_code_computes_what_the_spec_says(tmp_path):
    path = _write(tmp_path, STATE_SPEC)
    output = _runs_like_archspec(path)
    model = archspec.build(path).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn_like(parameter))
        x = torch.randn(2, 3, 6, 6)
        h = model.stem(x)
        for block in (model.block1, model.block2):
            h = block.layer_scale * block.conv(h) + block.shift
        tokens = h.flatten(2).transpose(1, 2) + model.embedding + model.trunc
        expected = tokens[:, 0] + model.class_token[:, 0] + model.frozen[0] + model.table[-1]
        assert torch.allclose(model(x), expected, atol=1e-6)
    assert output.shape == (2, 8)


def test_generated_code_reads_like_torchvision(tmp_path):
    source = generate(archspec.check(_write(tmp_path, STATE_SPEC)))
    # in the block's class, shapes over its argument `dim`; numbers where the spec writes them
    assert "self.layer_scale = nn.Parameter(torch.full((dim, 1, 1), 1e-06))" in source
    assert 'self.register_buffer("shift", torch.ones(dim, 1, 1))' in source
    assert 'self.register_buffer("scratch", torch.zeros(dim), persistent=False)' in source
    unrolled = generate(archspec.check(_write(tmp_path, STATE_SPEC)), specialize=True)
    assert "self.layer_scale = nn.Parameter(torch.full((8, 1, 1), 1e-06))" in unrolled
    # the model's class: its sizes over the model's argument `width`
    assert "    def __init__(self, width: int = 8) -> None:\n" in source
    assert "nn.Parameter(torch.full((2, width), 0.5), requires_grad=False)" in source
    assert "nn.Parameter(torch.empty(1, 36, width).normal_(std=0.02))" in source
    assert "return self.layer_scale * out + self.shift" in source
    assert "tokens[:, 0] + self.class_token[:, 0] + self.frozen[0] + self.table[-1]" in source
    assert "nn.Parameter(torch.full((2, 8), 0.5), requires_grad=False)" in unrolled
    assert "first = tokens[:, 0]" in unrolled


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        ("param w: [4] = 0\n param w: [4] = 1", "E103", "a param named 'w' already exists"),
        ("w: Linear(4, 4)\n param w: [4] = 0", "E103", "a layer named 'w' already exists"),
        ("param w: [4] = 0\n y = x -> w: Linear(4, 4)", "E103", "a param named 'w'"),
        ("param w: [L] = 0", "E108", "must be a number, got the symbolic size L"),
        ("param w: [0, 4] = 0", "E105", "must be a positive integer"),
        ('param w: [4] = "a"', "E108", "must be a number, an initializer or a tensor"),
        ("param w: [4] = normal(0, 1, 2)", "E104", "normal() takes 2 arguments, got 3"),
        ("param w: [4] = normal(sd=1)", "E104", "'sd' is not one of its parameters"),
        ("param w: [4] = full()", "E108", "full()'s 'fill_value' must be a number, got None"),
        ("param w: [4] = 0, persistent=False", "E104", "a param has no option 'persistent'"),
        ("buffer w: [4] = 0, persistent=1", "E108", "persistent must be True or False"),
    ],
)
def test_state_declarations_that_torch_would_refuse(body, code, words):
    text = f"model M {{\n input x: [N, L, 4]\n {body}\n return x\n}}\n"
    result = archspec.check_text(text)
    errors = [d for d in result.diagnostics if d.code.startswith("E")]
    assert [d.code for d in errors] == [code], [d.message for d in errors]
    assert words in errors[0].message
    assert errors[0].help or code == "E103" or errors[0].notes


# ---------------------------------------------------------------- indexing and slicing


def _index_text(item) -> str:
    if isinstance(item, SliceItem):
        return item.source()
    return "..." if item is ELLIPSIS else str(item)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_random_index_expressions_match_torch(data, tmp_path_factory):
    """A spec `x[...]` on a random shape: archspec's shape is torch's, or both refuse (an empty
    result: archspec's E203 where torch returns a 0-size tensor)."""
    case = getitem_case(data.draw)
    shape = case.inputs[0]
    if not shape:
        return  # a model input has at least the batch dim
    index = ", ".join(_index_text(item) for item in case.args["index"].items)
    dims = ", ".join(str(size) for size in shape)
    text = f"model M {{\n    input x: [{dims}]\n    return x[{index}] + 0\n}}\n"
    result = archspec.check_text(text)
    errors = [d.code for d in result.diagnostics if d.code.startswith("E")]
    try:
        expected = tuple(torch.zeros(shape)[torch_index(case.args["index"])].shape)
    except (IndexError, ValueError):
        expected = None
    if expected is None or 0 in expected or _several_ellipses(case.args["index"]):
        assert errors and set(errors) <= {"E105", "E203", "E206"}, (text, errors)
        return
    assert errors == [], (text, [d.message for d in result.diagnostics])
    assert tuple(result.model().output_shapes[0]) == expected, text
    path = tmp_path_factory.mktemp("index") / "index.arch"
    path.write_text(text, encoding="utf-8")
    assert _runs_like_archspec(path).shape == expected


INDEX_SPEC = """
block Head(C) {
    input x: [N, T, D]
    cls = x[:, 0]
    half = x[..., :C]
    last = x[:, -1, -C:]
    return cls[:, :C] + half[:, 0] + last
}

model M {
    input x: [N, 5, 8]
    a = x -> head: Head(4)
    b = x[:, 1:][:, :, 2]
    c = x[:, ::2, None][..., 0]
    return a, b, c
}
"""


def test_indexing_in_a_block_compiles_to_torchs_own_syntax(tmp_path):
    path = _write(tmp_path, INDEX_SPEC)
    checked = archspec.check(path).model()
    assert [tuple(map(str, shape)) for shape in checked.output_shapes] == [
        ("N", "4"),
        ("N", "4"),
        ("N", "3", "1"),
    ]
    source = generate(archspec.check(path))
    for text in (
        "x[:, 0]",
        "x[:, 1:]",
        "x[..., : self.C]",
        "x[:, ::2, None]",
        "x[:, -1, -self.C :]",
    ):
        assert text in source  # in the block's class, bounds over its argument C
    unrolled = generate(archspec.check(path), specialize=True)
    for text in ("x[..., :4]", "x[:, -1, -4:]"):
        assert text in unrolled
    model, checked, filename = build_checked(str(path))
    real, outputs = observed_shapes(model, checked, filename, batch=3)
    assert shape_disagreements(checked, real, batch=3) == []
    x = torch.randn(3, 5, 8)
    a, b, c = model(x)
    assert torch.equal(a, x[:, 0][:, :4] + x[..., :4][:, 0] + x[:, -1, -4:])
    assert torch.equal(b, x[:, 1:][:, :, 2])
    assert torch.equal(c, x[:, ::2, None][..., 0])


@pytest.mark.parametrize(
    ("expression", "code", "words"),
    [
        ("x[:, 6]", "E105", "index 6 is out of range for dim 1 of [N, 6, 8]: its size is 6"),
        ("x[:, -7]", "E105", "so an index runs from -6 to 5"),
        ("x[0, 0, 0, 0]", "E105", "indexes 4 dims, but the input [N, 6, 8] has 3"),
        ("x[..., 0, ...]", "E105", "has more than one `...`"),
        ("x[:, 6:]", "E203", "the slice 6: of dim 1 (size 6) of [N, 6, 8] is empty"),
        ("x[:, 4:2]", "E203", "is empty"),
        ("x[:, ::0]", "E105", "has step 0"),
        ("x[:, ::-1]", "E105", "torch slices with positive steps only"),
        ("x[:, 1.5]", "E108", "a tensor index must be an integer"),
        ("x[:, :1.5]", "E108", "a slice bound must be an integer"),
        ("x[:, x]", "E108", "a tensor index must be the only index"),
        ("[1, 2][:, 0]", "E108", "cannot index a list of 2 items with slices"),
    ],
)
def test_index_errors(expression, code, words):
    text = f"model M {{\n input x: [N, 6, 8]\n y = {expression}\n return x\n}}\n"
    errors = [d for d in archspec.check_text(text).diagnostics if d.code.startswith("E")]
    assert [d.code for d in errors] == [code], [d.message for d in errors]
    assert words in errors[0].message
    assert errors[0].help


def test_slices_clamp_as_torch_does():
    text = "model M {\n input x: [N, 6, 8]\n return x[:, :100, -100:]\n}\n"
    checked = archspec.check_text(text).model()
    clamped = torch.zeros(1, 6, 8)[:, :100, -100:]
    assert tuple(checked.output_shapes[0][1:]) == (6, 8) == tuple(clamped.shape[1:])


def test_lists_slice_as_python_does():
    text = "model M(w=[1, 2, 3, 4]) {\n input x: [N, 4]\n return x -> Linear(4, len(w[1:]))\n}\n"
    assert archspec.check_text(text).model().output_shapes[0][1] == 3


# ---------------------------------------------------------------- Linear and LayerNorm on NHWC


def test_linear_and_layer_norm_act_on_the_last_dim_of_any_rank(tmp_path):
    path = _write(
        tmp_path,
        """
        model M {
            input x: [N, 8, 5, 6]
            y = x -> permute(0, 2, 3, 1) -> LayerNorm(8, eps=1e-6) -> Linear(8, 32)
                  -> GELU() -> Linear(32, 8) -> Permute([0, 3, 1, 2])
            return y
        }
        """,
    )
    checked = archspec.check(path).model()
    assert tuple(map(str, checked.output_shapes[0])) == ("N", "8", "5", "6")
    assert _runs_like_archspec(path).shape == (2, 8, 5, 6)


# ---------------------------------------------------------------- formatting and the docs


def test_fmt_lays_out_parameters_and_subscripts():
    messy = (
        "model M {\n  input x: [N, 4, 4]\n"
        "  param   w : [4]=normal( std = 0.02 ),requires_grad = False  # kept\n"
        "  buffer b: [4] = 0 , persistent=False\n"
        "  y = x[ : , 0 ,] + x[..., 1 :3 : 1][:, 0] + w + x[None , ::2][0, 0]\n"
        "  return y\n}\n"
    )
    expected = (
        "model M {\n    input x: [N, 4, 4]\n"
        "    param w: [4] = normal(std=0.02), requires_grad=False  # kept\n"
        "    buffer b: [4] = 0, persistent=False\n"
        "    y = x[:, 0] + x[..., 1:3:1][:, 0] + w + x[None, ::2][0, 0]\n"
        "    return y\n}\n"
    )
    assert format_text(messy) == expected
    assert format_text(expected) == expected


def _doc_section(title: str) -> str:
    text = (ROOT / "docs/language.md").read_text(encoding="utf-8")
    start = text.index(title)
    end = text.index("\n## ", start + len(title))
    return text[start:end]


@pytest.mark.parametrize("title", ["### Parameters and buffers", "### Indexing and slicing"])
def test_docs_examples_check_clean_and_run(title, tmp_path):
    examples = re.findall(r"```arch\n(.*?)```", _doc_section(title), flags=re.S)
    models = [example for example in examples if "model " in example]
    assert models
    for index, example in enumerate(models):
        path = _write(tmp_path, example, f"example{index}.arch")
        assert archspec.check(path).diagnostics == []
        assert format_text(example) == example
        _runs_like_archspec(path)
