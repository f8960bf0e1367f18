"""archspec: a declarative architecture-spec language and static shape checker for PyTorch."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "check", "check_text"]


def check(path: str):
    """Check one .arch file; returns a CheckResult (diagnostics, models, shapes)."""
    from archspec.driver import check_file

    return check_file(path)


def check_text(text: str, path: str = "<string>"):
    """Check spec text; returns a CheckResult."""
    from archspec.driver import check_text as run

    return run(text, path)
