"""Tensor dtypes (archspec/core/dtypes.py, ops/dtype_rules.py) and the ops that need them: creation
(arange, zeros, ones, full, meshgrid), comparisons, where, masked_fill, conversions and indexing
with an integer tensor.

Torch is the reference: promotion is compared with torch.result_type pair by pair, and specs are
compiled and run, every node's shape and dtype compared with what torch gives. Each refusal is
pinned with its code, its place and its help.
"""

from __future__ import annotations

import itertools
import textwrap
import warnings

import pytest

import archspec
from archspec.core import dtypes as dt
from archspec.ops import REGISTRY
from archspec.ops.base import ONE_PER_INPUT, Emission
from archspec.outputs.codegen import generate
from archspec.tools.fmt import format_text


def _spec(body: str, inputs: str = "input x: [N, 4, 6]") -> str:
    lines = [inputs, *textwrap.dedent(body).strip().splitlines()]
    return "model M {\n" + "\n".join("    " + line for line in lines) + "\n}\n"


# ---------------------------------------------------------------- promotion, against torch


@pytest.mark.torch
def test_promotion_is_torchs():
    torch = pytest.importorskip("torch")
    names = list(dt.DTYPES)
    numbers = [True, 2, 0.5]

    def tensor(name):
        return torch.ones(2, dtype=getattr(torch, name))

    for left, right in itertools.product(names, names):
        expected = str(torch.promote_types(getattr(torch, left), getattr(torch, right)))
        assert dt.promote(left, right) == expected.removeprefix("torch."), (left, right)
    for name, number in itertools.product(names, numbers):
        expected = str(torch.result_type(tensor(name), number)).removeprefix("torch.")
        assert dt.result_type([name, number]) == expected, (name, number)
    assert dt.result_type([2, 0.5]) == "float32"
    assert dt.result_type([True]) == "bool"
    assert (dt.itemsize("int64"), dt.kind("bool"), dt.torch_name("int64")) == (
        8,
        dt.BOOLEAN,
        "torch.int64",
    )
    assert dt.DType("int64") == dt.CONSTANTS["int64"] != "int64"
    assert len({dt.DType("bool"), dt.DType("bool")}) == 1 and repr(dt.DType("bool")) == "bool"


# ---------------------------------------------------------------- specs run in torch

SWIN = """
model SwinPieces(heads=3) {
    input x: [N, 64, 3]
    param table: [169, heads] = normal(std=0.02)
    buffer index: [2401] int64 = zeros()

    P = 14
    rows = arange(P)
    region = where(rows < P - 7, 0, where(rows < P - 3, 1, 2))
    ids = region[:, None] * 3 + region[None, :]
    flat = ids -> flatten()
    diff = (flat -> unsqueeze(1)) - (flat -> unsqueeze(0))
    mask = where(diff != 0, -100.0, 0.0)
    coords = stack(meshgrid(arange(7), arange(7), indexing="ij")) -> flatten(1)
    rel = coords[:, :, None] - coords[:, None, :]
    bias = table[index] -> view(49, 49, heads)
    scores = matmul(x, x -> transpose(1, 2)) + mask[:64, :64]
    return scores, rel, bias
}
"""

SPECS = {
    "swin": SWIN,
    "creation": _spec(
        """
        a = arange(5)
        b = arange(1, 7, 2)
        c = arange(0.5, 3)
        d = arange(6, dtype=float64)
        e = arange(W)
        f = arange(5, 0, -2)
        z = zeros(2, 3)
        o = ones((2, 3), dtype=int32)
        g = full((2, 3), 7)
        h = full((4,), True)
        k = full((W,), 0.5, dtype=float16)
        i, j = meshgrid(arange(3), arange(4))
        u, v = meshgrid(arange(3), arange(4), indexing="xy")
        return a, b, c, d, e, f, z, o, g, h, k, i, j, u, v
        """,
        "input x: [N, 4, W]",
    ),
    "compare": _spec(
        """
        small = x < 0.5
        big = 1 >= x
        same = x == x -> flip: Identity()
        differ = (x != 0) -> long()
        w = where(small, x, 0.0)
        m = x -> masked_fill(big, -1.0)
        n = tokens -> masked_fill(tokens > 1, 0)
        k = where(tokens == 1, 0.5, tokens)
        r = where(mask, 1, 2)
        ge = tokens > tokens -> le: Identity()
        lt = tokens <= 2
        return same, differ, w, m, n, k, r, ge, lt
        """,
        "input x: [N, 4, 6]\n    input tokens: [N, 6] int64\n    input mask: [N, 1, 1] bool",
    ),
    "arithmetic": _spec(
        """
        a = tokens + tokens
        b = tokens * 2
        c = tokens * 0.5
        d = tokens / 2
        e = tokens + x
        f = mask + mask
        g = mask * mask
        h = -tokens
        i = tokens -> abs()
        j = tokens -> exp()
        k = mask -> sigmoid()
        l = tokens -> sum(1)
        m = mask -> sum()
        n = tokens -> float()
        o = x -> double()
        p = x -> to(int64)
        q = x -> half() -> float()
        r = x -> bfloat16() -> to(float32)
        s = tokens -> int()
        t = x -> bool()
        u = x -> long()
        v = (x -> double()) + x
        w = int(2.5) * tokens
        return a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q, r, s, t, u, v, w
        """,
        "input x: [N, 6]\n    input tokens: [N, 6] int64\n    input mask: [N, 6] bool",
    ),
    "movement": _spec(
        """
        a = tokens -> unsqueeze(1) -> transpose(0, 1) -> flatten() -> reshape(N, 6)
        b = cat([tokens, x], dim=1)
        c = stack([tokens, tokens])
        d = tokens -> roll(1, 1) -> pad((1, 1), value=0)
        e, f = tokens -> chunk(2, dim=1)
        g = tokens[:, 1:] -> expand(2, -1, -1) -> permute(1, 0, 2) -> squeeze(1)
        h = table[tokens]
        i = table[tokens[0]] -> Flatten()
        return a, b, c, d, e, f, g, h, i
        """,
        "input x: [N, 6]\n    input tokens: [N, 6] int64\n    param table: [5, 3] = 1.0",
    ),
    "ints": _spec(
        """
        a = tokens + small
        b = small * 3
        c, d = tokens -> view(N, 2, 3) -> unbind(1)
        return a, b, c, d
        """,
        "input tokens: [N, 6] int64\n    input small: [N, 6] int32",
    ),
}


@pytest.mark.torch
@pytest.mark.parametrize("name", SPECS)
def test_shapes_and_dtypes_are_torchs(name, tmp_path):
    pytest.importorskip("torch")
    from torch_harness import build_checked, expected, observed

    path = tmp_path / f"{name}.arch"
    path.write_text(SPECS[name], encoding="utf-8")
    result = archspec.check(str(path))
    assert [d.message for d in result.diagnostics if d.code.startswith("E")] == []
    model, checked, filename = build_checked(str(path))
    sizes = {"W": 5}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        real, dtypes, _ = observed(model, checked, filename, sizes=sizes)
    assert real, "nothing ran"
    for node_id, shape in real.items():
        assert expected(checked.inference.shapes[node_id], 2, sizes) == shape, node_id
        assert checked.inference.dtype(node_id) == dtypes[node_id], node_id


def test_swin_pieces_compile_as_torch_code_writes_them(tmp_path):
    source = generate(archspec.check_text(SWIN))
    for line in (
        'self.register_buffer("index", torch.zeros(2401, dtype=torch.int64))',
        "rows = torch.arange(14, device=x.device)  # [14] int64",
        'torch.meshgrid([meshgrid, arange], indexing="ij")',
        "mask = diff != 0  # [196, 196] bool",
        "mask = torch.where(mask, -100.0, 0.0)  # [196, 196]",
        "bias = self.table[self.index]  # [2401, 3]",
    ):
        assert line in source, f"{line!r} not in:\n{source}"


def test_generated_code_writes_dtypes_and_conversions():
    text = _spec(
        """
        buffer ids: [3] int64 = 2
        buffer flags: [3] bool = 1
        buffer half: [3] float16 = ones()
        param scale: [3] float64 = normal(std=0.5)
        a = arange(3, dtype=int32) + ids
        b = x -> to(float16) -> float()
        c = zeros(3, dtype=bool) -> masked_fill(flags, True)
        e = (arange(0, 6, 2) -> long()) + arange(3) + arange(6, step=2)
        return a, b, c, e, half, scale
        """,
        "input x: [N, 3]",
    )
    source = generate(archspec.check_text(text))
    for line in (
        'self.register_buffer("ids", torch.full((3,), 2, dtype=torch.int64))',
        'self.register_buffer("flags", torch.full((3,), True, dtype=torch.bool))',
        'self.register_buffer("half", torch.ones(3, dtype=torch.float16))',
        "self.scale = nn.Parameter(torch.empty(3, dtype=torch.float64).normal_(std=0.5))",
        "a = torch.arange(3, dtype=torch.int32, device=x.device)",
        "b = x.to(torch.float16)",
        "b = b.float()",
        "c = torch.zeros(3, dtype=torch.bool, device=x.device)",
        "c = c.masked_fill(self.flags, True)",
        "e = torch.arange(0, 6, 2, device=x.device)",
        "arange = torch.arange(0, 6, 2, device=x.device)",
    ):
        assert line in source, f"{line!r} not in:\n{source}"


def test_creation_without_a_tensor_in_reach_creates_on_the_default_device():
    """In __init__ (a buffer's initial value) no tensor is at hand: torch's default device, and
    the module's .to() moves the buffer."""
    op = REGISTRY["zeros"]
    assert op.emit(Emission({}, {"size": "3", "dtype": "torch.int64"})) == (
        "torch.zeros(3, dtype=torch.int64)"
    )
    assert ONE_PER_INPUT({}) is None  # a marker: the elaborator counts meshgrid's inputs


# ---------------------------------------------------------------- refusals


# fmt: off
REFUSALS = [
    # (body, inputs, code, line, column, message, help)
    ("y = tokens -> Linear(6, 2)", "E108", 3, 19, "Linear needs a floating tensor, got int64",
     "`x -> float()`"),
    ("y = tokens -> softmax(-1)", "E108", 3, 19, "softmax needs a floating tensor, got int64",
     "float()"),
    ("y = x -> double() -> Linear(6, 2)", "E108", 3, 26,
     "Linear needs a float32 tensor (its weights are float32), got float64", "-> float()"),
    ("y = matmul(x, x -> double() -> transpose(0, 1))", "E108", 3, 9,
     "matmul needs operands of one dtype, got float32 and float64", "to(float32)"),
    ("y = mask - mask", "E108", 3, 9, "sub needs numbers, not bool as 'input', got bool",
     "`!=`"),
    ("y = x - True", "E108", 3, 13, "this is the boolean True", None),
    ("y = 2 - mask", "E108", 3, 9, "sub needs numbers, not bool, got bool", "`!=`"),
    ("y = -mask", "E108", 3, 9, "neg needs numbers, not bool, got bool", "long()"),
    ("y = where(tokens, x, 0.0)", "E108", 3, 9,
     "where needs a bool tensor as 'condition', got int64", "`condition != 0`"),
    ("y = x -> masked_fill(tokens, 0.0)", "E108", 3, 14,
     "masked_fill needs a bool tensor as 'mask', got int64", "`mask != 0`"),
    ("y = x[mask]", "E108", 3, 9, "advanced_index needs an int64 (or int32) index as 'index', "
     "got bool", "masked_fill"),
    ("y = x[x]", "E108", 3, 9, "advanced_index needs an int64 (or int32) index as 'index', "
     "got float32", "-> long()"),
    ("y = x[:, tokens]", "E108", 3, 9, "a tensor index must be the only index", "transpose"),
    ("y = meshgrid(arange(3), arange(0.5, 2))", "E108", 3, 9,
     "meshgrid needs tensors of one dtype, got int64 and float32", "to(int64)"),
    ("y = meshgrid(x, x)", "E206", 3, 9, "meshgrid takes 0-d or 1-d tensors, input #0 is "
     "2-d", "flatten"),
    ("y = arange(3, 3)", "E203", 3, 19, "arange(3, 3, 1) is empty", "no empty tensors"),
    ("y = arange(0, 5, 0)", "E105", 3, 22, "arange step must not be 0", None),
    ("y = arange(0.5, W)", "E210", 3, 21, "mixes a symbolic size with a float", None),
    ("y = arange(0, 8, W)", "E210", 3, 22, "arange step W is a symbolic size", None),
    ("y = arange(W, 0)", "E203", 3, 19, "is empty", None),
    ("y = arange(\"a\")", "E105", 3, 16, "start must be a number or a size", None),
    ("y = arange(5, dtype=\"int64\")", "E105", 3, 25, "dtype must be a dtype, got the string",
     "dtype=int64"),
    ("y = x -> to(5)", "E105", 3, 17, "dtype must be a dtype (bool, int32", None),
    ("y = zeros(2, 0)", "E105", 3, 15, "size entries must be positive integers", None),
    ("y = zeros()", "E105", 3, 9, "size must give at least one size", None),
    ("y = full((3,), \"a\")", "E105", 3, 20, "fill_value must be a number", None),
    ("y = full(3, 1.0)", "E105", 3, 14, "size must be a tuple of sizes", "full((3,), ...)"),
    ("y = x -> masked_fill(mask, \"a\")", "E105", 3, 32, "value must be a number", "-100.0"),
    ("y = meshgrid(arange(3), indexing=\"xz\")", "E105", 3, 38, "indexing must be 'ij' or 'xy'",
     "matrix indexing"),
    ("y = where(mask, x, five)", "E205", 3, 9,
     "where cannot broadcast [N, 6] and [N, 5] (condition and other)", "make dim"),
    ("y = x < five", "E205", 3, 9, "cannot compare [N, 6] and [N, 5]", None),
    ("y = x -> masked_fill(five > 0, 1.0)", "E205", 3, 14, "masked_fill cannot broadcast", None),
    ("y = x[0, 0][tokens]", "E206", 3, 9, "a 0-d tensor cannot be indexed", None),
    ("y = x // tokens", "E108", 3, 9, "tensors do not support `//`", "compared"),
    ("param p: [3] int64 = zeros()", "E108", 3, 18, "a parameter must be floating, got int64",
     "buffer p"),
    ("buffer b: [3] int64 = normal()", "E108", 3, 27,
     "normal() draws floating values, but 'b' is int64", "zeros()"),
    ("y: [N, 6] int64 = x", "E207", 3, 8, "is float32, but the spec states int64",
     "to(int64)"),
]
# fmt: on


@pytest.mark.parametrize(
    ("body", "code", "line", "column", "message", "help"),
    REFUSALS,
    ids=[f"{r[1]}:{r[4][:40]}" for r in REFUSALS],
)
def test_refusals_are_pinned(body, code, line, column, message, help):
    inputs = "input x: [N, 6]\n    input tokens: [N, 6] int64\n    input mask: [N, 6] bool"
    inputs += "\n    input r: [N, W]\n    input five: [N, 5]"
    text = _spec(body + "\nreturn x, tokens, mask, r, five", inputs)
    errors = [d for d in archspec.check_text(text).diagnostics if d.code.startswith("E")]
    assert [d.code for d in errors] == [code], [d.message for d in errors]
    found = errors[0]
    assert message in found.message
    at = found.primary.span
    assert (at.line - 4, at.column) == (line, column), (at.line, at.column, text)
    if help is not None:
        assert help in (found.help or ""), found.help


def test_a_dtype_refusal_names_the_declared_dtype_of_its_producer():
    text = _spec("return tokens -> Linear(6, 2)", "input tokens: [N, 6] int64")
    found = archspec.check_text(text).diagnostics[0]
    assert [label.message for label in found.labels if not label.primary] == [
        "declared as [N, 6] int64"
    ]


def test_dtype_names_are_values_a_name_may_shadow():
    text = _spec("y = x\nint64 = 2\nreturn y * int64", "input x: [N, 6]")
    assert archspec.check_text(text).diagnostics == []


def test_a_dtype_is_a_token_only_after_a_shape():
    text = _spec("y = x\nbool = y\nreturn bool -> to(int64)", "input x: [N, 6]")
    assert archspec.check_text(text).diagnostics == []
    # Right after an input's shape a dtype name is the input's dtype, not the next statement.
    text = _spec("bool = x\nreturn bool", "input x: [N, 6]")
    assert archspec.check_text(text).diagnostics[0].code == "E001"
    unknown = _spec("return x", "input x: [N, 6] int8")
    assert archspec.check_text(unknown).diagnostics[0].code == "E001"


# ---------------------------------------------------------------- formatting


def test_fmt_writes_dtypes_after_shapes():
    text = (
        "model M {\n    input x: [N,4]   int64\n    h : [N, 4]bool=x==1\n"
        "    buffer b: [4]   int32 = 0, persistent=False\n    return h, b\n}\n"
    )
    assert format_text(text) == (
        "model M {\n    input x: [N, 4] int64\n    h: [N, 4] bool = x == 1\n"
        "    buffer b: [4] int32 = 0, persistent=False\n    return h, b\n}\n"
    )


# ---------------------------------------------------------------- the documentation's example


@pytest.mark.torch
def test_the_documented_example_runs_as_torch_does(tmp_path):
    """docs/language.md's "Dtypes" example: no findings, and torch agrees on every shape and
    dtype."""
    pytest.importorskip("torch")
    from conftest import ROOT
    from torch_harness import build_checked, expected, observed

    text = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    example = text.split("\n## Dtypes\n", 1)[1].split("```arch\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "example.arch"
    path.write_text(example, encoding="utf-8")
    assert archspec.check(str(path)).diagnostics == []
    model, checked, filename = build_checked(str(path))
    real, dtypes, _ = observed(model, checked, filename)
    for node_id, shape in real.items():
        assert expected(checked.inference.shapes[node_id]) == shape, node_id
        assert checked.inference.dtype(node_id) == dtypes[node_id], node_id
