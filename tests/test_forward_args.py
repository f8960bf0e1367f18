"""A layer's forward arguments (OpSpec.forward), first MultiheadAttention's: key_padding_mask,
need_weights, attn_mask, average_attn_weights and is_causal, given by keyword where the layer is
called (`attn(q, k, v, attn_mask=mask, need_weights=False)`), against torch.

The registry's rule is compared with nn.MultiheadAttention for drawn arguments, masks of every
shape and dtype among them (the same shapes, or the same refusal); compiled specs run in torch
give the outputs of a reference module called with the same arguments, and every node's shape;
refusals are pinned at their line and column.
"""

from __future__ import annotations

import os
import textwrap
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch_harness import build_checked, observed_shapes, shape_disagreements  # noqa: E402

import archspec  # noqa: E402
from archspec.ops import REGISTRY  # noqa: E402
from archspec.ops.apply import bind, evaluate  # noqa: E402
from archspec.ops.base import ForwardTensor, OpFailure  # noqa: E402
from archspec.outputs.codegen import generate  # noqa: E402
from archspec.tools.fmt import format_text  # noqa: E402

pytestmark = pytest.mark.torch

BATCH = 2
EXAMPLES = int(os.environ.get("ARCHSPEC_TORCH_EXAMPLES", "50"))
ATTENTION = REGISTRY["MultiheadAttention"]
DTYPES = {"bool": torch.bool, "float32": torch.float32, "float64": torch.float64,
          "int64": torch.int64}  # fmt: skip


# ---------------------------------------------------------------- the registry against torch


def _mask_shape(d, shape: tuple) -> tuple:
    """`shape`, or now and then a size off by one, or a dim more or less."""
    roll = d(st.integers(0, 5))
    if roll == 0 and shape:
        axis = d(st.integers(0, len(shape) - 1))
        return tuple(s + 1 if i == axis else s for i, s in enumerate(shape))
    if roll == 1:
        return (*shape, 1) if d(st.booleans()) else shape[1:]
    return shape


def attention_case(d) -> tuple[dict, list, dict, dict]:
    """(constructor arguments, input shapes, plain forward values, masks {name: (shape,
    dtype)})."""
    heads = d(st.integers(1, 3))
    embed = heads * d(st.integers(1, 3))
    args = {
        "embed_dim": embed,
        "num_heads": heads,
        "add_bias_kv": d(st.booleans()),
        "add_zero_attn": d(st.booleans()),
        "batch_first": d(st.booleans()),
    }
    length, source = d(st.integers(2, 4)), d(st.integers(2, 4))
    batched = d(st.integers(0, 3)) > 0
    if not batched:
        shapes = [(length, embed), (source, embed), (source, embed)]
    elif args["batch_first"]:
        shapes = [(BATCH, length, embed), (BATCH, source, embed), (BATCH, source, embed)]
    else:
        shapes = [(length, BATCH, embed), (source, BATCH, embed), (source, BATCH, embed)]
    dtypes = st.sampled_from(["bool", "bool", "float32", "float32", "int64", "float64"])
    masks = {}
    if d(st.booleans()):
        shape = (BATCH, source) if batched else (source,)
        masks["key_padding_mask"] = (_mask_shape(d, shape), d(dtypes))
    if d(st.booleans()):
        stacked = (BATCH * heads if batched else heads, length, source)
        shape = stacked if d(st.booleans()) else (length, source)
        masks["attn_mask"] = (_mask_shape(d, shape), d(dtypes))
    forward = {
        "need_weights": d(st.booleans()),
        "average_attn_weights": d(st.booleans()),
        "is_causal": d(st.integers(0, 4)) == 0,
    }
    return args, shapes, forward, masks


def run_archspec(args, shapes, forward, masks):
    given = dict(forward)
    for index, (name, (shape, dtype)) in enumerate(masks.items(), start=len(shapes)):
        given[name] = ForwardTensor(shape, dtype, index)
    values = bind(ATTENTION, [], args)
    return evaluate(ATTENTION, values, shapes, dtypes=["float32"] * 3, forward=given).shape


def run_torch(args, shapes, forward, masks):
    module = nn.MultiheadAttention(**args)
    tensors = [torch.zeros(shape) for shape in shapes]
    given = {
        name: torch.zeros(shape, dtype=DTYPES[dtype]) for name, (shape, dtype) in masks.items()
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mismatched mask dtypes: a deprecation warning only
        out, weights = module(*tensors, **forward, **given)
    return tuple(out.shape), None if weights is None else tuple(weights.shape)


def _drops_the_mask(forward, masks) -> bool:
    """torch's slow path drops attn_mask unread with is_causal=True, no key_padding_mask and
    need_weights=False (F.multi_head_attention_forward); archspec checks it all the same."""
    return forward["is_causal"] and "key_padding_mask" not in masks and not forward["need_weights"]


@settings(max_examples=EXAMPLES * 4, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_forward_arguments_match_torch(data):
    args, shapes, forward, masks = attention_case(data.draw)
    try:
        result, refusal = run_archspec(args, shapes, forward, masks), None
    except OpFailure as error:
        result, refusal = None, error
    try:
        expected, torch_error = run_torch(args, shapes, forward, masks), None
    except Exception as error:  # noqa: BLE001 - any torch exception means "torch refuses"
        expected, torch_error = None, error
    case = (args, shapes, forward, masks)
    if refusal is not None:
        if torch_error is None and _drops_the_mask(forward, masks):
            assert "attn_mask" in refusal.message  # stricter, and only about the unread mask
            return
        assert torch_error is not None, f"archspec refuses {case} ({refusal.message}), torch not"
        return
    assert torch_error is None, f"torch refuses {case} ({torch_error}), archspec agrees"
    assert result == expected, f"{case}: archspec {result}, torch {expected}"


def test_forward_defaults_and_checks():
    """Forward values default to torch's; a plain one goes through its check (E105 at it)."""
    values = bind(ATTENTION, [8, 2], {})
    shapes = [(5, 2, 8)] * 3
    assert evaluate(ATTENTION, values, shapes).shape == ((5, 2, 8), (2, 5, 5))
    with pytest.raises(OpFailure) as raised:
        evaluate(ATTENTION, values, shapes, forward={"need_weights": 1})
    assert (raised.value.code, raised.value.arg) == ("E105", "need_weights")
    assert "need_weights must be True or False, got 1" in raised.value.message
    assert ATTENTION.forward_param("attn_mask").is_tensor
    assert ATTENTION.forward_param("embed_dim") is None  # a constructor argument


# ---------------------------------------------------------------- compiled specs in torch

# (forward arguments as the spec writes them, mask inputs: name -> (shape, dtype), with L = 5
# query positions, S = 7 key positions, N = 2 and 2 heads)
MASKS = {
    "none": ("", {}),
    "attn-bool": (", attn_mask=mask", {"mask": ("L, S", "bool")}),
    "attn-float": (", attn_mask=mask", {"mask": ("L, S", "float32")}),
    "attn-3d": (", attn_mask=mask", {"mask": ("4, L, S", "bool")}),
    "padding-bool": (", key_padding_mask=pad", {"pad": ("2, S", "bool")}),
    "padding-float": (", key_padding_mask=pad", {"pad": ("2, S", "float32")}),
    "both": (", key_padding_mask=pad, attn_mask=mask",
             {"pad": ("2, S", "bool"), "mask": ("L, S", "bool")}),
}  # fmt: skip
WEIGHTS = {"weights": "", "no-weights": ", need_weights=False", "per-head": (
    ", average_attn_weights=False")}  # fmt: skip


def _write(tmp_path, text: str):
    path = tmp_path / "spec.arch"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _mask_value(dtype: str, shape: tuple) -> torch.Tensor:
    """A mask that blocks some key positions but never a whole row (no NaN to compare)."""
    if dtype == "bool":
        mask = torch.rand(shape) < 0.4
        mask[..., 0] = False
        return mask
    return torch.randn(shape)


def _spec(batch_first: bool, mask: str, weights: str, self_attention: bool = False) -> str:
    keywords, inputs = MASKS[mask]
    length, source = (5, 5) if self_attention else (5, 7)
    layout = "2, {}, 8" if batch_first else "{}, 2, 8"
    declared = [f"input q: [{layout.format(length)}]"]
    if not self_attention:
        declared.append(f"input kv: [{layout.format(source)}]")
    for name, (shape, dtype) in inputs.items():
        shape = shape.replace("L", str(length)).replace("S", str(source))
        declared.append(f"input {name}: [{shape}] {dtype}")
    kv = "q, q" if self_attention else "kv, kv"
    extra = keywords + WEIGHTS[weights]
    returned = "out" if weights == "no-weights" else "out, weights"
    target = "out, _" if weights == "no-weights" else "out, weights"
    lines = "\n    ".join(declared)
    return (
        f"model Attend {{\n    {lines}\n"
        f"    attn: MultiheadAttention(8, 2{', batch_first=True' if batch_first else ''})\n"
        f"    {target} = attn(q, {kv}{extra})\n"
        f"    return {returned}\n}}\n"
    )


def _compare_with_torch(tmp_path, spec: str, keywords: dict, batch_first: bool):
    """The compiled spec's outputs equal a reference module's called with `keywords` (mask
    names -> inputs), and every node's shape is torch's."""
    path = _write(tmp_path, spec)
    result = archspec.check(str(path))
    assert result.diagnostics == [], [d.message for d in result.diagnostics]
    model, checked, filename = build_checked(str(path))
    reference = nn.Module()
    reference.attn = nn.MultiheadAttention(8, 2, batch_first=batch_first)
    model.load_state_dict(reference.state_dict(), strict=True)
    model.eval(), reference.eval()
    torch.manual_seed(1)
    graph = checked.graph
    inputs = {}
    for node_id in graph.inputs:
        node = graph.node(node_id)
        shape = tuple(node.declared_shape)
        inputs[node.name] = _mask_value(node.declared_dtype, shape) if node.name in (
            "mask", "pad") else torch.randn(shape)  # fmt: skip
    with torch.no_grad():
        got = model(*inputs.values())
        q, kv = inputs["q"], inputs.get("kv", inputs["q"])
        given = {
            key: inputs[value] if value in inputs else value for key, value in keywords.items()
        }
        expected = reference.attn(q, kv, kv, **given)
    got = got if isinstance(got, tuple) else (got,)
    expected = expected if given.get("need_weights", True) else expected[:1]
    assert len(got) == len(expected)
    for mine, theirs in zip(got, expected):
        torch.testing.assert_close(mine, theirs)
    real, _ = observed_shapes(model, checked, filename)
    assert shape_disagreements(checked, real) == []
    return checked


def _keywords(mask: str, weights: str) -> dict:
    text = (MASKS[mask][0] + WEIGHTS[weights]).strip(", ")
    found = {}
    for part in filter(None, text.split(", ")):
        key, value = part.split("=")
        found[key] = {"False": False, "True": True}.get(value, value)
    return found


@pytest.mark.parametrize("weights", sorted(WEIGHTS))
@pytest.mark.parametrize("mask", sorted(MASKS))
@pytest.mark.parametrize("batch_first", [True, False], ids=["batch-first", "sequence-first"])
def test_compiled_attention_equals_torch(tmp_path, batch_first, mask, weights):
    spec = _spec(batch_first, mask, weights)
    checked = _compare_with_torch(tmp_path, spec, _keywords(mask, weights), batch_first)
    weights_node = [n for n in checked.graph.nodes() if n.op is not None and n.output == 1]
    assert [n.returns_none for n in weights_node] == [weights == "no-weights"]


def test_is_causal_with_its_mask_equals_torch(tmp_path):
    spec = _spec(True, "attn-bool", "no-weights", self_attention=True).replace(
        "attn_mask=mask", "attn_mask=mask, is_causal=True"
    )
    keywords = {"attn_mask": "mask", "is_causal": True, "need_weights": False}
    _compare_with_torch(tmp_path, spec, keywords, batch_first=True)


def test_generated_call_writes_forward_arguments_in_torchs_order(tmp_path):
    spec = _spec(True, "both", "no-weights").replace(
        "key_padding_mask=pad, attn_mask=mask", "attn_mask=mask, key_padding_mask=pad"
    )
    source = generate(archspec.check(str(_write(tmp_path, spec))))
    assert "out, _ = self.attn(\n" in source
    call = source.split("out, _ = self.attn(", 1)[1].split(")", 1)[0]
    assert [part.strip() for part in call.split(",") if part.strip()] == [
        "q", "kv", "kv", "key_padding_mask=pad", "need_weights=False", "attn_mask=mask",
    ]  # fmt: skip
    assert "# [N, 5, 8], None" in source or "# [2, 5, 8], None" in source


def test_one_layer_applied_with_different_forward_arguments(tmp_path):
    """Forward arguments are no constructor arguments: two applications may differ (no E1xx
    about a layer reused with other arguments), the weights counted once."""
    spec = """
    model Twice {
        input x: [N, 5, 8]
        input mask: [5, 5] bool
        attn: MultiheadAttention(8, 2, batch_first=True)
        a, _ = attn(x, x, x, attn_mask=mask, need_weights=False)
        b, w = attn(x, x, x, average_attn_weights=False, attn_mask=None)
        return a + b, w
    }
    """
    path = _write(tmp_path, spec)
    result = archspec.check(str(path))
    assert result.diagnostics == []
    checked = result.model()
    nodes = [n for n in checked.graph.nodes() if n.module == "attn"]
    assert [n.forward_inputs for n in nodes if n.output == 0] == [("attn_mask",), ()]
    weights = [checked.inference.shapes.get(n.id) for n in nodes if n.output == 1]
    assert weights[0] is None and len(weights[1]) == 4
    assert checked.parameter_count == sum(
        p.numel() for p in nn.MultiheadAttention(8, 2).parameters()
    )
    source = generate(result)
    assert "a, _ = self.attn(x, x, x, need_weights=False, attn_mask=mask)" in source
    assert "b, w = self.attn(x, x, x, average_attn_weights=False)" in source  # None: dropped
    model, checked, filename = build_checked(str(path))
    real, _ = observed_shapes(model, checked, filename)
    assert shape_disagreements(checked, real) == []


def test_mask_is_an_edge_and_fmt_keeps_the_call(tmp_path):
    spec = _spec(True, "attn-bool", "no-weights")
    checked = archspec.check(str(_write(tmp_path, spec))).model()
    (first,) = [n for n in checked.graph.nodes() if n.module == "attn" and n.output == 0]
    assert checked.graph.graph.has_edge("mask", first.id)
    assert first.operands == first.inputs[:3] and first.forward_args == {"need_weights": False}
    assert format_text(spec) == spec


# ---------------------------------------------------------------- refusals at line:col

HEADER = """model M {
    input q: [N, 5, 8]
    input kv: [N, 7, 8]
    input mask: [5, 7] bool
    input tokens: [N, 7] int64
    input row: [7] bool
    attn: MultiheadAttention(8, 2, batch_first=True)
"""
# (the statements, code, line, column, message, help), the statements from line 8
# fmt: off
REFUSALS = [
    ("y, _ = attn(q, kv, kv, attn_mask=tokens)", "E108", 8, 38,
     "attn_mask must be bool or float32 (the query's dtype), got int64", "-> bool()"),
    ("y, _ = attn(q, kv, kv, key_padding_mask=mask)", "E205", 8, 45,
     "key_padding_mask is [5, 7], but must be (N, S) = [N, 7]", "(N, S) = [N, 7]"),
    ("y, _ = attn(q, kv, kv, attn_mask=row)", "E206", 8, 38,
     "attn_mask is 1-d [7], but a batched (3-d) query takes it as (L, S) = [5, 7] or "
     "(N·num_heads, L, S) = [2·N, 5, 7]", "L = 5 from the query"),
    ("y, _ = attn(q, kv, kv, attn_mask=kv)", "E205", 8, 38,
     "attn_mask is [N, 7, 8], but must be (N·num_heads, L, S) = [2·N, 5, 7]", None),
    ("y, _ = attn(q, kv, kv, key_padding_mask=row)", "E206", 8, 45,
     "key_padding_mask is 1-d [7], but a batched (3-d) query takes it as (N, S) = [N, 7]", None),
    ("y, _ = attn(q, q, q, attn_mask=mask)", "E205", 8, 36,
     "attn_mask is [5, 7], but must be (L, S) = [5, 5]", None),
    ("y, _ = attn(q, kv, kv, need_weight=False)", "E104", 8, 28,
     "MultiheadAttention's forward has no argument 'need_weight'", "did you mean 'need_weights'?"),
    ("y, _ = attn(q, kv, kv, batch_first=True)", "E104", 8, 28,
     "'batch_first' is an argument of MultiheadAttention itself, not of its forward",
     "give it where the layer is declared: `attn: MultiheadAttention(..., batch_first=...)`"),
    ("y, w = attn(q, kv, kv, need_weights=False)\n    z = w -> relu()", "E108", 9, 9,
     "MultiheadAttention returns no weights with need_weights=False", "unpack them into `_`"),
    ("y, _ = attn(q, q, q, is_causal=True)", "E105", 8, 36,
     "is_causal=True needs an attn_mask", "attn_mask=mask"),
    ("y, _ = attn(q, kv, kv, need_weights=0)", "E105", 8, 41,
     "need_weights must be True or False, got 0", None),
    ("y, _ = attn(q, kv, kv, attn_mask=5)", "E108", 8, 38,
     "MultiheadAttention's 'attn_mask' must be a tensor or None, got the number 5", None),
    ("y, _ = attn(q, kv, kv, need_weights=q)", "E108", 8, 41,
     "MultiheadAttention's 'need_weights' must be a plain value, not a tensor", None),
]
# fmt: on


@pytest.mark.parametrize(
    ("body", "code", "line", "column", "message", "help"),
    REFUSALS,
    ids=[f"{r[1]}:{r[4][:40]}" for r in REFUSALS],
)
def test_refusals_are_pinned(body, code, line, column, message, help):
    text = HEADER + f"    {body}\n    return q\n}}\n"
    errors = [d for d in archspec.check_text(text).diagnostics if d.code.startswith("E")]
    assert [d.code for d in errors] == [code], [d.message for d in errors]
    found = errors[0]
    assert message in found.message, found.message
    at = found.primary.span
    assert (at.line, at.column) == (line, column), (at.line, at.column, text)
    if help is not None:
        assert help in (found.help or ""), found.help


def test_reading_none_weights_points_at_the_call_too():
    text = HEADER + "    y, w = attn(q, kv, kv, need_weights=False)\n    return y + w\n}\n"
    (found,) = archspec.check_text(text).diagnostics
    assert [label.message for label in found.labels if not label.primary] == [
        "returns None as this output"
    ]


def test_keywords_of_a_block_or_a_layer_without_forward_arguments():
    text = """
    block Halve() {
        input x: [N, 8]
        return x -> Linear(8, 4)
    }
    model M {
        input x: [N, 8]
        halver: Halve()
        a = halver(x, scale=2)
        return a
    }
    """
    (found,) = archspec.check_text(textwrap.dedent(text)).diagnostics
    assert (found.code, found.message) == (
        "E104",
        "'halver' is applied to tensors only; 'scale' is not one",
    )
    text = "model M {\n    input x: [N, 8]\n    lin: Linear(8, 8)\n    return lin(x, mask=x)\n}\n"
    (found,) = archspec.check_text(text).diagnostics
    assert found.message == "'lin' is applied to tensors only; 'mask' is not one"


def test_a_failed_mask_is_reported_once():
    """A mask whose statement failed to elaborate is POISON: its calls say nothing more."""
    text = HEADER + "    m = q -> Linar(8, 4)\n    y, _ = attn(q, kv, kv, attn_mask=m)\n"
    text += "    z, _ = attn(q, kv, kv, need_weights=m)\n    return y, z\n}\n"
    errors = [d.code for d in archspec.check_text(text).diagnostics if d.code.startswith("E")]
    assert errors == ["E101"]


# ---------------------------------------------------------------- the language reference


def test_docs_example_checks_clean_and_runs(tmp_path):
    """docs/language.md's "Forward arguments" example: no findings, the generated call passes
    the arguments, and torch agrees on every node's shape."""
    from conftest import ROOT

    text = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    section = text.split("\n### Forward arguments\n", 1)[1]
    example = section.split("```arch\n", 1)[1].split("```", 1)[0]
    path = _write(tmp_path, example)
    result = archspec.check(str(path))
    assert result.diagnostics == []
    source = " ".join(generate(result).split())
    assert "self.attn( tokens, tokens, tokens, need_weights=False, attn_mask=causal, )" in source
    model, checked, filename = build_checked(str(path))
    real, _ = observed_shapes(model, checked, filename)
    assert shape_disagreements(checked, real) == []


# ---------------------------------------------------------------- other ways to call, outputs


def test_piped_and_module_list_calls_take_forward_arguments(tmp_path):
    spec = """
    model M {
        input q: [N, 5, 8]
        input mask: [5, 5] bool
        attns: ModuleList([MultiheadAttention(8, 2, batch_first=True) for i in range(2)])
        attn: MultiheadAttention(8, 2, batch_first=True)
        y, _ = q -> attn(q, q, need_weights=False, attn_mask=mask)
        for layer in attns {
            y, _ = layer(y, y, y, attn_mask=mask, need_weights=False)
        }
        return y
    }
    """
    path = _write(tmp_path, spec)
    source = generate(archspec.check(str(path)))
    assert "y, _ = self.attn(q, q, q, need_weights=False, attn_mask=mask)" in source
    assert "y, _ = self.attns[1](y, y, y, need_weights=False, attn_mask=mask)" in source
    model, checked, filename = build_checked(str(path))
    real, _ = observed_shapes(model, checked, filename)
    assert shape_disagreements(checked, real) == []
    scripted = torch.jit.script(model.eval())  # TorchScript takes the keywords too
    q, mask = torch.randn(2, 5, 8), torch.triu(torch.ones(5, 5, dtype=torch.bool), diagonal=1)
    with torch.no_grad():
        torch.testing.assert_close(scripted(q, mask), model(q, mask))


def test_summary_and_hover_show_forward_arguments(tmp_path):
    from archspec.tools.lsp import hover_text

    spec = _spec(True, "attn-bool", "no-weights")
    path = _write(tmp_path, spec)
    result = archspec.check(str(path))
    rows = [row for row in result.model().summary().rows if row.type == "MultiheadAttention"]
    assert [row.output_shape for row in rows] == ["[2, 5, 8]", "None"]
    hover = hover_text(result, str(path), spec.index("attn(q") + 1)
    assert (
        "- input: [2, 5, 8], [2, 7, 8], [2, 7, 8], attn_mask: [5, 7], need_weights=False" in hover
    )
    assert "- output: [2, 5, 8], None" in hover
