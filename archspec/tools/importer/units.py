"""The importer's intermediate form: each module instance of a class archspec does not know
becomes a Unit, the statements of its forward as lines of tokens. A token is text, a Hole (a
number that may become a block argument), a Call (a layer), a Seq (a container) or a Child (a
nested unit). Units of one class and one structure later share one block (blocks.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from archspec.ops import REQUIRED


@dataclass
class Hole:
    """A number in a layer's arguments. Its instances' values decide whether it is written as
    a literal, a block argument, or (torch's default everywhere) left out."""

    value: Any
    hint: str  # the argument's name, for the block argument's name
    keyword: str | None = None  # written as `keyword=value`
    default: Any = REQUIRED  # left out where every instance has it
    layer: str = ""  # the layer it belongs to, for a second argument of the same name


@dataclass
class Call:
    """`Head(arguments)`: a layer, or a block or extern named later (head is then filled)."""

    head: str
    args: list[Any]  # tokens: Hole, or text such as `bias=False`


@dataclass
class Seq:
    """A Sequential, ModuleList or ModuleDict and its children: (name or None for the index
    name, token)."""

    kind: str
    items: list[tuple[str | None, Any]]


@dataclass
class Child:
    """A nested module instance written as its block's call (`Bottleneck(256, 64)`)."""

    unit: Unit


@dataclass
class Problem:
    """Something that cannot be written in the language, with where it comes from."""

    module: str  # the qualified name of the module whose forward holds it ("" is the model)
    what: str
    location: str = ""  # Python file:line

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        return f"{where}{self.what} (in {self.module or 'the model'})"


@dataclass
class ExternInfo:
    """A module written as an `extern`: its import path, constructor arguments (None: unknown)
    and the shapes it was seen with."""

    target: str
    arguments: dict[str, Any] | None
    inputs: list[tuple[int, ...]]
    outputs: list[tuple[int, ...]]
    output_is_tuple: bool
    input_dtypes: list[str | None] = field(default_factory=list)
    output_dtypes: list[str | None] = field(default_factory=list)
    reason: str = ""
    dropped: list[str] = field(default_factory=list)  # arguments the language cannot write


@dataclass
class Unit:
    """One module instance of a class the language has no op for."""

    cls: type
    path: str  # qualified name in the model ("" for the model itself)
    lines: list[list[Any]] = field(default_factory=list)
    children: list[Unit] = field(default_factory=list)
    extern: ExternInfo | None = None
    # Filled by blocks.py: the block (or extern) this instance is written as, and its arguments.
    group: Any = None
    arguments: list[Any] = field(default_factory=list)

    @property
    def class_name(self) -> str:
        return self.cls.__name__
