"""Which spec names may become Python names in generated code (no torch import needed).

A layer's name becomes an attribute of an nn.Module, so it must be a Python identifier that Python
does not rewrite (NFKC: `ｃｏｎｖ` *is* `conv` to the parser), and that no nn.Module attribute
already owns (`forward`, `training`, `to`, ... would be rejected by torch or silently shadowed).
"""

from __future__ import annotations

import keyword
import unicodedata

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


def layer_name_problem(name: str) -> str | None:
    """Why `name` cannot name a layer, or None if it can."""
    if not name.isidentifier() or keyword.iskeyword(name):
        return f"'{name}' is not a valid layer name: layer names are Python identifiers"
    if unicodedata.normalize("NFKC", name) != name:
        normal = unicodedata.normalize("NFKC", name)
        return f"'{name}' is read by Python as '{normal}'; write '{normal}'"
    if name.startswith("_"):
        return f"layer names cannot start with '_' ('{name}'): nn.Module keeps its internals there"
    if name in MODULE_ATTRIBUTES:
        return f"'{name}' is an attribute of every nn.Module; a layer of that name would clash"
    return None
