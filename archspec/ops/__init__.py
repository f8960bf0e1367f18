"""All ops. Importing this package fills `REGISTRY`; adding an op touches one family module."""

from archspec.ops import (  # noqa: F401  (imported for their registrations)
    activation,
    compare,
    conv,
    creation,
    embedding,
    functional,
    indexing,
    linear,
    merge,
    multi,
    norm,
    pool,
    recurrent,
    regularization,
    reshape,
    tensor,
    transformer,
)
from archspec.ops.base import INFER, REQUIRED, ArgError, OpFailure, OpSpec, Param, RuleContext
from archspec.ops.registry import REGISTRY, register

__all__ = [
    "INFER", "REQUIRED", "REGISTRY", "ArgError", "OpFailure", "OpSpec", "Param", "RuleContext",
    "register",
]  # fmt: skip
