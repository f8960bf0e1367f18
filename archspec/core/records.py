"""Plain data classes that cost almost nothing to define.

`@record` is `@dataclass` for the classes on the check path: the same __init__ (defaults,
`field(default_factory=...)`, `field(init=False)`, __post_init__), __repr__, __eq__ and, for frozen
records, immutability and __hash__, over the fields' annotations in order. dataclass compiles three
to six functions for every class it makes, which cost a quarter of a millisecond each time a class
is defined: some 10 ms of every `archspec check` for the 30-odd classes it imports. A record's
methods are compiled lazily instead, the first time any record is made, for every record class
defined by then, in one piece of source text.

Only what archspec uses is supported: no inheritance between records, no slots, no ordering.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FrozenRecordError", "field", "fields", "record", "replace"]

_MISSING: Any = type("_Missing", (), {"__repr__": lambda self: "MISSING"})()


class FrozenRecordError(AttributeError):
    """An attempt to change a frozen record's field."""


class Field:
    __slots__ = ("name", "default", "default_factory", "init", "repr", "compare")

    def __init__(self, default=_MISSING, default_factory=_MISSING, init=True, repr=True,
                 compare=True):  # fmt: skip
        self.name = ""
        self.default = default
        self.default_factory = default_factory
        self.init = init
        self.repr = repr
        self.compare = compare


def field(*, default=_MISSING, default_factory=_MISSING, init=True, repr=True, compare=True):
    return Field(default, default_factory, init, repr, compare)


def record(cls=None, /, *, frozen: bool = False, eq: bool = True, repr: bool = True):
    """Make `cls` a record (used as `@record` or `@record(frozen=True)`)."""

    def wrap(cls):
        _define(cls, frozen, eq, repr)
        return cls

    return wrap if cls is None else wrap(cls)


def fields(record_or_class) -> tuple[Field, ...]:
    cls = record_or_class if isinstance(record_or_class, type) else type(record_or_class)
    return cls.__record_fields__


def replace(instance, **changes):
    """A copy of `instance` with some fields changed (dataclasses.replace)."""
    for item in fields(instance):
        if item.init and item.name not in changes:
            changes[item.name] = getattr(instance, item.name)
    return type(instance)(**changes)


_PENDING: list[type] = []


def _define(cls, frozen: bool, eq: bool, show: bool) -> None:
    found = []
    for name in cls.__dict__.get("__annotations__", {}):
        value = cls.__dict__.get(name, _MISSING)
        item = value if isinstance(value, Field) else Field(default=value)
        item.name = name
        if item.default is _MISSING:
            if name in cls.__dict__:
                delattr(cls, name)  # a field() without a default leaves no class attribute
        else:
            setattr(cls, name, item.default)  # as dataclass: the default stays on the class
        found.append(item)
    cls.__record_fields__ = tuple(found)
    cls.__record_frozen__ = frozen
    cls.__init__ = _compile_then_init
    own = cls.__dict__  # as dataclass, methods the class writes itself are kept
    if show and "__repr__" not in own:
        cls.__repr__ = _repr
    if eq and "__eq__" not in own:
        cls.__eq__ = _eq
        if "__hash__" not in own or own["__hash__"] is None:
            cls.__hash__ = _hash if frozen else None  # as dataclass: mutable and equal, unhashable
    if frozen:
        cls.__setattr__ = _frozen
        cls.__delattr__ = _frozen
    _PENDING.append(cls)


def _compile_then_init(self, *args, **kwargs):
    _compile_pending()
    type(self).__init__(self, *args, **kwargs)


def _compile_pending() -> None:
    """Compile the __init__ of every record class that has none yet, in one source text."""
    lines: list[str] = []
    namespace: dict[str, Any] = {"_MISSING": _MISSING, "_set": object.__setattr__}
    pending = [cls for cls in _PENDING if cls.__init__ is _compile_then_init]
    _PENDING.clear()
    for index, cls in enumerate(pending):
        lines.extend(_init_source(cls, index, namespace))
    exec(compile("\n".join(lines), __file__ + ":<records>", "exec"), namespace)
    for index, cls in enumerate(pending):
        function = namespace[f"init_{index}"]
        function.__qualname__ = f"{cls.__qualname__}.__init__"
        cls.__init__ = function


def _init_source(cls, index: int, namespace: dict[str, Any]) -> list[str]:
    parameters, body = [], []
    assign = "_set(self, {name!r}, {value})" if cls.__record_frozen__ else "self.{name} = {value}"
    for item in cls.__record_fields__:
        key = f"_{index}_{item.name}"
        if item.default_factory is not _MISSING:
            namespace["factory" + key] = item.default_factory
            if item.init:
                parameters.append(f"{item.name}=_MISSING")
                value = f"factory{key}() if {item.name} is _MISSING else {item.name}"
            else:
                value = f"factory{key}()"
        elif not item.init:
            continue
        elif item.default is not _MISSING:
            namespace["default" + key] = item.default
            parameters.append(f"{item.name}=default{key}")
            value = item.name
        else:
            parameters.append(item.name)
            value = item.name
        body.append("    " + assign.format(name=item.name, value=value))
    if hasattr(cls, "__post_init__"):
        body.append("    self.__post_init__()")
    return [f"def init_{index}(self, {', '.join(parameters)}):", *(body or ["    pass"])]


def _values(self, only_compared: bool) -> tuple:
    return tuple(
        getattr(self, item.name)
        for item in self.__record_fields__
        if item.compare or not only_compared
    )


def _eq(self, other):
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _values(self, True) == _values(other, True)


def _hash(self) -> int:
    return hash(_values(self, True))


def _repr(self) -> str:
    shown = ", ".join(
        f"{item.name}={getattr(self, item.name)!r}" for item in self.__record_fields__ if item.repr
    )
    return f"{self.__class__.__qualname__}({shown})"


def _frozen(self, name, value=None):
    raise FrozenRecordError(f"cannot assign to field {name!r}")
