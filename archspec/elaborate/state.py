"""A module's own tensors: learned parameters (`param`) and buffers (`buffer`).

`param layer_scale: [dim, 1, 1] = 1e-6` declares what torchvision writes as
`self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1) * 1e-6)`; `buffer mask: [L, L] = zeros(),
persistent=False` what it writes as `self.register_buffer("mask", torch.zeros(L, L),
persistent=False)`. The name is the attribute's, so the state_dict key is the module's path and
the name (`features.1.0.layer_scale`). A parameter counts in the parameter totals; a buffer does
not (as BatchNorm's running statistics do not).

The initial value is a number (every element that number), one of INITIALIZERS, each written in
generated code as torch writes it, or a tensor computed when the module is built (TENSOR): an
expression of creation ops (`arange`, `meshgrid`, ...) and tensor ops that reads no input, as
torchvision's Swin builds its `relative_position_index` buffer in `__init__`.
"""

from __future__ import annotations

from typing import Any

from archspec.core.records import record
from archspec.core.source import Span

PARAM = "param"
BUFFER = "buffer"

# Initializer -> its parameters with defaults (None: required), in positional order.
INITIALIZERS: dict[str, tuple[tuple[str, Any], ...]] = {
    "zeros": (),
    "ones": (),
    "full": (("fill_value", None),),
    "normal": (("mean", 0.0), ("std", 1.0)),
    "uniform": (("low", 0.0), ("high", 1.0)),
    "trunc_normal": (("mean", 0.0), ("std", 1.0), ("a", -2.0), ("b", 2.0)),
}

EXTERN = "extern"  # an initial value made by a Python function (`extern "pkg.mod:fn"(...)`)
TENSOR = "tensor"  # an initial value computed by a tensor expression (StateInfo.init_node)

# Options after the initial value, per kind, with their defaults (torch's).
OPTIONS: dict[str, dict[str, bool]] = {
    PARAM: {"requires_grad": True},  # nn.Parameter(data, requires_grad=True)
    BUFFER: {"persistent": True},  # register_buffer(name, tensor, persistent=True)
}


@record
class StateInfo:
    """One parameter or buffer of a model or block instance."""

    name: str  # the attribute name, and the last part of its state_dict key
    kind: str  # PARAM or BUFFER
    shape: tuple[int, ...]
    init: str  # a key of INITIALIZERS
    init_args: dict[str, Any]  # the initializer's arguments, defaults filled in
    span: Span
    options: dict[str, bool]  # OPTIONS of its kind, defaults filled in
    # init == TENSOR: the graph node (of the first application) whose value it starts as,
    # computed when the module is built from sizes and creation ops (arange, meshgrid, ...).
    init_node: str | None = None
    dtype: str = "float32"  # `buffer index: [49] int64 = zeros()`

    @property
    def numel(self) -> int:
        count = 1
        for size in self.shape:
            count *= size
        return count

    @property
    def parameters(self) -> int:
        """What it adds to the parameter count: its elements for a parameter, 0 for a buffer."""
        return self.numel if self.kind == PARAM else 0

    @property
    def trainable(self) -> bool:
        return self.kind == PARAM and self.options.get("requires_grad", True)
