"""The command line: `archspec check PATH...`. Thin: parse arguments, call the driver, print."""

from __future__ import annotations

import argparse
import os
import sys

from archspec import __version__

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return EXIT_ERROR
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # an archspec bug: one line, exit 2, traceback on --debug
        if getattr(args, "debug", False):
            raise
        print(
            f"archspec: internal error: {type(error).__name__}: {error} "
            "(run with --debug for the traceback)",
            file=sys.stderr,
        )
        return EXIT_ERROR


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="archspec",
        description="Check, compile and draw .arch architecture specs for PyTorch.",
    )
    parser.add_argument("--version", action="version", version=f"archspec {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    check = commands.add_parser("check", help="check specs for shape and structure errors")
    check.add_argument("paths", nargs="+", metavar="PATH", help=".arch files or folders")
    check.add_argument("--format", choices=("text", "json"), default="text")
    check.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    check.set_defaults(handler=_check)

    compile_ = commands.add_parser("compile", help="generate the nn.Module source of a spec")
    compile_.add_argument("spec", metavar="SPEC", help="an .arch file")
    compile_.add_argument("-o", "--output", metavar="FILE.py", help="write here (default: stdout)")
    compile_.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    compile_.set_defaults(handler=_compile)
    return parser


def collect_files(paths: list[str]) -> tuple[list[str], list[str]]:
    """Expand folders into their *.arch files (sorted); return (files, problems)."""
    files: list[str] = []
    problems: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            found = []
            for folder, subfolders, names in os.walk(path):
                subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
                found.extend(os.path.join(folder, n) for n in names if n.endswith(".arch"))
            if not found:
                problems.append(f"{path}: no .arch files found")
            files.extend(sorted(found))
        elif os.path.exists(path):
            files.append(path)
        else:
            problems.append(f"{path}: no such file or directory")
    return sorted(dict.fromkeys(files)), problems


def _check(args) -> int:
    from archspec import diagnostics as diag
    from archspec.driver import check_file

    files, problems = collect_files(args.paths)
    for problem in problems:
        print(f"archspec: {problem}", file=sys.stderr)
    reporter = diag.Reporter()
    for path in files:
        try:
            result = check_file(path)
        except OSError as error:
            problems.append(path)
            print(f"archspec: cannot read {path}: {error.strerror or error}", file=sys.stderr)
            continue
        reporter.extend(result.diagnostics)
    diagnostics = diag.sorted_diagnostics(reporter.diagnostics)
    if args.format == "json":
        print(diag.render_json(diagnostics, len(files)))
    else:
        for diagnostic in diagnostics:
            print(diag.render_text(diagnostic))
            print()
        print(diag.render_summary(diagnostics, len(files)))
    if problems:
        return EXIT_ERROR
    has_errors = any(d.severity is diag.Severity.ERROR for d in diagnostics)
    return EXIT_FINDINGS if has_errors else EXIT_CLEAN


def _compile(args) -> int:
    from archspec import diagnostics as diag
    from archspec.codegen import CodegenError, generate
    from archspec.driver import check_file

    if not os.path.isfile(args.spec):
        print(f"archspec: {args.spec}: no such file", file=sys.stderr)
        return EXIT_ERROR
    try:
        result = check_file(args.spec)
    except OSError as error:
        print(f"archspec: cannot read {args.spec}: {error.strerror or error}", file=sys.stderr)
        return EXIT_ERROR
    # Diagnostics go to stderr: stdout may be the generated code.
    for diagnostic in result.diagnostics:
        print(diag.render_text(diagnostic) + "\n", file=sys.stderr)
    if not result.ok:
        print(diag.render_summary(result.diagnostics, 1) + "; nothing written", file=sys.stderr)
        return EXIT_FINDINGS
    try:
        source = generate(result)
    except CodegenError as error:
        print(f"archspec: {error.message}", file=sys.stderr)
        return EXIT_ERROR
    if args.output is None:
        sys.stdout.write(source)
        return EXIT_CLEAN
    try:
        write_atomically(args.output, source)
    except OSError as error:
        print(f"archspec: cannot write {args.output}: {error.strerror or error}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_CLEAN


def write_atomically(path: str, text: str) -> None:
    """Write to a temporary file beside `path`, then rename: never a half-written output."""
    import tempfile

    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=".archspec-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
