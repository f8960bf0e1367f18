"""Dropout: Dropout, Dropout1d/2d/3d, AlphaDropout and F.dropout (torch.nn.modules.dropout)."""

from __future__ import annotations

from archspec.ops.base import FOLLOW_MODULE, OpSpec, Param, boolean, probability
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
