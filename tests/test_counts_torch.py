"""The counts `summary` prints, against real torch modules.

MACs follow one convention (docs/language.md, "What summary counts"): one multiply-add counts
once; a weight counts once per position it is applied at, a bias once per output value, a
normalisation or PReLU once per output value, everything else nothing. The reference here does not
reuse archspec's formulas: the weights' multiply-adds come from torch's own FlopCounterMode (two
FLOPs per multiply-add), the rest from forward hooks reading the real output tensors.

Every registered op is drawn with test_ops_torch's generators; whole shipped models compare their
MAC totals and activation memory with what torch runs.
"""

from __future__ import annotations

import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
from conftest import model_specs  # noqa: E402
from test_ops_torch import (  # noqa: E402
    BATCH,
    EXAMPLES,
    GENERATORS,
    make_inputs,
    run_archspec,
    torch_layer,
    torch_output,
)
from torch import nn  # noqa: E402
from torch.nn.attention import SDPBackend, sdpa_kernel  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

import archspec  # noqa: E402
from archspec.ops import REGISTRY  # noqa: E402
from archspec.ops.apply import BindError  # noqa: E402
from archspec.ops.base import OpFailure  # noqa: E402

pytestmark = pytest.mark.torch

# Shipped specs whose inputs are [L, N, E]: their MACs count per sample of N (docs/language.md,
# "What summary counts"), where the whole-model test takes dim 0 as the batch.
# tests/test_transformer_layers.py compares specs/sequence/transformer.arch with torch itself.
SEQUENCE_FIRST = {"specs/sequence/transformer.arch"}

NORMS = (
    nn.modules.batchnorm._BatchNorm,
    nn.modules.instancenorm._InstanceNorm,
    nn.GroupNorm,
    nn.LayerNorm,
    nn.LocalResponseNorm,
    nn.PReLU,  # not a norm, but counted the same way: one multiply per output value
)


def _is_norm(module: nn.Module) -> bool:
    # torchvision's FrozenBatchNorm2d (element-wise x·a + b on buffers) is named, not imported:
    # these tests run without torchvision too.
    return isinstance(module, NORMS) or type(module).__name__ == "FrozenBatchNorm2d"


def _hook_macs(module: nn.Module, inputs, output) -> int:
    """What FlopCounterMode leaves out, for the whole batch: biases (a recurrent layer's too),
    Bilinear's weights (its aten::_trilinear has no FLOP formula in torch), normalisations and
    PReLU."""
    if _is_norm(module):
        return output.numel()
    macs = 0
    if isinstance(module, nn.Bilinear):
        macs += output.numel() // module.out_features * module.weight.numel()
    if isinstance(module, (nn.modules.conv._ConvNd, nn.Linear, nn.Bilinear)):
        macs += output.numel() if module.bias is not None else 0
    if isinstance(module, nn.RNNBase):  # each gate bias once per time step and sample
        steps = output[0].shape[:-1].numel()
        macs += steps * sum(p.numel() for n, p in module.named_parameters() if "bias" in n)
    return macs


def torch_macs(model: nn.Module, run) -> int:
    """Multiply-adds of `run()` over the whole batch: torch's FLOP counter halved, plus the
    forward hooks' share from every leaf module."""
    extra = []
    handles = [
        module.register_forward_hook(lambda m, i, o: extra.append(_hook_macs(m, i, o)))
        for module in model.modules()
        if not list(module.children())
    ]
    try:
        # oneDNN's LSTM kernel is invisible to the counter: torch's own implementation is not.
        # So is the CPU's fused scaled_dot_product_attention (MultiheadAttention with
        # need_weights=False, inside the Transformer layers); its math backend's bmm are not.
        with warnings.catch_warnings(), torch.backends.mkldnn.flags(enabled=False), \
                FlopCounterMode(display=False) as counter:  # fmt: skip
            warnings.simplefilter("ignore")
            with sdpa_kernel(SDPBackend.MATH):
                run()
    finally:
        for handle in handles:
            handle.remove()
    flops = counter.get_total_flops()
    assert flops % 2 == 0
    return flops // 2 + sum(extra)


# ---------------------------------------------------------------- every op


def _batched(op, case) -> bool:
    """Dim 0 of every input is the batch: per-sample counts times BATCH are the total. (Not so
    for a Transformer whose custom decoder's layers have the other batch_first: they read the
    batch as time, and no per-sample count describes that; its shapes are still compared.)"""
    decoder = case.args.get("custom_decoder") if op.name == "Transformer" else None
    if decoder is not None:
        inner = dict(dict(decoder.items)["decoder_layer"].items)
        if inner["batch_first"] != case.args.get("batch_first", False):
            return False
    top = max(op.ranks) if op.ranks else 2
    return all(len(shape) >= top and shape[0] == BATCH for shape in case.inputs)


@pytest.mark.parametrize("name", sorted(REGISTRY))
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_op_macs_match_torch(name, data):
    """Inputs in the case's dtypes (int64 ids, bool masks); a function (creation, comparisons,
    conversions: no weights) is run under the FLOP counter too, and must count what torch does:
    0, bar the matrix products. An op with no tensor input (arange, zeros) counts as batched."""
    op = REGISTRY[name]
    case = GENERATORS[name](data.draw)
    if not _batched(op, case) and (op.kind == "layer" or op.count_macs):
        return  # per-sample counts times BATCH are the total only of batched inputs
    try:
        result = run_archspec(op, case)
    except (OpFailure, BindError):
        return
    if op.kind == "layer":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = torch_layer(op, case.args)
        tensors = make_inputs(case, fill=torch.randn)
        run, model = (lambda: module(*tensors)), module
    else:
        run, model = (lambda: torch_output(op, case)), nn.Module()
    try:
        total = torch_macs(model, run)
    except Exception:  # noqa: BLE001 - where torch refuses, test_ops_torch judges the refusal
        return
    assert result.macs * BATCH == total, (
        f"{name}{case}: archspec {result.macs}/sample, torch {total}"
    )


def test_functions_count_no_macs():
    """Only the matrix products (tests/test_tensor_ops.py checks their counts) and attention's
    two multiply-add."""
    counting = [n for n, op in REGISTRY.items() if op.kind == "function" and op.count_macs]
    assert counting == ["scaled_dot_product_attention", "matmul", "bmm"]


def test_transposed_conv_counts_input_positions():
    """The issue's case: a 1×1 → 4×4 ConvTranspose2d does 100·512·16 multiply-adds, not 16×."""
    source = (
        "model G {\n input z: [N, 100, 1, 1]\n"
        " y = z -> ConvTranspose2d(100, 512, 4, bias=False)\n return y\n}\n"
    )
    checked = archspec.check_text(source).model()
    assert checked.mac_count == 100 * 512 * 16 == 819_200


def test_dcgan_generator_macs():
    """DCGAN's generator (nz=100, ngf=64): 104,628,224 multiply-adds in its transposed convs
    (plus one per BatchNorm output value), where output positions × parameters said 428 M."""
    source = """model G {
    input z: [N, 100, 1, 1]
    y = z -> ConvTranspose2d(100, 512, 4, 1, 0, bias=False) -> BatchNorm2d(512) -> ReLU()
          -> ConvTranspose2d(512, 256, 4, 2, 1, bias=False) -> BatchNorm2d(256) -> ReLU()
          -> ConvTranspose2d(256, 128, 4, 2, 1, bias=False) -> BatchNorm2d(128) -> ReLU()
          -> ConvTranspose2d(128, 64, 4, 2, 1, bias=False) -> BatchNorm2d(64) -> ReLU()
          -> ConvTranspose2d(64, 3, 4, 2, 1, bias=False) -> Tanh()
    return y
}
"""
    checked = archspec.check_text(source).model()
    norms = 512 * 4 * 4 + 256 * 8 * 8 + 128 * 16 * 16 + 64 * 32 * 32
    assert checked.mac_count == 104_628_224 + norms
    model = archspec.build(source)
    z = torch.randn(2, 100, 1, 1)
    model.eval()
    assert torch_macs(model, lambda: model(z)) == 2 * checked.mac_count


# ---------------------------------------------------------------- whole models


@pytest.mark.parametrize("path", model_specs())
def test_model_macs_and_activations_match_torch(path):
    from torch_harness import (
        build_checked,
        concrete,
        observed_shapes,
        random_input,
        smallest_sizes,
    )

    if path in SEQUENCE_FIRST:
        pytest.skip("sequence first: MACs count per sample of N, dim 1 (tests of its own)")
    model, checked, filename = build_checked(path)
    if checked.summary().unknown_macs:  # examples/se_net.arch: externs that declare none
        pytest.skip("externs without declared MACs: archspec's total is the known part")
    sizes = smallest_sizes(checked)
    summary = checked.summary(batch=BATCH, sizes=sizes or None)
    real, _ = observed_shapes(model, checked, filename, batch=BATCH, sizes=sizes)
    # (an output torch gives as None, MultiheadAttention's weights with need_weights=False: none)
    values = sum(torch.Size(shape).numel() for shape in real.values() if shape is not None)
    assert summary.activation_bytes == 4 * values
    inputs = [
        random_input(concrete(node.declared_shape, BATCH, sizes), node.declared_dtype)
        for node in map(checked.graph.node, checked.graph.inputs)
    ]
    model.eval()
    # MultiheadAttention's eval fast path is one fused kernel that the FLOP counter does not see.
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad():
            total = torch_macs(model, lambda: model(*inputs))
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    samples = inputs[0].shape[0]  # BATCH, or the batch the spec fixes ([1, 1, 28, 28])
    assert summary.total_macs * samples == total


# ---------------------------------------------------------------- dropout(training=...)


DROPOUTS = """model D {
    input x: [N, 4096]
    always = x -> dropout(0.5, training=True)
    follows = x -> dropout(0.5)
    never = x -> dropout(0.5, training=False)
    return always, follows, never
}
"""


def test_explicit_training_true_still_drops_in_eval_mode():
    model = archspec.build(DROPOUTS)
    x = torch.ones(2, 4096)
    model.eval()
    always, follows, never = model(x)
    assert (always == 0).any()  # the spec said always: eval() does not turn it off
    assert torch.equal(follows, x) and torch.equal(never, x)
    model.train()
    always, follows, never = model(x)
    assert (always == 0).any() and (follows == 0).any() and torch.equal(never, x)


def test_explicit_training_is_written_as_given():
    source = archspec.compile_source(DROPOUTS)
    assert "F.dropout(x, training=True)" in source
    assert "F.dropout(x, training=self.training)" in source
    assert "F.dropout(x, training=False)" in source
