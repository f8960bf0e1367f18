"""Scopes: what a name means inside one running model or block body."""

from __future__ import annotations

import math
from typing import Any

from archspec.core.dtypes import CONSTANTS as DTYPE_CONSTANTS
from archspec.core.records import field, record
from archspec.elaborate.graph import ModuleInfo
from archspec.elaborate.values import Definition
from archspec.syntax import ast

# Names every scope reads and none can bind (the builder refuses them as targets); and the dtype
# names (`to(int64)`) and the floats torch's code writes `float("inf")` (`pad(..., value=-inf)`),
# which a scope's own value of that name shadows.
FLOAT_CONSTANTS = {"inf": math.inf, "nan": math.nan}
CONSTANTS = {"True": True, "False": False, "None": None, **DTYPE_CONSTANTS, **FLOAT_CONSTANTS}


@record
class Frame:
    """One running model or block body: the values and layers its names are bound to."""

    definition: ast.Definition
    module: ModuleInfo
    values: dict[str, Any]
    layers: dict[str, ModuleInfo]
    reserved: frozenset[str]  # the body's own layer names (read-only)
    returned: list[Any] | None = None
    returned_keys: tuple[str, ...] | None = None  # `return {"out": x}`: the dict's keys
    # `if training { return x, aux }`: mode -> (values, keys) returned in that mode only
    mode_returns: dict[str, tuple[list[Any], tuple[str, ...] | None]] = field(default_factory=dict)
    auto_counts: dict[str, int] = field(default_factory=dict)
    application: int = 0  # which application of a block this run is (names in shapes bind per run)
    namespace: dict[str, Definition] | None = None  # blocks visible here (None: the model's file)
    function: bool = False  # the body of a `def`: plain values only, it returns values
