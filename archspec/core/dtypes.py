"""Tensor dtypes: the names specs use (torch's own spellings), what kind of number each holds,
and torch's type promotion, in one table.

A tensor is float32 unless the spec says otherwise (`input tokens: [N, L] int64`), as torch's
default dtype is. Promotion follows torch's rules (`torch.result_type`): tensors of one kind
(bool < integer < floating) promote to the wider dtype (int32 + int64 → int64, float16 +
bfloat16 → float32); a tensor of a higher kind wins over a lower one whatever its width (int64 +
float16 → float16); a Python number takes part only when its kind is higher than every tensor's,
and then gives that kind's default dtype (int64 for an integer, float32 for a float), so
`int_tensor * 2` stays int64, `int_tensor * 0.5` is float32 and `half_tensor * 0.5` stays float16.
"""

from __future__ import annotations

from typing import Any

FLOAT32 = "float32"
INT64 = "int64"
BOOL = "bool"

BOOLEAN, INTEGER, FLOATING = 0, 1, 2  # kinds, in promotion order

# name -> (kind, bytes per element, rank of its width within the kind)
DTYPES: dict[str, tuple[int, int, int]] = {
    "bool": (BOOLEAN, 1, 0),
    "int32": (INTEGER, 4, 0),
    "int64": (INTEGER, 8, 1),
    "float16": (FLOATING, 2, 0),
    "bfloat16": (FLOATING, 2, 0),
    "float32": (FLOATING, 4, 1),
    "float64": (FLOATING, 8, 2),
}
DEFAULT = FLOAT32
# The default dtype of each kind: what a number of that kind makes (torch.tensor(2) is int64).
_KIND_DEFAULT = {BOOLEAN: BOOL, INTEGER: INT64, FLOATING: FLOAT32}
KIND_WORDS = {BOOLEAN: "bool", INTEGER: "integer", FLOATING: "floating"}
# The method that converts to each dtype, as torch names it (`x.long()`), where there is one.
CONVERSIONS = {
    "float": "float32",
    "double": "float64",
    "half": "float16",
    "bfloat16": "bfloat16",
    "long": "int64",
    "int": "int32",
    "bool": "bool",
}


def kind(dtype: str) -> int:
    return DTYPES[dtype][0]


def is_floating(dtype: str) -> bool:
    return DTYPES[dtype][0] == FLOATING


def itemsize(dtype: str) -> int:
    return DTYPES[dtype][1]


def number_kind(value: Any) -> int:
    """The kind of a Python number (`True` is a bool, as torch reads it)."""
    if isinstance(value, bool):
        return BOOLEAN
    return INTEGER if isinstance(value, int) else FLOATING


def promote(left: str, right: str) -> str:
    """torch.promote_types of two tensor dtypes."""
    if left == right:
        return left
    (left_kind, _, left_rank), (right_kind, _, right_rank) = DTYPES[left], DTYPES[right]
    if left_kind != right_kind:
        return left if left_kind > right_kind else right
    if left_rank == right_rank:  # float16 and bfloat16: neither holds the other
        return FLOAT32
    return left if left_rank > right_rank else right


def result_type(operands: list[Any]) -> str:
    """torch.result_type of tensors (given as dtype names) and Python numbers."""
    tensors = [operand for operand in operands if isinstance(operand, str)]
    numbers = [operand for operand in operands if not isinstance(operand, str)]
    result = tensors[0] if tensors else None
    for dtype in tensors[1:]:
        result = promote(result, dtype)
    number = max((number_kind(n) for n in numbers), default=None)
    if result is None:
        return _KIND_DEFAULT[number]
    if number is not None and number > kind(result):
        return _KIND_DEFAULT[number]
    return result


def torch_name(dtype: str) -> str:
    """As generated code writes it: `torch.int64`."""
    return f"torch.{dtype}"


class DType:
    """A dtype as a value of a spec (`to(int64)`, `arange(7, dtype=float32)`): the names of DTYPES
    are constants of every scope, and generated code writes them `torch.int64`."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DType) and other.name == self.name

    def __hash__(self) -> int:
        return hash(("dtype", self.name))

    def __repr__(self) -> str:
        return self.name


CONSTANTS = {name: DType(name) for name in DTYPES}
