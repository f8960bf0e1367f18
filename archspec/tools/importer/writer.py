"""Groups -> spec text: externs, then blocks innermost first, then the model; laid out by
archspec.tools.fmt."""

from __future__ import annotations

from archspec.tools.importer.blocks import Group, render_unit_lines
from archspec.tools.importer.context import Context
from archspec.tools.importer.mapping import literal


def write_spec(groups: list[Group], context: Context) -> str:
    model = groups[-1]
    root = model.units[0]
    head = [f"# Imported from {root.cls.__module__}.{root.cls.__qualname__} by `archspec import`."]
    parts = ["\n".join(head)]
    for group in groups[:-1]:
        parts.append(_extern(group, context) if group.is_extern else _block(group))
    if model.is_extern:
        parts.append(_extern(model, context, f"{model.name}Module"))
    parts.append(_model(model, context.batch))
    text = "\n\n".join(parts) + "\n"
    return _formatted(text)


def _formatted(text: str) -> str:
    from archspec.tools.fmt import format_text

    try:
        return format_text(text)
    except Exception:  # noqa: BLE001 - unformatted text still checks; the check reports it
        return text


def _body(lines: list[str]) -> str:
    return "\n".join("    " + line for line in lines)


def _block(group: Group) -> str:
    unit = group.units[0]
    lines = render_unit_lines(unit, group)
    header = f"block {group.name}({', '.join(group.parameters)})"
    comment = f"# {unit.cls.__module__}.{unit.cls.__qualname__}: {_instances(group)}"
    return f"{comment}\n{header} {{\n{_body(lines)}\n}}"


def _instances(group: Group) -> str:
    paths = [u.path for u in group.units]
    shown = ", ".join(paths[:3]) + (f", ... ({len(paths)} in all)" if len(paths) > 3 else "")
    return shown


def _model(group: Group, batch: int) -> str:
    unit = group.units[0]
    if unit.extern is not None:
        return _extern_model(group, batch)
    lines = render_unit_lines(unit, None)
    return f"model {group.name} {{\n{_body(lines)}\n}}"


def _shape(shape: tuple[int, ...], dtype: str | None, batch: int) -> str:
    sizes = ["N" if i == 0 and s == batch else str(s) for i, s in enumerate(shape)]
    text = f"[{', '.join(sizes)}]"
    return text if dtype in (None, "float32") else f"{text} {dtype}"


def _contract_shape(shape, dtype, leading: dict[int, str]) -> str:
    """A contract shape: dim 0 by its matched name where an input's dim 0 has that size (the
    batch, or the batch times windows or heads), the other sizes as seen."""
    sizes = [leading.get(s, str(s)) if i == 0 else str(s) for i, s in enumerate(shape)]
    text = f"[{', '.join(sizes)}]"
    return text if dtype in (None, "float32") else f"{text} {dtype}"


def _extern(group: Group, context: Context, name: str = "") -> str:
    unit = group.units[0]
    info = unit.extern
    names = ["x"] if len(info.inputs) == 1 else [f"x{i}" for i in range(len(info.inputs))]
    leading: dict[int, str] = {}
    for shape in info.inputs:
        if shape and shape[0] not in leading:
            leading[shape[0]] = "N" if shape[0] == context.batch else f"B{len(leading)}"
    dtypes = info.input_dtypes + [None] * len(info.inputs)
    inputs = ", ".join(
        f"{n}: {_contract_shape(s, d, leading)}"
        for n, s, d in zip(names, info.inputs, dtypes, strict=False)
    )
    out_dtypes = info.output_dtypes + [None] * len(info.outputs)
    outputs = [
        _contract_shape(s, d, leading) for s, d in zip(info.outputs, out_dtypes, strict=False)
    ]
    result = outputs[0] if len(outputs) == 1 else f"({', '.join(outputs)})"
    parameters = ", ".join(group.parameters)
    why = info.reason.replace("\n", " ")
    known = "" if info.arguments is not None else " (constructor arguments unknown)"
    if info.dropped:
        known = f" (left out, not writable: {', '.join(info.dropped)})"
    comment = f"# extern{known}: {why}"[:300]
    return (
        f"{comment}\nextern {name or group.name}({parameters}) = {literal(info.target)}\n"
        f"    ({inputs}) -> {result}"
    )


def _extern_model(group: Group, batch: int) -> str:
    """A model whose own forward cannot be written: one extern applied to its inputs (its
    state_dict keys then start with `net.`)."""
    unit = group.units[0]
    info = unit.extern
    names = ["x"] if len(info.inputs) == 1 else [f"x{i}" for i in range(len(info.inputs))]
    lines = [
        f"input {n}: {_shape(s, None, batch)}" for n, s in zip(names, info.inputs, strict=False)
    ]
    source = names[0] if len(names) == 1 else f"({', '.join(names)})"
    arguments = ", ".join(f"{k}={literal(v)}" for k, v in (info.arguments or {}).items())
    lines.append(f"return {source} -> net: {group.name}Module({arguments})")
    return f"model {group.name} {{\n{_body(lines)}\n}}"
