"""Names: which spec names may become Python names in generated code (no torch import needed), and
the "did you mean" suggestions of every message about an unknown name.

A layer's name becomes an attribute of an nn.Module, so it must be a Python identifier that Python
does not rewrite (NFKC: `ｃｏｎｖ` *is* `conv` to the parser), and that no nn.Module attribute
already owns (`forward`, `training`, `to`, ... would be rejected by torch or silently shadowed).
"""

from __future__ import annotations

import keyword
import unicodedata
from collections.abc import Iterable

# dir(torch.nn.Module) and a fresh instance's own attributes, torch 2.14 (tests compare with torch).
MODULE_ATTRIBUTES = frozenset(
    """
    T_destination add_module apply bfloat16 buffers call_super_init children compile cpu cuda
    double dump_patches eval extra_repr float forward get_buffer get_extra_state get_parameter
    get_submodule half ipu load_state_dict modules mtia named_buffers named_children named_modules
    named_parameters parameters register_backward_hook register_buffer register_forward_hook
    register_forward_pre_hook register_full_backward_hook register_full_backward_pre_hook
    register_load_state_dict_post_hook register_load_state_dict_pre_hook register_module
    register_parameter register_state_dict_post_hook register_state_dict_pre_hook requires_grad_
    set_extra_state set_submodule share_memory state_dict to to_empty train training type xpu
    zero_grad
    """.split()
)


def python_reading_problem(name: str) -> str | None:
    """Why `name` cannot stand for itself in generated Python, or None: Python reads identifiers
    NFKC-normalised, so `Ｍ` would be `M` there while the spec keeps them apart (a model `Ｍ`
    beside a model `M` would become classes `M` and `M_2`). Every spec name that can become a
    Python name (a model, block, input, value or layer) must be written as Python reads it."""
    normal = unicodedata.normalize("NFKC", name)
    if normal != name:
        return f"'{name}' is read by Python as '{normal}'; write '{normal}'"
    return None


def layer_name_problem(name: str) -> str | None:
    """Why `name` cannot name a layer, or None if it can."""
    if not name.isidentifier() or keyword.iskeyword(name):
        return f"'{name}' is not a valid layer name: layer names are Python identifiers"
    if python_reading_problem(name) is not None:
        return python_reading_problem(name)
    if name.startswith("_"):
        return f"layer names cannot start with '_' ('{name}'): nn.Module keeps its internals there"
    if name in MODULE_ATTRIBUTES:
        return f"'{name}' is an attribute of every nn.Module; a layer of that name would clash"
    return None


# The methods nn.Sequential and nn.ModuleDict add to nn.Module's (torch 2.14): add_module refuses
# a child of the same name ("attribute 'items' already exists").
CONTAINER_METHODS = {
    "Sequential": frozenset({"append", "extend", "insert", "pop"}),
    "ModuleDict": frozenset({"clear", "items", "keys", "pop", "update", "values"}),
}


def child_name_problem(name: str, container: str = "Sequential") -> str | None:
    """Why `name` cannot name a child of a Sequential (or a ModuleDict's key), or None: torch's
    add_module takes any name without a '.' (torchvision's RegNet has `block1-0`); codegen
    writes it as a string."""
    if not name or "." in name:
        return f"'{name}' is not a valid name for a {container}'s child: torch refuses '' and '.'"
    if name in CONTAINER_METHODS.get(container, ()):
        return f"'{name}' is a method of every {container}; a child of that name would clash"
    if name.isidentifier():
        return layer_name_problem(name)
    return python_reading_problem(name)


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate `name` most likely meant: the same up to case, else a close spelling."""
    candidates = list(candidates)
    lowered = {c.lower(): c for c in candidates}
    if name.lower() in lowered:
        return lowered[name.lower()]
    import difflib  # only for error messages

    matches = difflib.get_close_matches(name, candidates, n=1, cutoff=0.7)
    return matches[0] if matches else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """` (did you mean 'x'?)` for the closest choice, or "" when none is close."""
    import difflib  # only for error messages

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def chain_text(names: list[str], ends: int = 4) -> str:
    """`A -> B -> A`; a long chain keeps its ends: `B0 -> ... (1,992 more) -> B1999`."""
    if len(names) <= 2 * ends + 1:
        return " -> ".join(names)
    hidden = f"... ({len(names) - 2 * ends:,} more)"
    return " -> ".join([*names[:ends], hidden, *names[-ends:]])
