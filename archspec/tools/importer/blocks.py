"""Units -> blocks and spec text. Instances of one class whose bodies have the same structure
share one block; each number that differs between them becomes an argument (one per distinct
column of values, `4 * planes` where a column is a fixed multiple of another), numbers equal in
all of them stay literals, and torch's defaults everywhere are left out. Runs of identical
layers in a Sequential become comprehensions."""

from __future__ import annotations

import keyword
from dataclasses import dataclass, field
from typing import Any

from archspec.ops import REGISTRY, REQUIRED
from archspec.syntax.lexer import RESERVED
from archspec.tools.importer import mapping
from archspec.tools.importer.mapping import literal
from archspec.tools.importer.trace import layer_name
from archspec.tools.importer.units import Call, Child, Hole, Seq, Unit


@dataclass
class Group:
    """One block (or extern) and the instances written with it."""

    name: str
    units: list[Unit]
    skeleton: str
    holes: list[Hole] = field(default_factory=list)  # the first instance's, for names
    columns: list[tuple] = field(default_factory=list)  # per hole: the instances' values
    decisions: list[Any] = field(default_factory=list)  # per hole: how it is written
    parameters: list[str] = field(default_factory=list)
    parameter_columns: list[tuple] = field(default_factory=list)
    is_extern: bool = False


_OMIT = object()


@dataclass
class _Param:
    name: str


@dataclass
class _Scaled:
    factor: int
    base: _Param

    @property
    def name(self) -> str:
        return self.base.name


# --- walking tokens ---------------------------------------------------------------------------


def _flatten(tokens: list[Any], out: list[Any], layer: str = "") -> None:
    """Tokens -> a flat list of text and Holes, children written as their block's call.
    `layer` names the layer the tokens build (a hole's argument may be named after it)."""
    for token in tokens:
        if isinstance(token, str):
            out.append(token)
            if token.endswith(": "):
                layer = token[:-2].strip('"').replace("-", "_")
        elif isinstance(token, Hole):
            if layer and not token.layer:
                token.layer = layer
            out.append(token)
        elif isinstance(token, list):
            _flatten(token, out, layer)
        elif isinstance(token, Call):
            out.append(f"{token.head}(")
            for arg in token.args:
                out.append(("ARG",))
                _flatten([arg], out, layer)
            out.append(")")
        elif isinstance(token, Child):
            _flatten([_child_call(token.unit)], out, layer)
        elif isinstance(token, Seq):
            _flatten_seq(token, out, layer)
        else:
            raise TypeError(f"unexpected token {token!r}")


def _child_call(unit: Unit) -> Call:
    group: Group = unit.group
    args: list[Any] = []
    for name, value in zip(group.parameters, unit.arguments, strict=True):
        keyword_name = name if group.is_extern else None
        if _is_number(value):
            args.append(Hole(value, name, keyword_name))
        else:
            args.append(f"{keyword_name}={literal(value)}" if keyword_name else literal(value))
    return Call(group.name, args)


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    return isinstance(value, tuple) and bool(value) and all(_is_number(v) for v in value)


def _item_key(item: Any) -> tuple:
    flat: list[Any] = []
    _flatten([item], flat)
    return tuple(_key_part(t) for t in flat) + tuple(
        repr(t.value) for t in flat if isinstance(t, Hole)
    )


def _key_part(token: Any) -> str:
    if isinstance(token, Hole):
        return f"\0{token.keyword}"
    if isinstance(token, tuple):
        return "\1"
    return token


def _runs(items: list[tuple[str | None, Any]]) -> list[tuple[str | None, Any, int]]:
    """Consecutive unnamed equal items as (None, item, count)."""
    runs: list[tuple[str | None, Any, int]] = []
    for name, item in items:
        if name is None and runs and runs[-1][0] is None:
            last_name, last, count = runs[-1]
            if _item_key(last) == _item_key(item):
                runs[-1] = (None, last, count + 1)
                continue
        runs.append((name, item, 1))
    return runs


def _flatten_seq(seq: Seq, out: list[Any], layer: str = "") -> None:
    if seq.kind == "ModuleDict":
        out.append("ModuleDict({")
        for index, (name, item) in enumerate(seq.items):
            out.append(", " if index else "")
            out.append(f"{literal(name)}: ")
            _flatten([item], out, f"{layer}_{name}".strip("_"))
        out.append("})")
        return
    out.append(f"{seq.kind}(")
    for index, (name, item, count) in enumerate(_runs(seq.items)):
        out.append(", " if index else "")
        if count > 1:
            out.append("*[")
            _flatten([item], out, layer)
            out.append(f" for i in range({count})]")
            continue
        if name is not None:
            out.append(f"{layer_name(name)}: ")
        _flatten([item], out, f"{layer}_{name or index}".strip("_"))
    out.append(")")


def flat_lines(unit: Unit) -> list[list[Any]]:
    result = []
    for line in unit.lines:
        flat: list[Any] = []
        _flatten(line, flat)
        result.append(flat)
    return result


def skeleton_of(unit: Unit) -> tuple[str, list[Hole]]:
    holes, parts = [], []
    for line in flat_lines(unit):
        for token in line:
            if isinstance(token, Hole):
                holes.append(token)
            parts.append(_key_part(token))
        parts.append("\n")
    return "".join(parts), holes


# --- grouping ---------------------------------------------------------------------------------


def all_units(root: Unit) -> list[Unit]:
    found, stack, seen = [], [root], set()
    while stack:
        unit = stack.pop()
        if id(unit) in seen:
            continue
        seen.add(id(unit))
        found.append(unit)
        stack.extend(reversed(unit.children))
    return found


def _height(unit: Unit, memo: dict[int, int]) -> int:
    if id(unit) not in memo:
        memo[id(unit)] = 1 + max((_height(c, memo) for c in unit.children), default=0)
    return memo[id(unit)]


def group_units(root: Unit) -> list[Group]:
    """Every unit in a Group, innermost first (a group is settled, its arguments decided,
    before any unit that uses it is grouped); the root's own Group is the last one."""
    units = all_units(root)
    memo: dict[int, int] = {}
    heights = sorted({_height(u, memo) for u in units})
    groups: list[Group] = []
    taken = set(REGISTRY) | set(RESERVED) | {"Sequential", "ModuleList", "ModuleDict"}
    for height in heights:
        level: dict[tuple, Group] = {}
        for unit in (u for u in units if _height(u, memo) == height):
            if unit.extern is not None:
                key = ("extern", unit.cls, _contract_text(unit), tuple(unit.extern.arguments or ()))
                skeleton, holes = "", []
            else:
                skeleton, holes = skeleton_of(unit)
                key = ("block", unit.cls, skeleton, unit is root)
            group = level.get(key)
            if group is None:
                name = _fresh(_class_name(unit), taken)
                group = Group(name, [], skeleton, holes, is_extern=unit.extern is not None)
                level[key] = group
                groups.append(group)
            group.units.append(unit)
            unit.group = group
        for group in level.values():
            settle(group)
    root_group = root.group
    groups.remove(root_group)
    return groups + [root_group]


def _class_name(unit: Unit) -> str:
    name = unit.class_name.lstrip("_") or "Block"
    return name if name[0].isupper() else name[0].upper() + name[1:]


def _fresh(name: str, taken: set[str]) -> str:
    if name in taken or keyword.iskeyword(name):
        name = f"{name}Block"
    candidate, number = name, 2
    while candidate in taken:
        candidate = f"{name}{number}"
        number += 1
    taken.add(candidate)
    return candidate


def _contract_text(unit: Unit) -> str:
    info = unit.extern
    return repr((info.target, info.inputs, info.outputs, info.output_is_tuple))


def settle(group: Group) -> None:
    if group.is_extern:
        first = group.units[0].extern
        group.parameters = list(first.arguments or {})
        for unit in group.units:
            unit.arguments = list((unit.extern.arguments or {}).values())
        return
    flats = [skeleton_of(u)[1] for u in group.units]
    group.columns = [tuple(f[j].value for f in flats) for j in range(len(group.holes))]
    _decide(group)
    for index, unit in enumerate(group.units):
        unit.arguments = [column[index] for column in group.parameter_columns]


def _decide(group: Group) -> None:
    """How each hole is written: left out (torch's default in every instance), a literal (one
    value in all), an argument, or a multiple of an argument."""
    bases: dict[tuple, _Param] = {}
    order = sorted(range(len(group.columns)), key=lambda j: _size(group.columns[j]))
    decisions: dict[int, Any] = {}
    for j in order:  # smallest columns first: a larger one may be a multiple of them
        column, hole = group.columns[j], group.holes[j]
        if hole.default is not REQUIRED and all(mapping.same(v, hole.default) for v in column):
            decisions[j] = _OMIT
        elif len(set(map(repr, column))) == 1:
            decisions[j] = literal(column[0])
        elif column in bases:
            decisions[j] = bases[column]
        else:
            scaled = _as_multiple(column, bases)
            if scaled is not None:
                decisions[j] = scaled
                continue
            bases[column] = decisions[j] = _Param("")
    # Names in the order the body first uses them: the argument's name, else the layer's too.
    used = _body_words(group)
    for j in range(len(group.columns)):
        decision = decisions[j]
        target = decision.base if isinstance(decision, _Scaled) else decision
        if isinstance(target, _Param) and not target.name:
            target.name = _parameter_name(group.holes[j], used)
            used.add(target.name)
    group.decisions = [decisions[j] for j in range(len(group.columns))]
    first_use = {}
    for j, decision in enumerate(group.decisions):
        if isinstance(decision, _Param) and decision.name not in first_use:
            first_use[decision.name] = j
    group.parameters = sorted(first_use, key=first_use.get)
    by_name = {param.name: column for column, param in bases.items()}
    group.parameter_columns = [by_name[p] for p in group.parameters]


def _size(column: tuple) -> tuple:
    numbers = [abs(v) for v in column if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return (0 if numbers else 1, max(numbers, default=0))


def _as_multiple(column: tuple, bases: dict[tuple, _Param]) -> _Scaled | None:
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in column):
        return None
    for base, name in bases.items():
        if not all(isinstance(b, int) and not isinstance(b, bool) and b > 0 for b in base):
            continue
        if column[0] % base[0]:
            continue
        factor = column[0] // base[0]
        if factor > 1 and all(v == factor * b for v, b in zip(column, base, strict=True)):
            return _Scaled(factor, name)
    return None


def _parameter_name(hole: Hole, taken: set[str]) -> str:
    base = hole.hint.lstrip("_") or "value"
    layered = f"{hole.layer}_{base}" if hole.layer and not hole.layer[0].isdigit() else ""
    for candidate in (base, layered):
        if candidate and candidate not in taken and candidate not in RESERVED:
            return candidate
    number = 2
    while f"{base}{number}" in taken:
        number += 1
    return f"{base}{number}"


def _body_words(group: Group) -> set[str]:
    """Names a block argument must not take: the body's values (`x`, `out`) and sizes."""
    words = set()
    for token in group.skeleton.replace("\n", " ").split():
        for part in token.replace("(", " ").replace(")", " ").replace(",", " ").split():
            if part.isidentifier():
                words.add(part)
    return words


# --- writing text -------------------------------------------------------------------------------


def render_unit_lines(unit: Unit, group: Group | None) -> list[str]:
    lines = []
    index = 0
    for line in flat_lines(unit):
        text, index = _render_flat(line, group, index)
        lines.append(text)
    return lines


def _render_flat(tokens: list[Any], group: Group | None, index: int) -> tuple[str, int]:
    """Text of one line; a call's arguments separated by commas, left-out ones skipped."""
    out: list[str] = []
    pending_args: list[list[str]] = []  # a stack of calls being written
    for token in tokens:
        if isinstance(token, tuple):  # an argument starts
            pending_args[-1].append("")
            continue
        if isinstance(token, Hole):
            text = _hole_text(token, group, index)
            index += 1
        else:
            text = token
        if text is None:
            if pending_args and pending_args[-1]:
                pending_args[-1].pop()  # the argument this hole was is left out
                pending_args[-1].append(None)  # type: ignore[arg-type]
            continue
        if isinstance(token, str) and token.endswith("(") and not token.startswith(("*", ",")):
            if _is_call_head(token):
                _append(out, pending_args, token)
                pending_args.append([])
                continue
        if isinstance(token, str) and token == ")" and pending_args:
            args = [a for a in pending_args.pop() if a is not None]
            _append(out, pending_args, ", ".join(args) + ")")
            continue
        _append(out, pending_args, text)
    return "".join(out), index


def _is_call_head(token: str) -> bool:
    head = token[:-1]
    return bool(head) and head.replace("_", "a").isalnum()


def _append(out: list[str], pending: list[list[str]], text: str) -> None:
    if pending:
        if not pending[-1] or pending[-1][-1] is None:
            pending[-1].append(text)
        else:
            pending[-1][-1] += text
        return
    out.append(text)


def _hole_text(hole: Hole, group: Group | None, index: int) -> str | None:
    decision = literal(hole.value) if group is None else group.decisions[index]
    if group is None and hole.default is not REQUIRED and mapping.same(hole.value, hole.default):
        decision = _OMIT
    if decision is _OMIT:
        return None
    if isinstance(decision, _Param):
        text = decision.name
    elif isinstance(decision, _Scaled):
        text = f"{decision.factor} * {decision.name}"
    else:
        text = decision
    return f"{hole.keyword}={text}" if hole.keyword else text
