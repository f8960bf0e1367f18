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
    except BrokenPipeError:  # `archspec summary x.arch | head`: the reader left, that is fine
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_CLEAN
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

    graph = commands.add_parser("graph", help="draw a spec's models with Graphviz")
    graph.add_argument("spec", metavar="SPEC", help="an .arch file")
    graph.add_argument("-o", "--output", metavar="FILE", help="FILE.dot/.svg/.png/.pdf")
    graph.add_argument("--format", choices=("dot", "svg", "png", "pdf"), help="default: by suffix")
    graph.add_argument("--model", help="which model, when the file has several")
    graph.add_argument("--depth", type=int, help="collapse modules below this depth into one node")
    graph.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    graph.set_defaults(handler=_graph)

    summary = commands.add_parser("summary", help="a layer table: shapes, parameters, MACs, RF")
    summary.add_argument("spec", metavar="SPEC", help="an .arch file")
    summary.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    summary.add_argument("--batch", type=int, default=1, help="batch size for activation memory")
    summary.add_argument("--model", help="which model, when the file has several")
    summary.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    summary.set_defaults(handler=_summary)
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


def write_atomically(path: str, content: str | bytes) -> None:
    """Write to a temporary file beside `path`, then rename: never a half-written output."""
    import tempfile

    data = content.encode("utf-8") if isinstance(content, str) else content
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=".archspec-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes 0600; outputs are ordinary files
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def _checked_spec(path: str):
    """Check a spec for graph/summary; (result, exit code or None to go on)."""
    from archspec.driver import check_file

    if not os.path.isfile(path):
        print(f"archspec: {path}: no such file", file=sys.stderr)
        return None, EXIT_ERROR
    try:
        return check_file(path), None
    except OSError as error:
        print(f"archspec: cannot read {path}: {error.strerror or error}", file=sys.stderr)
        return None, EXIT_ERROR


def _pick_models(result, name: str | None):
    if name is None:
        return result.models
    chosen = [m for m in result.models if m.name == name]
    if not chosen:
        names = ", ".join(m.name for m in result.models) or "none"
        print(f"archspec: {result.path} has no model '{name}' (models: {names})", file=sys.stderr)
    return chosen


def _print_diagnostics(result) -> None:
    from archspec import diagnostics as diag

    for diagnostic in result.diagnostics:
        print(diag.render_text(diagnostic) + "\n", file=sys.stderr)


def _graph(args) -> int:
    from archspec.render import RenderError, render, to_dot

    result, code = _checked_spec(args.spec)
    if result is None:
        return code
    _print_diagnostics(result)  # a spec with errors is still drawn, errors in red
    models = _pick_models(result, args.model)
    if not models:
        if not result.models:
            print(f"archspec: {args.spec}: no model to draw", file=sys.stderr)
        return EXIT_ERROR
    fmt = args.format
    if fmt is None:
        suffix = os.path.splitext(args.output or "")[1].lstrip(".").lower()
        fmt = suffix if suffix in ("dot", "svg", "png", "pdf") else "dot"
    if args.output is None and fmt != "dot":
        print("archspec: binary formats need -o FILE", file=sys.stderr)
        return EXIT_ERROR
    sources = [to_dot(model, result.diagnostics, args.depth) for model in models]
    try:
        if len(sources) == 1 or args.output is None:
            payloads = [render(source, fmt) for source in sources]
        else:
            print("archspec: the file has several models; pick one with --model", file=sys.stderr)
            return EXIT_ERROR
    except RenderError as error:
        print(f"archspec: {error}", file=sys.stderr)
        return EXIT_ERROR
    if args.output is None:
        sys.stdout.write("\n".join(payload.decode("utf-8") for payload in payloads))
    else:
        try:
            write_atomically(args.output, payloads[0])
        except OSError as error:
            print(
                f"archspec: cannot write {args.output}: {error.strerror or error}", file=sys.stderr
            )
            return EXIT_ERROR
    return EXIT_CLEAN if result.ok else EXIT_FINDINGS


def _summary(args) -> int:
    from archspec.summary import render_json, render_markdown, render_text, summarize

    result, code = _checked_spec(args.spec)
    if result is None:
        return code
    if args.batch < 1:
        print("archspec: --batch must be at least 1", file=sys.stderr)
        return EXIT_ERROR
    _print_diagnostics(result)
    if not result.ok:
        return EXIT_FINDINGS
    models = _pick_models(result, args.model)
    if not models:
        return EXIT_ERROR
    summaries = [summarize(model, args.batch) for model in models]
    if args.format == "json":
        sys.stdout.write(render_json(summaries))
    elif args.format == "markdown":
        sys.stdout.write("\n".join(render_markdown(s) for s in summaries))
    else:
        sys.stdout.write("\n".join(render_text(s) for s in summaries))
    return EXIT_CLEAN
