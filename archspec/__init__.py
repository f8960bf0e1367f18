"""archspec: a declarative architecture-spec language and static shape checker for PyTorch.

archspec.check("net.arch")      # diagnostics and shapes, never imports torch
archspec.load("net.arch")       # the checked spec (raises SpecError on errors)
archspec.compile_source(...)    # the generated nn.Module source
archspec.build("net.arch")      # an instance of the generated module (imports torch)
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


def __getattr__(name: str):
    # load/build/compile_source/verify/SpecError live in archspec.api, imported on first use.
    if name in ("load", "build", "compile_source", "SpecError", "verify"):
        from archspec import api

        return getattr(api, name)
    raise AttributeError(f"module 'archspec' has no attribute {name!r}")
