"""What `archspec import` and `archspec diff MODULE:FACTORY` need besides the import itself:
reading `--input x=[N,3,224,224]`, and telling a module reference from a file or REV:PATH."""

from __future__ import annotations

import os
import re

_REFERENCE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


class UsageError(ValueError):
    """A command-line value the importer cannot use; its message says how to write it."""


def parse_inputs(items: list[str] | None) -> dict[str, tuple]:
    """`x=[N,3,224,224]` (repeatable) -> {"x": ("N", 3, 224, 224)}; N is the batch."""
    inputs: dict[str, tuple] = {}
    for item in items or ():
        name, equals, shape = item.partition("=")
        text = shape.strip().strip("[]()")
        sizes = [s.strip() for s in text.split(",") if s.strip()]
        if not equals or not name.strip().isidentifier() or not sizes:
            raise UsageError(f"--input takes NAME=[N,3,224,224], got {item!r}")
        parsed: list = []
        for size in sizes:
            if size == "N":
                parsed.append("N")
            elif size.isdigit() and int(size) > 0:
                parsed.append(int(size))
            else:
                raise UsageError(
                    f"--input {item!r}: each size is a positive integer or N (the batch)"
                )
        inputs[name.strip()] = tuple(parsed)
    return inputs


def is_module_reference(argument: str) -> bool:
    """`mypkg.models:Net` names a factory, not a file: no such file, no `.arch`, and both sides
    dotted Python names (a git `REV:PATH` has a path after the colon)."""
    if os.path.exists(argument) or argument.endswith(".arch"):
        return False
    return bool(_REFERENCE.match(argument))
