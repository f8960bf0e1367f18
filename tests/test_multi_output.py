"""Ops of several outputs (chunk, split, unbind, MultiheadAttention), unpacking (`a, b = ...`),
and the `unflatten` function, against torch.

The generators here also feed tests/test_ops_torch.py's differential test of every op (as
tests/test_tensor_ops.py's do): archspec's shape of each output must be torch's, and it refuses
exactly what torch refuses.
"""

from __future__ import annotations

import textwrap
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch_harness import (  # noqa: E402
    BATCH,
    EXAMPLES,
    Case,
    build_checked,
    docs_example,
    observed_shapes,
    shape_disagreements,
    torch_disagreements,
    write_spec,
)

import archspec  # noqa: E402
from archspec.ops import REGISTRY  # noqa: E402
from archspec.ops.base import OpFailure  # noqa: E402
from archspec.outputs.codegen import generate  # noqa: E402
from archspec.tools.fmt import format_text  # noqa: E402

pytestmark = pytest.mark.torch

# ---------------------------------------------------------------- generators


def _shape(d, lo_rank=1, hi_rank=4, hi=7) -> tuple:
    rank = d(st.integers(lo_rank, hi_rank))
    return (BATCH, *(d(st.integers(1, hi)) for _ in range(rank - 1))) if rank else ()


def _dim(d, rank: int):
    """A dim of a `rank`-d tensor, now and then out of range."""
    return d(st.integers(-max(rank, 1) - 1, max(rank, 1)))


def chunk(d):
    shape = _shape(d, 0)
    return Case({"chunks": d(st.integers(1, 6)), "dim": _dim(d, len(shape))}, [shape])


def split(d):
    shape = _shape(d, 0)
    dim = _dim(d, len(shape))
    size = shape[dim] if -len(shape) <= dim < len(shape) else 4
    if d(st.booleans()):
        sections = d(st.integers(0, 5))  # 0 cuts nothing: torch refuses it for a size > 0
    else:
        sections = d(st.lists(st.integers(0, size), min_size=1, max_size=4))
        if d(st.booleans()):
            sections[-1] = max(size - sum(sections[:-1]), 0)  # the sizes add up (mostly)
    return Case({"split_size_or_sections": sections, "dim": dim}, [shape])


def unbind(d):
    shape = _shape(d, 0)
    return Case({"dim": _dim(d, len(shape))}, [shape])


def unflatten(d):
    shape = _shape(d, 1)
    dim = _dim(d, len(shape))
    total = shape[dim] if -len(shape) <= dim < len(shape) else 6
    first = d(st.sampled_from([1, 2, 3, total, -1]))
    second = -1 if first != -1 and d(st.booleans()) else d(st.integers(1, 4))
    return Case({"dim": dim, "sizes": (first, second)}, [shape])


def multihead_attention(d):
    heads = d(st.integers(1, 4))
    embed = heads * d(st.integers(1, 4)) + (1 if d(st.integers(0, 9)) == 0 else 0)
    args = {
        "embed_dim": embed,
        "num_heads": heads,
        "bias": d(st.booleans()),
        "add_bias_kv": d(st.booleans()),
        "add_zero_attn": d(st.booleans()),
        "kdim": d(st.sampled_from([None, None, 3, 5])),
        "vdim": d(st.sampled_from([None, None, 2, 6])),
        "batch_first": d(st.booleans()),
    }
    kdim = args["kdim"] or embed
    vdim = args["vdim"] or embed
    # Sequence-first inputs keep dim 0 off the batch size, so per-sample MAC checks skip them.
    length, source = d(st.integers(3, 5)), d(st.integers(3, 5))
    if d(st.integers(0, 4)) == 0:  # unbatched
        shapes = [(length, embed), (source, kdim), (source, vdim)]
    elif args["batch_first"]:
        shapes = [(BATCH, length, embed), (BATCH, source, kdim), (BATCH, source, vdim)]
    else:
        shapes = [(length, BATCH, embed), (source, BATCH, kdim), (source, BATCH, vdim)]
    if d(st.integers(0, 5)) == 0:  # a mismatch somewhere: a feature count, a length, a rank
        which, axis = d(st.integers(0, 2)), d(st.integers(0, len(shapes[0]) - 1))
        shapes[which] = tuple(s + 1 if i == axis else s for i, s in enumerate(shapes[which]))
    return Case(args, shapes)


MULTI_GENERATORS = {
    "chunk": chunk,
    "split": split,
    "unbind": unbind,
    "unflatten": unflatten,
    "MultiheadAttention": multihead_attention,
}
# Torch calls the op's `torch` spelling does not name directly, as tests/test_ops_torch.py's.
MULTI_FUNCTIONS = {"unflatten": lambda x, dim, sizes: x.unflatten(dim, sizes)}


def _runners():
    """tests/test_ops_torch.py's runners, imported when a test runs (that module imports this
    one's generators)."""
    import test_ops_torch

    return test_ops_torch


@pytest.mark.parametrize("name", sorted(MULTI_GENERATORS))
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_every_output_matches_torch(name, data):
    runners = _runners()
    op = REGISTRY[name]
    case = MULTI_GENERATORS[name](data.draw)
    try:
        result, refusal = runners.run_archspec(op, case), None
    except (OpFailure, runners.BindError) as error:
        result, refusal = None, error
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            shape, count = runners.run_torch(op, case)
        torch_error = None
    except Exception as error:  # noqa: BLE001 - any torch exception means "torch refuses"
        shape, count, torch_error = None, 0, error
    if refusal is not None:
        assert torch_error is not None, f"archspec refuses {name}{case}, torch gives {shape}"
        return
    assert torch_error is None, f"torch refuses {name}{case} ({torch_error}), archspec agrees"
    assert result.shape == shape, f"{name}{case}: archspec {result.shape}, torch {shape}"
    assert result.params == count


def test_chunk_returns_fewer_than_asked_as_torch_does():
    """torch.chunk(3) of a size 4 cuts pieces of ⌈4/3⌉ = 2: two of them, not three."""
    result = _runners().run_archspec(REGISTRY["chunk"], Case({"chunks": 3, "dim": 1}, [(2, 4)]))
    assert result.shape == ((2, 2), (2, 2))
    assert [tuple(t.shape) for t in torch.zeros(2, 4).chunk(3, dim=1)] == [(2, 2), (2, 2)]


# ---------------------------------------------------------------- in specs, against torch

SPEC = """
model Parts {
    input x: [N, 10, 6, 6]
    a, b, c = x -> chunk(3, dim=1)
    halves = x -> split([4, 6], dim=1)
    rows0, rows1, rows2, rows3, rows4, rows5 = x -> unbind(2)
    tokens = x -> flatten(2) -> transpose(1, 2)
    attn: MultiheadAttention(10, 2, batch_first=True)
    mixed, weights = attn(tokens, tokens, tokens)
    return cat([c, a, b, halves[1]], dim=1), rows0 + rows5, mixed, weights
}
"""


def test_every_node_shape_is_torchs(tmp_path):
    path = write_spec(tmp_path, SPEC)
    model, checked, filename = build_checked(str(path))
    real, _ = observed_shapes(model, checked, filename)
    assert shape_disagreements(checked, real) == []
    chunks = [n for n in checked.graph.nodes() if n.op is not None and n.op.name == "chunk"]
    assert [checked.inference.shapes[n.id][1] for n in chunks] == [4, 4, 2]  # uneven, as torch


def test_generated_code_unpacks_like_torch_code(tmp_path):
    result = archspec.check(str(write_spec(tmp_path, SPEC)))
    source = generate(result)
    assert "a, b, c = x.chunk(3, dim=1)" in source
    assert "halves = x.split([4, 6], dim=1)" in source
    # unrolled, a statement per node: halves[0] is never read
    assert "_, halves = x.split([4, 6], dim=1)" in generate(result, specialize=True)
    assert "mixed, weights = self.attn(tokens, tokens, tokens)" in source
    assert "self.attn = nn.MultiheadAttention(10, 2, batch_first=True)" in source


def test_unused_output_is_an_underscore_and_no_warning(tmp_path):
    spec = """
    model Attend {
        input x: [N, 5, 8]
        attn: MultiheadAttention(8, 4)
        out, _ = attn(x, x, x)
        return out
    }
    """
    result = archspec.check(str(write_spec(tmp_path, spec)))
    assert result.diagnostics == []
    assert "out, _ = self.attn(x, x, x)" in generate(result)


@pytest.mark.parametrize(
    "arguments, shapes",
    [
        ("16, 4, batch_first=True", [(2, 5, 16), (2, 7, 16), (2, 7, 16)]),
        ("16, 4", [(5, 2, 16), (7, 2, 16), (7, 2, 16)]),
        ("16, 2, kdim=6, vdim=3, batch_first=True", [(2, 5, 16), (2, 7, 6), (2, 7, 3)]),
        ("12, 3, bias=False, add_bias_kv=True, add_zero_attn=True", [(4, 2, 12)] * 3),
    ],
)
def test_multihead_attention_equals_torch(tmp_path, arguments, shapes):
    """Outputs and averaged weights equal nn.MultiheadAttention's, with its state_dict loaded
    strictly; the parameter count is torch's."""
    names = ("q", "k", "v")
    inputs = "\n".join(f"input {n}: [{', '.join(map(str, s))}]" for n, s in zip(names, shapes))
    spec = f"""
    model Attend {{
        {inputs}
        attn: MultiheadAttention({arguments})
        out, weights = q -> attn(k, v)
        return out, weights
    }}
    """
    model, checked, filename = build_checked(str(write_spec(tmp_path, textwrap.dedent(spec))))
    reference = nn.Module()
    reference.attn = eval(f"nn.MultiheadAttention({arguments})")  # noqa: S307 - test literals
    model.load_state_dict(reference.state_dict(), strict=True)
    assert checked.parameter_count == sum(p.numel() for p in reference.parameters())
    model.eval(), reference.eval()
    tensors = [torch.randn(*shape) for shape in shapes]
    with torch.no_grad():
        out, weights = model(*tensors)
        expected_out, expected_weights = reference.attn(*tensors)
    torch.testing.assert_close(out, expected_out)
    torch.testing.assert_close(weights, expected_weights)
    real, _ = observed_shapes(model, checked, filename)
    assert shape_disagreements(checked, real) == []


def test_multihead_attention_macs_are_fvcores():
    """Projections as matrix products without bias (L·E² for q and the output, S·kdim·E and
    S·vdim·E for k and v) and the two attention products, L·S·E each."""
    spec = """
    model Attend {
        input q: [N, 5, 16]
        input kv: [N, 7, 6]
        attn: MultiheadAttention(16, 4, kdim=6, vdim=6, batch_first=True)
        out, _ = attn(q, kv, kv)
        return out
    }
    """
    checked = archspec.check_text(textwrap.dedent(spec)).model()
    length, source, embed, kdim = 5, 7, 16, 6
    expected = 2 * length * embed**2 + 2 * source * kdim * embed + 2 * length * source * embed
    assert checked.mac_count == expected


# ---------------------------------------------------------------- errors


def _codes(text: str) -> list[tuple[str, str]]:
    result = archspec.check_text(textwrap.dedent(text))
    return [(d.code, d.message) for d in result.diagnostics]


def _one(text: str):
    (diagnostic,) = archspec.check_text(textwrap.dedent(text)).diagnostics
    return diagnostic


def test_heads_must_divide_embed_dim():
    diagnostic = _one(
        """
        model M {
            input x: [N, 5, 64]
            attn: MultiheadAttention(64, 6)
            out, _ = attn(x, x, x)
            return out
        }
        """
    )
    assert diagnostic.code == "E105"
    assert "64 = 6×10 + 4" in diagnostic.message
    assert diagnostic.primary.span.text == "6"
    assert "num_heads=4 or 8" in diagnostic.help


def test_unpacking_the_wrong_count():
    diagnostic = _one(
        """
        model M {
            input x: [N, 4, 8]
            a, b, c = x -> chunk(2, dim=1)
            return a
        }
        """
    )
    assert diagnostic.code == "E108"
    assert "3 names cannot unpack the 2 tensors chunk() returns" in diagnostic.message
    assert "write 2 names" in diagnostic.help


def test_several_tensors_where_one_belongs():
    diagnostic = _one(
        """
        model M {
            input x: [N, 4, 8]
            parts = x -> chunk(2, dim=1)
            return parts -> relu()
        }
        """
    )
    assert diagnostic.code == "E108"
    assert "unpack it" in diagnostic.help


def test_chunk_giving_fewer_than_the_names():
    diagnostic = _one(
        """
        model M {
            input x: [N, 4, 8]
            a, b, c = x -> chunk(3, dim=1)
            return a + b + c
        }
        """
    )
    assert diagnostic.code == "E105"
    assert "chunk gives 2 tensors here, but the spec takes 3" in diagnostic.message
    assert any("⌈4/3⌉ = 2" in note for note in diagnostic.notes)


def test_unbind_count_only_known_when_unpacked():
    codes = _codes(
        """
        model M {
            input x: [N, 3, 8]
            rows = x -> unbind(1)
            return x
        }
        """
    )
    assert [code for code, _ in codes] == ["E108"]
    assert (
        _codes(
            """
        model M {
            input x: [N, 3, 8]
            a, b = x -> unbind(1)
            return a + b
        }
        """
        )[0][0]
        == "E105"
    )  # 3 rows, 2 names


def test_split_sizes_must_add_up():
    diagnostic = _one(
        """
        model M {
            input x: [N, 5, 8]
            a, b = x -> split([2, 2], dim=1)
            return a
        }
        """
    )
    assert diagnostic.code == "E105"
    assert "add up to 2 + 2 = 4, but dim 1 of [N, 5, 8] is 5" in diagnostic.message


def test_block_returning_two_tensors_unpacks():
    spec = """
    block Halves {
        input x
        a, b = x -> chunk(2, dim=1)
        return a, b
    }

    model M {
        input x: [N, 6, 4]
        left, right = x -> halves: Halves()
        return left * right
    }
    """
    result = archspec.check_text(textwrap.dedent(spec))
    assert result.diagnostics == []
    assert result.model().inference.shapes[result.model().graph.outputs[0]] == (
        result.model().graph.node(result.model().graph.inputs[0]).declared_shape[0],
        3,
        4,
    )


# ---------------------------------------------------------------- formatting


def test_fmt_prints_unpacking_and_round_trips():
    messy = "model M {\n input x: [N, 4]\n a ,b= x->chunk(2, dim=1)\n return a+b\n}\n"
    formatted = format_text(messy)
    assert "    a, b = x -> chunk(2, dim=1)\n" in formatted
    assert format_text(formatted) == formatted


def test_docs_example_checks_clean_and_runs(tmp_path):
    """docs/language.md's "Several outputs" example: no findings, and torch agrees on every
    node's shape."""
    path = write_spec(
        tmp_path, docs_example("Several outputs: chunk, split, unbind, MultiheadAttention")
    )
    assert archspec.check(str(path)).diagnostics == []
    assert torch_disagreements(path) == []


PAIR = """block Pair(c) {
    input a: [N, c, H, W]
    input b: [N, c, H, W]
    return a + b, a - b
}

model M {
    input x: [N, 4, 8, 8]
    stages: ModuleList([Pair(4), Pair(4)])
    a, b = (x, x) -> stages[0] -> stages[1]
    return a * b
}
"""


@pytest.mark.parametrize("specialize", [False, True], ids=["parametrized", "unrolled"])
def test_a_blocks_several_outputs_are_the_next_blocks_inputs(tmp_path, specialize):
    """One tensor passed as both inputs, then a block's two outputs handed to the next block:
    `self.stages[1](*self.stages[0](x, x))`; unrolled, each input its own parameter."""
    torch = pytest.importorskip("torch")
    from archspec.api import _import_source

    result = archspec.check(str(write_spec(tmp_path, PAIR)))
    assert result.ok, result.diagnostics
    source = generate(result, specialize=specialize)
    if not specialize:
        assert "a, b = self.stages[1](*self.stages[0](x, x))" in source
    module = _import_source(source, result.path)
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():  # (x, x) -> (2x, 0) -> (2x, 2x): a * b = 4x²
        torch.testing.assert_close(module.M()(x), 4 * x * x)


def test_a_sequential_hands_one_tensor_from_layer_to_layer(tmp_path):
    """nn.Sequential's forward takes one input: several tensors into its layers cannot run."""
    spec = PAIR.replace(
        "    stages: ModuleList([Pair(4), Pair(4)])\n    a, b = (x, x) -> stages[0] -> stages[1]",
        "    a, b = (x, x) -> stages: Sequential(Pair(4), Pair(4))",
    )
    (finding,) = archspec.check(str(write_spec(tmp_path, spec))).diagnostics
    assert finding.code == "E104"
    assert finding.message == (
        "Sequential stages hands one tensor from layer to layer, as nn.Sequential does; "
        "2 tensors flow into its layer 0"
    )
    assert "ModuleList" in finding.help


def test_only_a_blocks_several_outputs_are_spread(tmp_path):
    """The generator marks the expressions that hold several tensors; many short-lived ones in
    between (a long chain, statements of one stage each) must never be taken for one of them
    (a freed expression's id was once reused: `self.fc(*h)`)."""
    chain = "\n".join(f"    h = h -> fc{i}: Linear(8, 8)" for i in range(300))
    blocks = PAIR.split("model M")[0].replace("[N, c, H, W]", "[N, c]")
    spec = blocks + (
        "model M {\n    input x: [N, 8]\n    stages: ModuleList([Pair(8), Pair(8)])\n"
        f"    a, b = (x, x) -> stages[0] -> stages[1]\n    h = a * b\n{chain}\n    return h\n}}\n"
    )
    result = archspec.check(str(write_spec(tmp_path, spec)))
    assert result.ok, result.diagnostics
    source = generate(result)
    assert source.count("(*") == 1, [line for line in source.splitlines() if "(*" in line]
