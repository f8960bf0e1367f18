"""archspec: a declarative architecture-spec language and static shape checker for PyTorch.

archspec.check("net.arch")      # diagnostics and shapes, never imports torch
archspec.load("net.arch")       # the checked spec (raises SpecError on errors)
archspec.compile_source(...)    # the generated nn.Module source
archspec.build("net.arch")      # an instance of the generated module (imports torch)
archspec.from_module(m, inputs) # the spec text of an existing nn.Module (imports torch)
"""

from __future__ import annotations

from archspec.core.version import __version__

__all__ = [
    "SpecError",
    "__version__",
    "build",
    "check",
    "check_text",
    "compile_source",
    "from_module",
    "load",
    "verify",
]


def check(path: str):
    """Check one .arch file; returns a CheckResult (diagnostics, models, shapes)."""
    from archspec.driver import check_file

    return check_file(path)


def check_text(text: str, path: str = "<string>"):
    """Check spec text; returns a CheckResult."""
    from archspec.driver import check_text as run

    return run(text, path)


def load_ipython_extension(ipython) -> None:
    """`%load_ext archspec` in IPython or Jupyter: adds the `%%arch` cell magic."""
    from archspec.tools.notebook import load_ipython_extension as load

    load(ipython)


def from_module(module, example_inputs, *, extern_unsupported: bool = False) -> str:
    """The .arch text of an existing nn.Module, traced by torch.fx on example_inputs (dim 0 is
    the batch); see archspec.tools.importer."""
    from archspec.tools.importer import from_module as run

    return run(module, example_inputs, extern_unsupported=extern_unsupported)


def __getattr__(name: str):
    # load/build/compile_source/verify/SpecError live in archspec.api, imported on first use.
    if name in ("load", "build", "compile_source", "SpecError", "verify"):
        from archspec import api

        return getattr(api, name)
    raise AttributeError(f"module 'archspec' has no attribute {name!r}")
