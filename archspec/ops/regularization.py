"""Dropout: Dropout, Dropout1d/2d/3d, AlphaDropout and F.dropout (torch.nn.modules.dropout), and
torchvision's StochasticDepth (torchvision.ops.stochastic_depth)."""

from __future__ import annotations

from archspec.core.dims import format_shape
from archspec.ops.base import (
    FOLLOW_MODULE,
    OpSpec,
    Param,
    RuleContext,
    boolean,
    one_of,
    probability,
)
from archspec.ops.registry import register

P = Param("p", 0.5, check=probability)
INPLACE = Param("inplace", False, check=boolean)


def _training(name: str, value):
    """`dropout`'s `training`: left out (FOLLOW_MODULE), the module's train()/eval() decides, as for
    nn.Dropout. Torch's own default is True (always on); an explicit True or False keeps that
    meaning in generated code. A default of its own (not True) also keeps codegen from dropping an
    explicit `training=True` and W008 from calling it redundant."""
    return value if value is FOLLOW_MODULE else boolean(name, value)


def _dropout(name: str, ranks, summary: str) -> OpSpec:
    return OpSpec(
        name=name,
        torch=f"nn.{name}",
        params=(P, INPLACE),
        rule=lambda ctx: ctx.input,
        ranks=ranks,
        summary=summary,
    )


register(_dropout("Dropout", None, "zeroes elements with probability p"))
register(_dropout("AlphaDropout", None, "dropout that keeps SELU's mean and variance"))
register(_dropout("Dropout1d", (2, 3), "zeroes whole channels of [C, L] or [N, C, L]"))
# torch only warns on other ranks (and then drops something else than channels); archspec refuses.
register(_dropout("Dropout2d", (3, 4), "zeroes whole channels of [C, H, W] or [N, C, H, W]"))
register(_dropout("Dropout3d", (4, 5), "zeroes whole channels of [C, D, H, W] or [N, C, D, H, W]"))
register(
    OpSpec(
        name="dropout",
        torch="F.dropout",
        params=(
            Param("input", is_tensor=True),
            P,
            Param("training", FOLLOW_MODULE, check=_training),
            INPLACE,
        ),
        rule=lambda ctx: ctx.input,
        kind="function",
        summary="zeroes elements with probability p",
        # `training` reaches e.args only when the spec wrote it; left out, it follows the module.
        emit=lambda e: (
            "F.dropout("
            + ", ".join(
                [e.tensors["input"]]
                + [f"{k}={v}" for k, v in e.args.items() if k != "training"]
                + [f"training={e.args.get('training', 'self.training')}"]
            )
            + ")"
        ),
    )
)


def _stochastic_depth_rule(ctx: RuleContext):
    # "row" draws one value per sample, of size [input.shape[0], 1, ...]: torch raises on a 0-d
    # input in training (eval mode never looks), archspec refuses in both.
    if ctx["mode"] == "row" and not ctx.input:
        ctx.fail(
            "E206",
            f"StochasticDepth(mode='row') drops whole samples along dim 0, but the input "
            f"{format_shape(ctx.input)} is 0-d",
            arg="mode",
            input=0,
            help="use mode='batch' to drop the whole tensor, or apply it to a batched tensor",
        )
    return ctx.input


# torchvision.ops.StochasticDepth(p, mode): both arguments required. Generated code uses
# torchvision's module itself, so that a training run draws its Bernoulli noise exactly as
# torchvision does (`torch.empty(size).bernoulli_(1 - p)`, the same numbers under one seed).
register(
    OpSpec(
        name="StochasticDepth",
        torch="torchvision.ops.StochasticDepth",
        params=(Param("p", check=probability), Param("mode", check=one_of("batch", "row"))),
        rule=_stochastic_depth_rule,
        summary="zeroes whole samples ('row') or the whole batch ('batch') with probability p",
    )
)
