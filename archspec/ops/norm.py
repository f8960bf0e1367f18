"""Normalization: BatchNorm1d/2d/3d, GroupNorm, LayerNorm, LocalResponseNorm, InstanceNorm1d/2d
(torch.nn.modules.batchnorm, normalization, instancenorm), and two of torchvision's:
FrozenBatchNorm2d (torchvision.ops.misc) and LayerNorm2d (torchvision.models.convnext)."""

from __future__ import annotations

from archspec.core.dims import Sym, format_shape, product
from archspec.ops.base import (
    ArgError,
    OpFailure,
    OpSpec,
    Param,
    RuleContext,
    boolean,
    number,
    optional,
    positive_int,
    positive_number,
    show_value,
)
from archspec.ops.common import (
    SPATIAL_NAMES,
    channel_dim,
    layout_of,
    spatial_dims,
    values_per_sample,
)
from archspec.ops.linear import last_dim
from archspec.ops.registry import register


def _affine_weights(features: str, affine: str = "affine"):
    """weight and bias, one per normalized element (`features` names the argument that says how
    many), where `affine` is true; running statistics are buffers."""

    def weights(args) -> dict[str, tuple[int, ...]]:
        if not args[affine]:
            return {}
        shape = args[features] if isinstance(args[features], tuple) else (args[features],)
        return {"weight": shape, "bias": shape} if args["bias"] else {"weight": shape}

    return weights


def _normalised_values(batched_rank: int = 2):
    """MACs of a normalisation: one per output value, the x·a + b it comes down to at inference
    (BatchNorm folds its running statistics into a and b; the mean and variance LayerNorm,
    GroupNorm and InstanceNorm compute at run time are reductions, not multiply-adds)."""
    return lambda args, inputs, output: values_per_sample(output, batched_rank)


def _channels_at_least_2d(op_name: str):
    """Reads dim 1, refusing inputs without one (infer runs before the op's own rank checks)."""

    def read(shape):
        if len(shape) < 2:
            raise OpFailure(
                "E206",
                f"{op_name} expects an input with a channel dim (at least 2-d), "
                f"got {len(shape)}-d {format_shape(shape)}",
                input=0,
            )
        return shape[1]

    return read


# ---------------------------------------------------------------- BatchNorm


def _batch_norm(spatial: int) -> OpSpec:
    return OpSpec(
        name=f"BatchNorm{spatial}d",
        torch=f"nn.BatchNorm{spatial}d",
        params=(
            Param("num_features", check=positive_int, infer=lambda s: s[1], mismatch="E201"),
            # F.batch_norm refuses eps <= 0 in training.
            Param("eps", 1e-5, check=positive_number),
            Param("momentum", 0.1, check=optional(number)),
            Param("affine", True, check=boolean),
            Param("track_running_stats", True, check=boolean),
            Param("bias", True, check=boolean, keyword_only=True),
        ),
        # A single value per channel (lint W004) is left to the lint pass.
        rule=lambda ctx: ctx.input,
        # BatchNorm1d takes [N, C] or [N, C, L]; 2d and 3d have no unbatched form.
        ranks=(2, 3) if spatial == 1 else (spatial + 2,),
        weights=_affine_weights("num_features"),
        count_macs=_normalised_values(),
        summary=f"batch normalization over {'[N, C] or [N, C, L]' if spatial == 1 else 'channels'}",
    )


# ---------------------------------------------------------------- FrozenBatchNorm2d


def _frozen_batch_norm() -> OpSpec:
    """torchvision.ops.misc.FrozenBatchNorm2d: BatchNorm2d's eval-mode arithmetic with weight, bias
    and the running statistics all registered as buffers, so it has no trainable parameters (the
    count is 0, as `parameters()` says; summary counts no buffers, BatchNorm's running statistics
    included). Its forward broadcasts [1, C, 1, 1] against the input, which torch would let
    through for other ranks with a meaningless result; archspec takes [N, C, H, W] only."""
    return OpSpec(
        name="FrozenBatchNorm2d",
        torch="torchvision.ops.misc.FrozenBatchNorm2d",
        params=(
            Param("num_features", check=positive_int, infer=lambda s: s[1], mismatch="E201"),
            Param("eps", 1e-5, check=number),  # never refused: eps=0 divides by the variance
        ),
        rule=lambda ctx: ctx.input,
        ranks=(4,),
        count_macs=_normalised_values(),
        summary="batch normalization with frozen statistics and affine (buffers, no parameters)",
    )


# ---------------------------------------------------------------- GroupNorm


def _group_norm_validate(ctx: RuleContext) -> None:
    groups, channels = ctx["num_groups"], ctx["num_channels"]  # a number (see `evaluate`)
    if channels % groups:
        divisors = [g for g in range(1, channels + 1) if channels % g == 0]
        ctx.fail(
            "E105",
            f"num_channels={channels} is not divisible by num_groups={groups}",
            arg="num_groups",
            help=f"choose num_groups among {', '.join(map(str, divisors))}",
        )


def _group_norm_rule(ctx: RuleContext):
    # F.group_norm raises (in eval mode too) when a group holds a single value.
    batch, per_group = ctx.input[0], ctx.input[1] // ctx["num_groups"]
    if not isinstance(batch, Sym) and batch * per_group * product(ctx.input[2:]) == 1:
        ctx.fail(
            "E203",
            f"GroupNorm normalizes each group over 1 value on {format_shape(ctx.input)}",
            arg="num_groups",
            input=0,
            help="use fewer groups, or normalize a larger tensor",
        )
    return ctx.input


def _group_norm() -> OpSpec:
    return OpSpec(
        name="GroupNorm",
        torch="nn.GroupNorm",
        params=(
            Param("num_groups", check=positive_int),
            Param(
                "num_channels",
                check=positive_int,
                infer=_channels_at_least_2d("GroupNorm"),
                mismatch="E201",
            ),
            Param("eps", 1e-5, check=number),
            Param("affine", True, check=boolean),
            Param("bias", True, check=boolean, keyword_only=True),
        ),
        rule=_group_norm_rule,
        validate=_group_norm_validate,
        weights=_affine_weights("num_channels"),
        count_macs=_normalised_values(),
        summary="group normalization over channel groups",
    )


# ---------------------------------------------------------------- LayerNorm


def _normalized_shape(name: str, value):
    """An int (the last dim) or a tuple of trailing dims; an int stays an int so that `?` and
    the E202 comparison work on it."""
    if isinstance(value, (tuple, list)):
        if not value:
            raise ArgError(f"{name} must not be empty")
        return tuple(positive_int(name, v) for v in value)
    return positive_int(name, value)


def _layer_norm_rule(ctx: RuleContext):
    wanted = ctx["normalized_shape"]
    wanted = wanted if isinstance(wanted, tuple) else (wanted,)
    rank = len(ctx.input)
    if rank < len(wanted):
        ctx.fail(
            "E206",
            f"LayerNorm normalizes the last {len(wanted)} dims, but the input "
            f"{format_shape(ctx.input)} has {rank}",
            arg="normalized_shape",
            input=0,
        )
    trailing = tuple(ctx.input[rank - len(wanted) :])
    if trailing != wanted:
        ctx.fail(
            "E202",
            f"LayerNorm expects trailing dims {format_shape(wanted)}, but the input "
            f"{format_shape(ctx.input)} ends in {format_shape(trailing)}",
            arg="normalized_shape",
            input=0,
            help=f"set normalized_shape={show_value(trailing)}",
        )
    return ctx.input


def _layer_norm() -> OpSpec:
    return OpSpec(
        name="LayerNorm",
        torch="nn.LayerNorm",
        params=(
            Param(
                "normalized_shape",
                check=_normalized_shape,
                infer=last_dim("LayerNorm"),
                mismatch="E202",
            ),
            Param("eps", 1e-5, check=number),
            Param("elementwise_affine", True, check=boolean),
            Param("bias", True, check=boolean),
        ),
        rule=_layer_norm_rule,
        weights=_affine_weights("normalized_shape", affine="elementwise_affine"),
        count_macs=_normalised_values(),
        summary="layer normalization over the trailing dims",
    )


def _layer_norm_2d() -> OpSpec:
    """torchvision.models.convnext.LayerNorm2d: an nn.LayerNorm over the channels of an NCHW map
    (its forward permutes to NHWC, normalizes the last dim and permutes back), so weight and bias
    hold one value per channel. The signature is nn.LayerNorm's; ConvNeXt builds it with
    eps=1e-6. normalized_shape is the channel count, a single int (torch would also take a
    1-tuple)."""
    return OpSpec(
        name="LayerNorm2d",
        torch="torchvision.models.convnext.LayerNorm2d",
        params=(
            Param("normalized_shape", check=positive_int, infer=lambda s: s[1], mismatch="E201"),
            Param("eps", 1e-5, check=number),
            Param("elementwise_affine", True, check=boolean),
            Param("bias", True, check=boolean),
        ),
        rule=lambda ctx: ctx.input,
        ranks=(4,),  # the permute(0, 2, 3, 1) needs exactly [N, C, H, W]
        weights=_affine_weights("normalized_shape", affine="elementwise_affine"),
        count_macs=_normalised_values(),
        summary="layer normalization over the channels of [N, C, H, W] (ConvNeXt's)",
    )


# ---------------------------------------------------------------- LocalResponseNorm


def _local_response_rule(ctx: RuleContext):
    if len(ctx.input) < 3:
        ctx.fail(
            "E206",
            f"LocalResponseNorm expects a 3-d or higher input, got {len(ctx.input)}-d "
            f"{format_shape(ctx.input)}",
            input=0,
        )
    return ctx.input


def _local_response_norm() -> OpSpec:
    return OpSpec(
        name="LocalResponseNorm",
        torch="nn.LocalResponseNorm",
        params=(
            Param("size", check=positive_int),
            Param("alpha", 1e-4, check=number),
            Param("beta", 0.75, check=number),
            Param("k", 1.0, check=number),
        ),
        rule=_local_response_rule,
        count_macs=_normalised_values(),
        summary="local response normalization across neighbouring channels",
    )


# ---------------------------------------------------------------- InstanceNorm


def _instance_norm_rule(spatial: int):
    def rule(ctx: RuleContext):
        sizes = spatial_dims(ctx, spatial)
        # F.instance_norm raises on a single spatial value when it uses the input's statistics.
        if product(sizes) == 1:
            names = "×".join(SPATIAL_NAMES[spatial])
            ctx.fail(
                "E203",
                f"{ctx.op.name} normalizes each channel over its {names} values, but the input "
                f"{format_shape(ctx.input)} has only 1",
                input=0,
                help=f"apply it before the {layout_of(ctx.input).extent} reaches 1, or use "
                "BatchNorm or LayerNorm",
            )
        return ctx.input

    return rule


def _instance_norm(spatial: int) -> OpSpec:
    return OpSpec(
        name=f"InstanceNorm{spatial}d",
        torch=f"nn.InstanceNorm{spatial}d",
        params=(
            Param(
                "num_features",
                check=positive_int,
                infer=channel_dim(spatial),
                mismatch="E201",
            ),
            Param("eps", 1e-5, check=number),
            Param("momentum", 0.1, check=optional(number)),
            Param("affine", False, check=boolean),
            Param("track_running_stats", False, check=boolean),
            Param("bias", True, check=boolean, keyword_only=True),
        ),
        rule=_instance_norm_rule(spatial),
        ranks=(spatial + 1, spatial + 2),
        weights=_affine_weights("num_features"),
        count_macs=_normalised_values(batched_rank=spatial + 2),
        summary=f"instance normalization per sample and channel ({spatial}-d)",
    )


for _spatial in (1, 2, 3):
    register(_batch_norm(_spatial))
for _spatial in (1, 2):
    register(_instance_norm(_spatial))
register(_frozen_batch_norm())
register(_group_norm())
register(_layer_norm())
register(_layer_norm_2d())
register(_local_response_norm())
