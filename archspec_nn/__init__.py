"""The `archspec` console script's entry: makes sure the `archspec` package Python imports is
archspec-nn's before running it.

The import name `archspec` is shared with an unrelated package (the CPU-microarchitecture library
that conda's base environment ships). Whichever comes first on sys.path is imported, and the other
is silently shadowed, or, installed into one site-packages folder, the two overwrite each other's
files. This module lives outside the `archspec` package so that it runs even when the wrong one
would be imported, and it only looks at folders (the other package's code never runs).
"""

from __future__ import annotations

import os
import sys

# A file of archspec-nn's that the other package does not have.
OWN_MARKER = os.path.join("syntax", "grammar", "arch.lark")
SILENCE = "ARCHSPEC_IGNORE_NAME_CLASH"  # set to 1 to silence the warning (not the error)
ADVICE = (
    "install archspec-nn in a virtual environment of its own: "
    "python -m venv .venv && .venv/bin/pip install archspec-nn"
)


def archspec_folders() -> list[str]:
    """Every `archspec` package folder on the import path, in the order Python searches it."""
    found = []
    for entry in sys.path:
        folder = os.path.join(entry or os.getcwd(), "archspec")
        if os.path.isfile(os.path.join(folder, "__init__.py")) and folder not in found:
            found.append(folder)
    return found


def imported_folder() -> str | None:
    """The folder of the `archspec` package that `import archspec` would load (found, not
    imported: a top-level package's code runs only on import), or None."""
    import importlib.util

    spec = importlib.util.find_spec("archspec")
    if spec is None or not spec.origin or not os.path.isfile(spec.origin):
        return None
    return os.path.dirname(os.path.abspath(spec.origin))


def name_clash() -> tuple[str | None, str | None]:
    """(error, warning): an error when the `archspec` Python would import is not archspec-nn's;
    a warning when it is, but an unrelated `archspec` shares its folder or hides behind it."""
    first = imported_folder()
    if first is None:
        return None, None  # not found in a folder (a zip, say): let the import say what it says
    others = [f for f in archspec_folders() if os.path.realpath(f) != os.path.realpath(first)]
    if not os.path.isfile(os.path.join(first, OWN_MARKER)):
        return (
            f"archspec: the Python package `archspec` found first on the import path is not "
            f"archspec-nn's: {first} belongs to an unrelated package of the same name (conda's "
            f"base environment ships one); {ADVICE}"
        ), None
    foreign = [folder for folder in others if not os.path.isfile(os.path.join(folder, OWN_MARKER))]
    if os.path.isdir(os.path.join(first, "cpu")):  # the other package's files, mixed into ours
        foreign.insert(0, first)
    if not foreign or os.environ.get(SILENCE):
        return None, None
    return None, (
        f"archspec: warning: an unrelated package named `archspec` is also installed "
        f"({', '.join(foreign)}); the two share their import name, and whichever comes first "
        f"hides the other (tools that need the other one, such as conda, may break); {ADVICE} "
        f"(set {SILENCE}=1 to silence this)"
    )


def main() -> None:
    """The console script: refuse to run someone else's `archspec`, warn of a clash, run ours."""
    error, warning = name_clash()
    if error is not None:
        print(error, file=sys.stderr)
        raise SystemExit(2)
    if warning is not None:
        print(warning, file=sys.stderr)
    from archspec.cli import run

    run()
