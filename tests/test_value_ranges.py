"""Value ranges of integer and bool tensors (archspec/ops/value_ranges.py) against torch.

Each source and each op that carries a range is run in torch through generated code: every value
torch computes lies in archspec's range, and the range is tight (torch reaches both ends) for
the chains built from one arange. The checks built on ranges (an Embedding's ids, `table[index]`)
refuse exactly where torch raises IndexError. Then the symbolic side: `archspec sizes` of the
GPT spec with a free sequence length stops at the position table, and Swin's relative position
index is known and within its table.
"""

from __future__ import annotations

import re
import textwrap

import pytest

torch = pytest.importorskip("torch")
from conftest import ROOT  # noqa: E402
from torch_harness import build_checked, write_spec  # noqa: E402

import archspec  # noqa: E402
from archspec.cli import main  # noqa: E402
from archspec.core.dims import Sizing, Sym  # noqa: E402
from archspec.ops import REGISTRY  # noqa: E402
from archspec.ops.apply import bind, evaluate  # noqa: E402
from archspec.ops.base import OpFailure  # noqa: E402
from archspec.ops.value_ranges import (  # noqa: E402
    ValueRange,
    largest_size,
    number_range,
    scaled,
    union,
)

pytestmark = pytest.mark.torch

L = Sym.named("L")

# (expression, tight): tight where torch's values reach both bounds. A sum, or arithmetic on two
# tensors whose values go together (arange(5) - arange(5) is all 0), is only contained.
CASES = [
    # sources
    ("arange(7)", True),
    ("arange(2, 11, 3)", True),
    ("arange(10, 0, -3)", True),
    ("arange(-4, 4)", True),
    ("arange(0, 5, 2)", True),
    ("zeros(3, dtype=int64)", True),
    ("ones(2, 2, dtype=int32)", True),
    ("full((2, 3), 5)", True),
    ("full((2,), -2)", True),
    ("full((2,), True)", True),
    ("full((2,), 5, dtype=bool)", False),  # a bool of a wider range is 0..1
    ("arange(5) < 3", True),
    ("arange(5) != -1", False),  # all True: a comparison is 0..1
    # moving data
    ("arange(12) -> view(3, 4)", True),
    ("arange(12) -> reshape(2, -1) -> transpose(0, 1)", True),
    ("arange(12) -> view(2, 2, 3) -> permute(2, 0, 1) -> contiguous() -> flatten()", True),
    ("arange(12) -> unflatten(0, (3, 4)) -> flatten(1)", True),
    ("arange(6) -> unsqueeze(0) -> expand(4, 6) -> clone()", True),
    ("arange(6)[None, :, None] -> squeeze()", True),
    ("arange(6)[1:4]", False),  # a slice picks some of the values: contained
    ("arange(6) -> roll(2)", True),
    ("arange(12) -> view(1, 12) -> Flatten()", True),
    ("arange(12) -> view(2, 6) -> Unflatten(1, (2, 3)) -> Permute([2, 0, 1])", True),
    ("arange(10)[arange(3) * 2]", False),  # rows of the table: contained in its values
    ("cat([arange(3), arange(10, 12)])", True),
    ("stack([arange(3), arange(3) * 4])", True),
    ("stack(meshgrid(arange(3), arange(2, 6), indexing='ij'))", True),
    ("arange(5) -> long()", True),
    ("arange(5) -> int()", True),
    ("arange(5) -> to(int64)", True),
    ("arange(5) -> bool()", True),
    ("arange(3, 5) -> bool() -> long()", False),  # all True
    # arithmetic
    ("arange(5) + 3", True),
    ("3 - arange(5)", True),
    ("arange(5) - 1", True),
    ("arange(5) * -2", True),
    ("4 * arange(5)", True),
    ("-arange(5)", True),
    ("arange(4)[:, None] - arange(4)[None, :]", True),
    ("(arange(3)[:, None] + 1) * 5 + arange(5)[None, :]", True),
    ("arange(5) - arange(5)", False),
    ("arange(4) -> view(2, 2) -> sum(1)", False),
    ("arange(3) -> sum()", False),
    ("(arange(5) < 2) -> sum()", False),
]


def _spec(expressions: list[str]) -> str:
    lines = [f"    v{index} = {text}" for index, text in enumerate(expressions)]
    returned = ", ".join(f"v{index}" for index in range(len(expressions)))
    body = "\n".join(lines)
    return f"model Values {{\n    input x: [N, 1]\n{body}\n    return x, {returned}\n}}\n"


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """(archspec's range of each case, torch's values of each case), from one built model."""
    path = tmp_path_factory.mktemp("values") / "spec.arch"
    path.write_text(_spec([text for text, _ in CASES]), encoding="utf-8")
    model, checked, _ = build_checked(str(path))
    ranges = [checked.inference.ranges.get(node) for node in checked.graph.outputs[1:]]
    return ranges, model(torch.zeros(2, 1))[1:]


@pytest.mark.parametrize("index", range(len(CASES)), ids=[text for text, _ in CASES])
def test_range_holds_every_value_torch_computes(ran, index):
    ranges, outputs = ran
    text, tight = CASES[index]
    known, values = ranges[index], outputs[index].long()
    assert known is not None, f"{text}: no range"
    assert type(known.low) is int and type(known.high) is int
    low, high = int(values.min()), int(values.max())
    assert known.low <= low and high <= known.high, f"{text}: {known.text()} vs torch {low}..{high}"
    if tight:
        assert (known.low, known.high) == (low, high), f"{text}: {known.text()} vs {low}..{high}"


# ---------------------------------------------------------------- the checks, against torch


def _torch_raises(make) -> bool:
    try:
        make()
    except IndexError:
        return True
    return False


def _check(text: str):
    return archspec.check_text(textwrap.dedent(text))


def _refused(text: str) -> list[str]:
    """The error codes of checking `text`."""
    return [d.code for d in _check(text).diagnostics if d.severity == "error"]


GRID = [(count, shift, rows) for count in (1, 2, 3, 5, 6) for shift in (-4, -2, -1, 0, 1, 3)
        for rows in (3, 5)]  # fmt: skip


@pytest.mark.parametrize(("count", "shift", "rows"), GRID)
def test_embedding_refuses_exactly_the_ids_torch_refuses(count, shift, rows):
    codes = _refused(f"""
        model M {{
            input x: [N, 1]
            e: Embedding({rows}, 2)
            return x, (arange({count}) + {shift}) -> e
        }}
    """)
    table = torch.nn.Embedding(rows, 2)
    raises = _torch_raises(lambda: table(torch.arange(count) + shift))
    assert codes == (["E212"] if raises else []), (count, shift, rows)


@pytest.mark.parametrize(("count", "shift", "rows"), GRID)
def test_tensor_index_refuses_exactly_the_indices_torch_refuses(count, shift, rows):
    codes = _refused(f"""
        model M {{
            input x: [N, 1]
            table = arange({2 * rows}) -> view({rows}, 2)
            return x, table[arange({count}) + {shift}]
        }}
    """)
    table = torch.arange(2 * rows).view(rows, 2)
    raises = _torch_raises(lambda: table[torch.arange(count) + shift])
    assert codes == (["E212"] if raises else []), (count, shift, rows)


def test_an_embedding_past_its_table_says_how_many_rows_the_ids_need():
    result = _check("""
        model M {
            input x: [N, 4] int64
            ids = arange(20)
            return x, ids -> Embedding(10, 4)
        }
    """)
    (finding,) = result.diagnostics
    assert finding.message == "Embedding looks up ids 0..19 (arange(20)), but its table has 10 rows"
    assert finding.help == (
        "keep the ids below 10, or give the table a row for each id: Embedding(20, ...)"
    )
    assert [label.message for label in finding.labels if not label.primary] == [
        "produces [20] holding 0..19"
    ]


def test_negative_ids_are_refused_whatever_the_table():
    result = _check("""
        model M {
            input x: [N, 4] int64
            return x, (arange(4) - 1) -> Embedding(100, 4)
        }
    """)
    (finding,) = result.diagnostics
    assert finding.code == "E212"
    assert finding.message == (
        "Embedding looks up ids -1..2 (computed from arange(4)), but an id must not be "
        "negative: the rows are 0..99"
    )


def test_unknown_ids_are_not_checked():
    """A model input's values are unknown: token ids could be anything."""
    result = _check("""
        model M {
            input tokens: [N, 4] int64
            return tokens -> Embedding(10, 4), (tokens * 1000) -> Embedding(10, 4)
        }
    """)
    assert result.diagnostics == []


# ---------------------------------------------------------------- symbolic sizes


def _gpt_with(tmp_path, sizes: str):
    """specs/sequence/gpt.arch with the model's token input given as `[N, {sizes}] int64`."""
    text = (ROOT / "specs" / "sequence" / "gpt.arch").read_text(encoding="utf-8")
    text, count = re.subn(r"input tokens: \[N, [^\]]+\] int64", f"input tokens: [N, {sizes}] int64",
                          text)  # fmt: skip
    assert count == 1
    return write_spec(tmp_path, text)


def test_sizes_of_the_gpt_stop_at_its_position_table(tmp_path, capsys):
    """With a free sequence length L, the position table (64 rows, looked up by arange(L)) is
    what limits L, ahead of the causal mask's broadcast later in the graph."""
    path = _gpt_with(tmp_path, "L")
    assert main(["sizes", str(path)]) == 0
    out = capsys.readouterr().out
    assert "accepts: L: 1 to 64 (64 of 1,024 sizes)" in out
    (rejected,) = [line for line in out.splitlines() if "L = 65" in line]
    assert "Embedding looks up ids 0..64 (arange(65)), but its table has 64 rows" in rejected
    assert "[E212; 960 sizes]" in rejected


def test_a_declared_length_past_the_table_names_the_largest_that_fits(tmp_path):
    result = archspec.check(str(_gpt_with(tmp_path, "L in 65..100")))
    (finding,) = [d for d in result.diagnostics if d.code == "E212"]
    assert finding.message == (
        "Embedding looks up ids 0..L − 1 (arange(L)), but its table has 64 rows"
    )
    assert finding.help == "keep the ids below 64: L ≤ 64, or make the table larger"


def test_swin_relative_position_index_lies_within_its_table():
    """Swin's index of the bias table, built from aranges, meshgrid, stack and arithmetic:
    (Δh + 6)·13 + Δw + 6 for a 7×7 window holds 0..168, and the table has 13² = 169 rows."""
    result = archspec.check(str(ROOT / "specs" / "torchvision" / "swin_t.arch"))
    assert not [d for d in result.diagnostics if d.severity == "error"]
    checked = result.model()
    indices = [n for n in checked.graph.nodes() if n.name == "relative_position_index"]
    tables = [n for n in checked.graph.nodes() if n.name == "relative_position_bias_table"]
    assert len(indices) == len(tables) == 12  # one per block
    for index, table in zip(indices, tables):
        known = checked.inference.ranges[index.id]
        assert (known.low, known.high) == (0, 168)
        assert checked.inference.shapes[table.id][0] == 169


def test_swin_index_matches_torchvision():
    tv = pytest.importorskip("torchvision")
    block = tv.models.swin_t().features[1][0].attn
    index = block.relative_position_index
    assert (int(index.min()), int(index.max())) == (0, 168)


# ---------------------------------------------------------------- the rules one by one


def _values(name: str, positional: list, inputs: list, ranges: list, dtypes=None, **keywords):
    """The output range `name` gives for inputs of these shapes and ranges."""
    op = REGISTRY[name]
    dtypes = dtypes or ["int64"] * len(inputs)
    return evaluate(op, bind(op, positional, keywords), inputs, dtypes=dtypes, ranges=ranges).values


IDS = ValueRange(0, 9, "ids")


def test_unknown_stays_unknown():
    for name, positional in (("neg", ["<t>"]), ("sum", ["<t>"]), ("view", ["<t>", 10])):
        assert _values(name, positional, [(10,)], [None]) is None
    assert _values("add", ["<t>", "<t>"], [(10,), (10,)], [IDS, None]) is None
    assert _values("cat", ["<t>"], [(10,), (10,)], [IDS, None]) is None


def test_mul_needs_an_integer_factor():
    """Two tensors, a float or a size (of unknown sign) as the factor: unknown."""
    assert _values("mul", ["<t>", "<t>"], [(10,), (10,)], [IDS, IDS]) is None
    assert _values("mul", ["<t>", 0.5], [(10,)], [IDS]) is None
    assert _values("mul", ["<t>", L], [(10,)], [IDS]) is None
    assert _values("add", ["<t>", True], [(10,)], [IDS]) is None
    assert _values("mul", [-3, "<t>"], [(10,)], [IDS]) == ValueRange(-27, 0, "computed from ids")


def test_a_symbolic_number_shifts_the_range():
    shifted = _values("sub", ["<t>", L], [(10,)], [IDS])
    assert (shifted.low, shifted.high) == (-L, 9 - L)


def test_sum_counts_the_summed_elements():
    assert _values("sum", ["<t>"], [(2, 3)], [IDS]) == ValueRange(0, 54, "computed from ids")
    summed = _values("sum", ["<t>", (0,)], [(L, 3)], [IDS])
    assert (summed.low, summed.high) == (0, 9 * L)
    assert _values("sum", ["<t>"], [()], [IDS]).high == 9  # a 0-d tensor: itself


def test_union_of_symbolic_bounds_needs_no_guard():
    """Bounds that differ by a number order without a comparison at the hints; others do not
    order at all, and the union is unknown (no guard is recorded either way)."""
    near = union([ValueRange(0, L - 1, "a"), ValueRange(2, L + 3, "b")])
    assert (near.low, near.high, near.origin) == (0, L + 3, "a and b")
    with Sizing({"L": 8}) as sizing:
        assert union([ValueRange(0, L, "a"), ValueRange(0, 5, "b")]) is None
    assert sizing.guards == []


def test_conversions():
    assert _values("bool", ["<t>"], [(3,)], [None], ["float32"]) == ValueRange(0, 1, "a comparison")
    assert _values("int", ["<t>"], [(3,)], [ValueRange(0, 2**31, "big")]) is None
    assert _values("int", ["<t>"], [(3,)], [ValueRange(0, L, "arange(L)")]) is None
    assert _values("int", ["<t>"], [(3,)], [None]) is None
    assert _values("long", ["<t>"], [(3,)], [IDS]) == IDS


def test_float_sources_have_no_range():
    assert _values("arange", [0.5, 3], [], []) is None
    assert _values("full", [(2,), 0.5], [], []) is None
    assert number_range(1.5) is None and number_range(True) is None


def test_meshgrid_gives_each_grid_its_own_input():
    first, second = ValueRange(0, 2, "a"), ValueRange(5, 7, "b")
    assert _values("meshgrid", ["<t>", "<t>"], [(3,), (3,)], [first, second]) == (first, second)


def test_largest_size_reads_one_symbol_of_positive_slope():
    assert largest_size(L - 1, 63) == ("L", 64)
    assert largest_size(2 * L + 1, 64) == ("L", 31)
    assert largest_size(63, 63) is None
    assert largest_size(L * L, 63) is None
    assert largest_size(L + Sym.named("W"), 63) is None
    assert largest_size(5 - L, 63) is None
    assert largest_size(L // 2, 63) is None


def test_scaled_by_a_negative_factor_swaps_the_bounds():
    assert scaled(ValueRange(-1, 4, "x"), -2) == ValueRange(-8, 2, "computed from x")


def test_index_checks_compare_symbolic_bounds_at_the_hints():
    """`table[arange(L)]` of a 64-row table: refused at L = 65, accepted at L = 64, each
    decision a guard of the sizes search."""
    index = ValueRange(0, L - 1, "arange(L)")
    with Sizing({"L": 64}) as sizing:
        _index_table(index)
    assert sizing.guards
    with Sizing({"L": 65}) as sizing, pytest.raises(OpFailure) as raised:
        _index_table(index)
    assert sizing.guards and raised.value.code == "E212"
    assert raised.value.help == "keep the index within -64..63 (L ≤ 64), or index a larger tensor"


def _index_table(index: ValueRange):
    """A [64, 2] table indexed by an [L] index of this range."""
    op = REGISTRY["advanced_index"]
    args = bind(op, ["<t>", "<t>"], {})
    return evaluate(op, args, [(64, 2), (L,)], dtypes=["float32", "int64"], ranges=[None, index])


def test_an_index_below_the_table_names_no_size():
    index = ValueRange(-L, 0, "computed from arange(L)")
    with Sizing({"L": 70}), pytest.raises(OpFailure) as raised:
        _index_table(index)
    assert raised.value.help == "keep the index within -64..63, or index a larger tensor"


def test_a_buffer_holds_its_initial_values_and_a_parameter_its_own():
    result = _check("""
        model M {
            input x: [N, 4]
            buffer index: [4] int64 = arange(4) + 2
            buffer mask: [4] bool = arange(4) < 2
            param table: [6, 4] = zeros()
            return x + table[index], mask
        }
    """)
    checked = result.model()
    ranges = {n.name: checked.inference.ranges.get(n.id) for n in checked.graph.nodes()}
    assert ranges["index"] == ValueRange(2, 5, "computed from arange(4)")
    assert ranges["mask"] == ValueRange(0, 1, "a comparison")
    assert ranges["table"] is None
