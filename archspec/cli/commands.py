"""The command line: `archspec check PATH...`. Thin: parse arguments, call the driver, print."""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from typing import NoReturn

from archspec.core.version import __version__
from archspec.tools.files import collect_files, write_file

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def run() -> NoReturn:
    """The `archspec` command: main(), then an immediate exit with its code, once the output is
    flushed. The process is finished; Python's own shutdown would free a checked model object by
    object and run a last garbage collection over them: a second after a 100k-layer check."""
    code = main(exits_after=True)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):  # the reader left, or the stream is closed: fine
            pass
    os._exit(code)


def main(argv: list[str] | None = None, *, exits_after: bool = False) -> int:
    """`exits_after`: the process ends when the command does (run(); not so for tests or the
    language server calling main()), so what its imports made can be frozen out of garbage
    collection (core/memory.freeze_startup)."""
    parser = _parser()
    args = parser.parse_args(argv)
    args.exits_after = exits_after
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
    check.add_argument(
        "paths",
        nargs="*",
        default=["."],
        metavar="PATH",
        help=".arch files or folders (default: .), or - for standard input",
    )
    _add_check_options(check)
    check.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    check.set_defaults(handler=_check)

    rule = commands.add_parser("rule", help="explain a diagnostic code, or list them all")
    rule.add_argument("code", nargs="?", metavar="CODE", help="a code (E202) or a rule name")
    shown = rule.add_mutually_exclusive_group()
    shown.add_argument("--all", action="store_true", help="list every rule, one per line")
    shown.add_argument("--markdown", action="store_true", help="every rule as Markdown")
    rule.set_defaults(handler=_rule)

    compile_ = commands.add_parser("compile", help="generate the nn.Module source of a spec")
    compile_.add_argument("spec", metavar="SPEC", help="an .arch file")
    compile_.add_argument(
        "-o", "--output", metavar="FILE.py", help="write here (default, or -: standard output)"
    )
    compile_.add_argument(
        "--to",
        choices=("python", "onnx"),
        default="python",
        help="python source (default), or an ONNX file (-o FILE.onnx; needs the onnx extra)",
    )
    compile_.add_argument(
        "--specialize",
        action="store_true",
        help="a class per block instance, its arguments folded in (the fully unrolled form)",
    )
    compile_.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    compile_.set_defaults(handler=_compile)

    graph = commands.add_parser("graph", help="draw a spec's models with Graphviz")
    graph.add_argument("spec", metavar="SPEC", help="an .arch file")
    graph.add_argument("-o", "--output", metavar="FILE", help="FILE.dot/.svg/.png/.pdf/.jpg, or -")
    graph.add_argument("--format", help="dot, svg, png, pdf, jpg, jpeg; default: by extension")
    graph.add_argument("--model", help="which model, when the file has several")
    graph.add_argument("--depth", type=int, help="collapse modules below this depth into one node")
    graph.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    graph.set_defaults(handler=_graph)

    summary = commands.add_parser("summary", help="a layer table: shapes, parameters, MACs, RF")
    summary.add_argument("spec", metavar="SPEC", help="an .arch file")
    summary.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    summary.add_argument("--batch", type=int, default=1, help="batch size for activation memory")
    summary.add_argument(
        "--size",
        action="append",
        metavar="NAME=VALUE",
        help="for a symbolic input, count at these sizes (H=224,W=224); default: the sizes the "
        "shapes were worked out at",
    )
    summary.add_argument("--model", help="which model, when the file has several")
    summary.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    summary.set_defaults(handler=_summary)

    sizes = commands.add_parser(
        "sizes", help="which input sizes a spec's models accept, and why others fail"
    )
    sizes.add_argument("spec", metavar="SPEC", help="an .arch file")
    sizes.add_argument("--format", choices=("text", "json"), default="text")
    sizes.add_argument("--model", help="which model, when the file has several")
    sizes.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sizes.set_defaults(handler=_sizes)

    importer = commands.add_parser(
        "import", help="write a spec from a PyTorch model (MODULE:FACTORY), traced by torch.fx"
    )
    importer.add_argument("factory", metavar="MODULE:FACTORY", help="torchvision.models:resnet50")
    importer.add_argument("--kwargs", metavar="JSON", help='factory arguments: {"num_classes": 10}')
    importer.add_argument(
        "--input",
        action="append",
        metavar="NAME=SHAPE",
        help="an input and its shape, N the batch (default x=[N,3,224,224]); repeat for several",
    )
    importer.add_argument("-o", "--output", metavar="OUT.arch", help="write here (default: stdout)")
    importer.add_argument(
        "--extern-unsupported",
        action="store_true",
        help="write what cannot be mapped as extern modules instead of failing",
    )
    importer.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    importer.set_defaults(handler=_import)

    verify = commands.add_parser(
        "verify", help="build a spec and run each extern once against its contract"
    )
    verify.add_argument("spec", metavar="SPEC", help="an .arch file")
    verify.add_argument("--model", help="only this model, when the file has several")
    verify.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    verify.set_defaults(handler=_verify)

    fmt = commands.add_parser("fmt", help="rewrite specs in the canonical layout")
    fmt.add_argument(
        "paths",
        nargs="*",
        default=["."],
        metavar="PATH",
        help=".arch files or folders (default: .)",
    )
    fmt.add_argument(
        "--stdin-filename", metavar="PATH", help="with -: the name standard input is formatted as"
    )
    fmt.add_argument("--check", action="store_true", help="list files that would change; exit 1")
    fmt.add_argument("--diff", action="store_true", help="print a unified diff, write nothing")
    fmt.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    fmt.set_defaults(handler=_fmt)

    diff = commands.add_parser(
        "diff",
        help="the architectural difference of two specs (or git revisions of one)",
        usage="archspec diff [options] OLD NEW\n       archspec diff [options] --rev REV PATH",
    )
    diff.add_argument(
        "specs",
        nargs="+",
        metavar="SPEC",
        help="OLD and NEW, each PATH, REV:PATH (HEAD~1:x.arch) or a model MODULE:FACTORY",
    )
    diff.add_argument("--rev", metavar="REV", help="compare PATH at git revision REV with PATH")
    diff.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    diff.add_argument("--model", help="only this model")
    diff.add_argument("-o", "--output", metavar="FILE", help="write here (default: stdout)")
    diff.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    diff.set_defaults(handler=_diff)
    return parser


def _parse_sizes(items: list[str] | None) -> dict[str, int]:
    """`--size H=224,W=224` (repeatable) -> {"H": 224, "W": 224}."""
    sizes: dict[str, int] = {}
    for item in items or ():
        for part in item.split(","):
            name, equals, value = part.partition("=")
            if not equals or not name.strip() or not value.strip().isdigit():
                raise ValueError(f"--size takes NAME=VALUE with a positive integer, got {part!r}")
            if int(value) < 1:
                raise ValueError(f"--size {name.strip()} must be at least 1, got {value.strip()}")
            sizes[name.strip()] = int(value)
    return sizes


def _sizes(args) -> int:
    from archspec.shapes.sizes import render_json, render_text

    result, code = _checked_spec(args.spec)
    if result is None:
        return code
    models = _pick_models(result, args.model)
    if not models:
        _print_diagnostics(result)
        if not result.models:
            print(f"archspec: {args.spec}: no model to examine", file=sys.stderr)
        return EXIT_ERROR if result.ok or not result.models else EXIT_FINDINGS
    if args.format == "json":
        sys.stdout.write(render_json(models))
    else:
        _print_diagnostics(result)
        sys.stdout.write("\n".join(render_text(model) for model in models))
    accepted = all(m.sizes is None or m.sizes.accepted_count for m in models)
    clean = accepted and not any(d.severity == "error" for d in result.diagnostics)
    return EXIT_CLEAN if clean else EXIT_FINDINGS


def _fmt(args) -> int:
    """`archspec fmt [--check] [--diff] PATH...`: 0 clean, 1 would change or has syntax errors,
    2 a file could not be read, written or safely formatted."""
    from archspec.core.source import unified_diff
    from archspec.diagnostics.config import ConfigError, ConfigFinder
    from archspec.diagnostics.formats import render_text
    from archspec.tools.fmt import format_file

    if "-" in args.paths:
        return _fmt_stdin(args)
    finder = ConfigFinder()  # folders are searched as `check` searches them (exclude, .gitignore)
    try:
        files, problems = collect_files(
            args.paths, lambda path, below: finder.for_file(path).excludes(path, below)
        )
    except ConfigError as error:
        print(f"archspec: {error}", file=sys.stderr)
        return EXIT_ERROR
    status = EXIT_CLEAN
    for problem in problems:
        print(f"archspec: {problem}", file=sys.stderr)
        status = EXIT_ERROR
    changed = unchanged = unwritten = 0
    failed = False
    for path in files:
        outcome = format_file(path)
        if outcome.unreadable is not None:
            print(f"archspec: cannot read {path}: {outcome.unreadable}", file=sys.stderr)
            status = EXIT_ERROR
            continue
        if outcome.diagnostic is not None:
            print(render_text(outcome.diagnostic) + "\n", file=sys.stderr)
            failed = True
            continue
        if outcome.unsafe is not None:
            print(f"archspec: {path}: not formatted, {outcome.unsafe} (a bug)", file=sys.stderr)
            status = EXIT_ERROR
            continue
        if not outcome.changed:
            unchanged += 1
            continue
        if args.diff:
            sys.stdout.write(unified_diff(path, outcome.original, outcome.formatted, "formatted"))
        if args.check:
            print(f"would reformat {path}")
        elif not args.diff:
            if not _written(path, outcome.formatted):
                status, unwritten = EXIT_ERROR, unwritten + 1
                continue  # not reformatted: the summary must not count it
            print(f"reformatted {path}", file=sys.stderr)
        changed += 1
    if status == EXIT_CLEAN and (failed or (args.check and changed)):
        status = EXIT_FINDINGS
    verb = "would be reformatted" if args.check or args.diff else "reformatted"
    summary = f"{_files(changed)} {verb}, {_files(unchanged)} already formatted"
    if unwritten:
        summary += f", {_files(unwritten)} could not be written"
    if failed:
        summary += ", some not formatted (syntax errors)"
    print(summary, file=sys.stderr)
    return status


def _fmt_stdin(args) -> int:
    """`archspec fmt -`: standard input formatted onto standard output (as ruff and black do for
    editors); with --check only the exit code, with --diff the diff."""
    from archspec.core import diagnostic as diag
    from archspec.core.source import unified_diff
    from archspec.diagnostics.formats import render_text
    from archspec.tools.fmt import FormatError, format_text

    if args.paths != ["-"]:
        print("archspec: - (standard input) cannot be combined with other paths", file=sys.stderr)
        return EXIT_ERROR
    name = args.stdin_filename or "-"
    original = sys.stdin.read()
    try:
        formatted = format_text(original, name)
    except diag.ArchError as error:  # a syntax error: nothing is written
        print(render_text(error.diagnostic) + "\n", file=sys.stderr)
        return EXIT_FINDINGS
    except FormatError as error:
        print(f"archspec: {name}: not formatted, {error} (a bug)", file=sys.stderr)
        return EXIT_ERROR
    if args.diff:
        sys.stdout.write(unified_diff(name, original, formatted, "formatted"))
    elif not args.check:
        sys.stdout.write(formatted)
    return EXIT_FINDINGS if args.check and formatted != original else EXIT_CLEAN


def _files(count: int) -> str:
    return f"{count} file" if count == 1 else f"{count} files"


def _import(args) -> int:
    """Exit 0: the spec is written; 1: parts of the model cannot be written (each listed with
    its source location; --extern-unsupported writes them as externs); 2: unusable input."""
    import json

    from archspec.tools.importer import ImportFailure, import_factory
    from archspec.tools.importer.cli_support import UsageError, parse_inputs

    try:
        inputs = parse_inputs(args.input)
        kwargs = json.loads(args.kwargs) if args.kwargs else {}
        if not isinstance(kwargs, dict):
            raise UsageError("--kwargs takes a JSON object")
        imported = import_factory(
            args.factory, kwargs, inputs or None, extern_unsupported=args.extern_unsupported
        )
    except ImportFailure as failure:
        for problem in failure.problems:
            print(f"unsupported: {problem}", file=sys.stderr)
        print(
            f"archspec: {args.factory}: {len(failure.problems)} unsupported part(s); "
            "--extern-unsupported writes them as externs",
            file=sys.stderr,
        )
        return EXIT_FINDINGS
    except (UsageError, json.JSONDecodeError, ValueError, ImportError, AttributeError,
            TypeError) as error:  # fmt: skip
        print(f"archspec: {args.factory}: {error}", file=sys.stderr)
        return EXIT_ERROR
    for path, reason in imported.externs:
        print(f"extern: {path or 'the model'}: {reason}", file=sys.stderr)
    for path in imported.unbuildable:  # never silently a different model
        print(
            f"warning: extern {path or 'the model'}: its constructor takes arguments the spec "
            "cannot write (a lambda, a local class, an object that is no dataclass); the compiled "
            "spec builds it "
            "without them, so it may not compute what the original does",
            file=sys.stderr,
        )
    if not _write_output(args.output, imported.text):
        return EXIT_ERROR
    return EXIT_CLEAN


def _diff_ref(argument: str):
    from archspec.tools import revisions
    from archspec.tools.importer.cli_support import is_module_reference

    return revisions.SpecRef(argument) if is_module_reference(argument) else (
        revisions.parse_ref(argument))  # fmt: skip


def _is_module_side(ref) -> bool:
    from archspec.tools.importer.cli_support import is_module_reference

    return ref.rev is None and is_module_reference(ref.path)


def _imported_side(argument: str):
    """`mypkg:Net` on one side of a diff: the model imported (externs where needed) and
    checked, labelled with the reference."""
    from archspec.driver import check_text
    from archspec.tools.importer import ImportFailure, import_factory

    try:
        imported = import_factory(argument, extern_unsupported=True)
    except (ImportFailure, ImportError, AttributeError, TypeError, ValueError) as error:
        from archspec.tools.revisions import SpecReadError

        raise SpecReadError(f"{argument}: cannot import the model: {error}") from None
    return check_text(imported.text, argument)


def _diff(args) -> int:
    """Exit 0: no architectural difference, 1: differences (as `diff` does), 2: errors."""
    from archspec.diagnostics.formats import render_summary
    from archspec.outputs import diff
    from archspec.tools import revisions

    if args.rev is not None and len(args.specs) != 1:
        print(
            "archspec: with --rev give one PATH (archspec diff --rev HEAD x.arch)", file=sys.stderr
        )
        return EXIT_ERROR
    if args.rev is None and len(args.specs) != 2:
        print("archspec: give OLD and NEW (archspec diff old.arch new.arch)", file=sys.stderr)
        return EXIT_ERROR
    try:
        if args.rev is not None:
            refs = [revisions.SpecRef(args.specs[0], args.rev), revisions.SpecRef(args.specs[0])]
        else:
            refs = [_diff_ref(spec) for spec in args.specs]
        old, new = [
            _imported_side(ref.path) if _is_module_side(ref) else revisions.load_ref(ref)
            for ref in refs
        ]
    except revisions.SpecReadError as error:
        print(f"archspec: {error}", file=sys.stderr)
        return EXIT_ERROR
    broken = [(ref, result) for ref, result in zip(refs, (old, new)) if diff.blocking(result)]
    for ref, result in broken:
        _print_diagnostics(result)
        print(f"{ref.label}: {render_summary(result.diagnostics, 1)}", file=sys.stderr)
    if broken:
        labels = " and ".join(ref.label for ref, _ in broken)
        verb = "have" if len(broken) > 1 else "has"
        print(f"archspec: cannot diff: {labels} {verb} errors (see above)", file=sys.stderr)
        return EXIT_ERROR
    try:
        difference = diff.diff_results(old, new, refs[0].label, refs[1].label, model=args.model)
    except LookupError as error:
        print(f"archspec: {error}", file=sys.stderr)
        return EXIT_ERROR
    renderers = {"text": diff.render_text, "markdown": diff.render_markdown}
    output = renderers.get(args.format, diff.render_json)(difference)
    if not _write_output(args.output, output):
        return EXIT_ERROR
    return EXIT_FINDINGS if difference.changed else EXIT_CLEAN


def _add_check_options(check: argparse.ArgumentParser) -> None:
    from archspec.diagnostics.formats import FORMAT_ALIASES, OUTPUT_FORMATS

    check.add_argument(
        "--output-format",
        "--format",
        dest="output_format",
        choices=(*OUTPUT_FORMATS, *FORMAT_ALIASES),
        metavar="FORMAT",
        help=f"{', '.join(OUTPUT_FORMATS)} (text = full); default: $ARCHSPEC_OUTPUT_FORMAT, "
        "the configuration's output-format, or full",
    )
    check.add_argument("--output-file", metavar="PATH", help="write the output here, not stdout")
    check.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour the full format (auto: on a terminal, unless NO_COLOR; FORCE_COLOR forces)",
    )
    codes = "codes or prefixes (E202, E2, W), comma-separated or repeated"
    check.add_argument(
        "--select", action="append", metavar="CODES", help=f"report only these {codes}"
    )
    check.add_argument(
        "--extend-select", action="append", metavar="CODES", help=f"also report {codes}"
    )
    check.add_argument("--ignore", action="append", metavar="CODES", help=f"do not report {codes}")
    check.add_argument(
        "--error-on-warning",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="exit with 1 on warnings too (overrides error-on-warning in the configuration)",
    )
    check.add_argument(
        "--exit-zero", action="store_true", help="exit with 0 even when there are findings"
    )
    check.add_argument(
        "--fix",
        action="store_true",
        help="apply the safe fixes of findings marked [*], then report what remains",
    )
    check.add_argument(
        "--unsafe-fixes",
        action="store_true",
        help="with --fix: apply the fixes marked [~] too, which change the model (a layer's "
        "in_features, its parameter count): review the result",
    )
    check.add_argument(
        "--diff", action="store_true", help="with --fix: print a unified diff, write nothing"
    )
    check.add_argument(
        "--show-fixes", action="store_true", help="with --fix: list the findings fixed, by file"
    )
    check.add_argument(
        "--statistics", action="store_true", help="count the findings by rule instead of listing"
    )
    check.add_argument(
        "-q", "--quiet", action="store_true", help="the findings only: no summary line or notes"
    )
    _add_discovery_options(check)


def _add_discovery_options(check: argparse.ArgumentParser) -> None:
    """ruff's options for configuration and which files are checked."""
    check.add_argument(
        "--config",
        action="append",
        metavar="PATH|KEY=VALUE",
        help="use this configuration file instead of the nearest one, or override one setting "
        "(a TOML line: --config \"select = ['E']\"); repeatable",
    )
    patterns = "patterns (globs, comma-separated or repeated, relative to the configuration)"
    check.add_argument(
        "--exclude",
        action="append",
        metavar="PATTERNS",
        help=f"skip these {patterns}, in place of the configuration's exclude",
    )
    check.add_argument(
        "--extend-exclude", action="append", metavar="PATTERNS", help=f"also skip these {patterns}"
    )
    check.add_argument(
        "--force-exclude",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="apply exclude to files named on the command line too (as pre-commit names them)",
    )
    check.add_argument(
        "--respect-gitignore",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="skip what .gitignore files ignore when searching folders (default: on)",
    )
    check.add_argument(
        "--no-dependents",
        action="store_true",
        help="check only the files named, not the specs in the project that import them",
    )
    check.add_argument(
        "--stdin-filename",
        metavar="PATH",
        help="with -: the name the text read from standard input is checked under",
    )


def _check(args) -> int:
    from archspec.core import diagnostic as diag
    from archspec.core.memory import freeze_startup
    from archspec.diagnostics import formats
    from archspec.diagnostics.config import ConfigError

    if args.exits_after:  # its imports' objects live until the exit: no collection walks them
        freeze_startup()
    refusal = _check_option_conflicts(args)
    if refusal is not None:
        print(f"archspec: {refusal}", file=sys.stderr)
        return EXIT_ERROR
    try:
        run = _CheckRun(args)
        output_format = _output_format(args.output_format, run.finder)
        files, problems = run.discover()
    except ConfigError as error:
        print(f"archspec: {error}", file=sys.stderr)
        return EXIT_ERROR
    for problem in problems:
        print(f"archspec: {problem}", file=sys.stderr)
    report_stream = sys.stdout
    try:
        if args.paths == ["-"]:
            text = run.check_stdin(sys.stdin.read(), files)
            if args.fix:  # standard output is the fixed text; the report goes to standard error
                sys.stdout.write(text)
                report_stream = sys.stderr
        else:
            for path in files:
                run.check_path(path, fix=args.fix)
            if not args.no_dependents:
                run.check_dependents(files)
    except ConfigError as error:
        print(f"archspec: {error}", file=sys.stderr)
        return EXIT_ERROR
    problems += run.problems
    if run.dependents and not args.quiet:
        shown = ", ".join(run.dependents)
        print(f"archspec: also checked {_files(len(run.dependents))} importing the files named "
              f"(--no-dependents to skip): {shown}", file=sys.stderr)  # fmt: skip
    if args.fix and not args.quiet:
        verb = "would fix" if args.diff else "fixed"
        files_text = _files(run.fixed_files)
        print(f"archspec: {verb} {run.fixed} finding{'s' * (run.fixed != 1)} in {files_text}",
              file=sys.stderr)  # fmt: skip
    if args.show_fixes and run.fixed_codes:
        sys.stderr.write(formats.render_fixed(run.fixed_codes))
    if args.diff:
        return EXIT_ERROR if problems else (EXIT_FINDINGS if run.fixed else EXIT_CLEAN)
    if problems and not run.checked and output_format in ("full", "concise"):
        return EXIT_ERROR  # "checked 0 files: no problems" would read as a pass
    diagnostics = diag.sorted_diagnostics(run.reporter.diagnostics)
    to_file = args.output_file is not None
    # A report file is coloured only on --color always (FORCE_COLOR is for terminals and CI logs).
    stream = None if to_file else report_stream
    color = output_format == "full" and (args.color == "always" or _use_color(args.color, stream))
    if args.statistics:
        output = formats.render_statistics(diagnostics, output_format)
    else:
        output = formats.render(
            diagnostics,
            run.checked,
            output_format,
            color=color,
            root=formats.repository_root(os.getcwd()),
            summary=not args.quiet,
        )
    if to_file:
        try:
            write_file(args.output_file, output)
        except OSError as error:
            print(
                f"archspec: cannot write {args.output_file}: {error.strerror or error}",
                file=sys.stderr,
            )
            return EXIT_ERROR
    else:
        report_stream.write(output)
    if problems:
        return EXIT_ERROR
    if args.exit_zero:
        return EXIT_CLEAN
    return EXIT_FINDINGS if run.failing else EXIT_CLEAN


def _check_option_conflicts(args) -> str | None:
    """Why these `check` options cannot go together, or None."""
    if args.diff and not args.fix:
        return "--diff goes with --fix (archspec check --fix --diff PATH)"
    if args.unsafe_fixes and not args.fix:
        return "--unsafe-fixes goes with --fix (archspec check --fix --unsafe-fixes PATH)"
    if "-" in args.paths and args.paths != ["-"]:
        return "- (standard input) cannot be combined with other paths"
    if args.paths == ["-"] and args.fix and args.diff:
        return "--fix --diff does not read standard input (--fix - writes the fixed text)"
    if args.stdin_filename is not None and args.paths != ["-"]:
        return "--stdin-filename names what `-` reads (archspec check --stdin-filename x.arch -)"
    return None


class _CheckRun:
    """One `archspec check`: the configuration, the files, and what checking them found."""

    def __init__(self, args) -> None:
        from archspec.core import diagnostic as diag
        from archspec.diagnostics.config import (
            ConfigError,
            ConfigFinder,
            Overrides,
            parse_override,
            split_selectors,
        )

        self.args = args
        config_file, overrides = None, {}
        for value in args.config or ():
            if os.path.isfile(value) or "=" not in value:
                if config_file is not None:
                    raise ConfigError("--config PATH is given twice; name one file")
                config_file = value
            else:
                overrides.update(parse_override(value))
        if args.exclude is not None:
            overrides["exclude"] = _split_patterns(args.exclude)
        for name in ("force_exclude", "respect_gitignore"):
            if getattr(args, name) is not None:
                overrides[name] = getattr(args, name)
        extend_exclude = _split_patterns(args.extend_exclude) or ()
        self.finder = ConfigFinder(config_file, overrides, extend_exclude)
        self.overrides = Overrides(
            select=split_selectors(args.select, "--select"),
            extend_select=split_selectors(args.extend_select, "--extend-select") or (),
            ignore=split_selectors(args.ignore, "--ignore") or (),
            error_on_warning=args.error_on_warning,
        )
        here = self.finder.for_folder(os.getcwd())
        self.force_exclude = bool(here.force_exclude)
        self.respect_gitignore = here.respect_gitignore is not False
        self.reporter = diag.Reporter()
        self.failing = False
        self.checked = 0
        self.problems: list[str] = []
        self.dependents: list[str] = []
        self.importable: list[str] = []  # checked files that others may import
        self.fixed = self.fixed_files = 0
        self.fixed_codes: dict[str, dict[str, int]] = {}  # file -> code -> findings fixed

    def excludes(self, path: str, below: str | None) -> bool:
        return self.finder.for_file(path).excludes(path, below)

    def discover(self) -> tuple[list[str], list[str]]:
        if self.args.paths == ["-"]:
            name = self.args.stdin_filename
            excluded = name is not None and self.force_exclude and self.excludes(name, None)
            return ([] if excluded else [name or "-"]), []
        return collect_files(
            self.args.paths or ["."],
            self.excludes,
            respect_gitignore=self.respect_gitignore,
            force_exclude=self.force_exclude,
        )

    def settings(self, path: str):
        from archspec.diagnostics.config import resolve

        return resolve(self.finder.for_file(path), self.overrides)

    def check_path(self, path: str, fix: bool) -> None:
        from archspec.core import diagnostic as diag
        from archspec.driver import check_file

        settings = self.settings(path)
        options = {
            "budgets": settings.config.budget_for,
            "enable": settings.enabled & diag.OPT_IN_CODES,
        }
        try:
            if fix:
                result, fixed, codes = _fix_file(
                    path, settings, options, self.args.diff, self.args.unsafe_fixes
                )
                self._count_fixes(path, fixed, codes)
                if self.args.diff:
                    return
            else:
                result = check_file(path, **options)
        except OSError as error:
            self.problems.append(path)
            action = "write" if isinstance(error, _NotWritten) else "read"
            print(f"archspec: cannot {action} {path}: {error.strerror or error}", file=sys.stderr)
            return
        self._report(result, settings)

    def check_stdin(self, text: str, files: list[str]) -> str:
        """Check standard input's text; the text to write back with --fix (as ruff does: the
        fixed text on standard output, the report on standard error)."""
        from archspec.core import diagnostic as diag
        from archspec.driver import check_text

        for name in files:  # one, or none when --force-exclude excludes --stdin-filename
            settings = self.settings(name)
            options = {
                "budgets": settings.config.budget_for,
                "enable": settings.enabled & diag.OPT_IN_CODES,
            }
            if self.args.fix:
                result, text, count, codes = _fix_text(
                    text, name, settings, options, self.args.unsafe_fixes
                )
                self._count_fixes(name, count, codes)
            else:
                result = check_text(text, name, **options)
            self._report(result, settings)
        return text

    def check_dependents(self, files: list[str]) -> None:
        """Check the specs that import the checked files (a changed block breaks its users)."""
        from archspec.tools.files import find_dependents

        if not self.importable:
            return  # only models were checked: nothing imports a model
        found = find_dependents(
            self.importable, self.excludes, respect_gitignore=self.respect_gitignore
        )
        named = {os.path.realpath(path) for path in files}
        self.dependents = [path for path in found if os.path.realpath(path) not in named]
        for path in self.dependents:
            self.check_path(path, fix=False)  # --fix rewrites the files named, no others

    def _report(self, result, settings) -> None:
        self.checked += 1
        if _importable(result):
            self.importable.append(result.path)
        reported = [d for d in result.diagnostics if settings.reports(d)]
        self.failing = self.failing or any(settings.fails(d) for d in reported)
        self.reporter.extend(reported)

    def _count_fixes(self, path: str, count: int, codes: Counter) -> None:
        self.fixed, self.fixed_files = self.fixed + count, self.fixed_files + bool(count)
        if codes:
            self.fixed_codes[path] = dict(codes)


def _importable(result) -> bool:
    """Whether other specs may import from this checked file: it defines something besides
    models (a file of models only needs no search for its importers), or nothing at all (a
    library emptied of its blocks breaks them). A file that did not parse fails on its own."""
    if result.loaded is None:
        return False
    return {definition.kind for definition in result.loaded.local} != {"model"}


def _split_patterns(values: list[str] | None) -> tuple[str, ...] | None:
    """`--exclude a,b --exclude c` -> ("a", "b", "c"); None when the option is not given."""
    if values is None:
        return None
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


_BOM = b"\xef\xbb\xbf"


class _NotWritten(OSError):
    """`check --fix` fixed a file but could not write it back (read-only, ...)."""


def _fix_file(path: str, settings, options: dict, diff: bool, unsafe: bool = False):
    """Fix one file until nothing fixable is left; (the check of the final text, fixes used,
    the findings gone by code). Only safe fixes, unless `unsafe` (--unsafe-fixes).

    Writes the file (atomically) unless `diff`, which prints a unified diff instead. A file that
    is not UTF-8 is only checked; one with syntax errors is never changed (see apply_fixes).
    """
    from archspec.core.source import unified_diff
    from archspec.driver import check_file
    from archspec.elaborate.loader import read_spec_file

    data = read_spec_file(path)  # a regular file only: a named pipe would block
    bom = _BOM if data.startswith(_BOM) else b""
    try:
        original = data[len(bom) :].decode("utf-8")
    except UnicodeDecodeError:
        return check_file(path, **options), 0, Counter()
    result, text, total, codes = _fix_text(original, path, settings, options, unsafe)
    if text == original:
        return result, 0, Counter()
    if diff:
        sys.stdout.write(unified_diff(path, original, text, "fixed"))
    else:
        try:
            write_file(path, bom + text.encode("utf-8"))
        except OSError as error:
            raise _NotWritten(error.errno, error.strerror or str(error), path) from error
    return result, total, codes


def _fix_text(original: str, path: str, settings, options: dict, unsafe: bool):
    """Fix a spec's text until nothing fixable is left: (the check of the final text, the final
    text, fixes used, the findings gone by code)."""
    from archspec.driver import check_text
    from archspec.tools.fixes import MAX_PASSES, apply_fixes

    text, total = original, 0
    result = check_text(text, path, **options)
    before = Counter(d.code for d in result.diagnostics if settings.reports(d))
    for _ in range(MAX_PASSES):
        reported = [d for d in result.diagnostics if settings.reports(d)]
        text_after, used = apply_fixes(text, reported, path, unsafe=unsafe)
        if not used or text_after == text:
            break
        text, total = text_after, total + used
        result = check_text(text, path, **options)
    after = Counter(d.code for d in result.diagnostics if settings.reports(d))
    return result, text, total, before - after


def _output_format(chosen: str | None, finder) -> str:
    """The command line's format, else $ARCHSPEC_OUTPUT_FORMAT, else the configuration's."""
    from archspec.diagnostics.config import ConfigError
    from archspec.diagnostics.formats import OUTPUT_FORMATS, canonical_format

    if chosen is not None:
        return canonical_format(chosen)
    from_environment = os.environ.get("ARCHSPEC_OUTPUT_FORMAT", "").strip()
    if from_environment:
        if canonical_format(from_environment) is None:
            raise ConfigError(
                f"ARCHSPEC_OUTPUT_FORMAT={from_environment!r} is no output format "
                f"(choose from {', '.join(OUTPUT_FORMATS)})"
            )
        return canonical_format(from_environment)
    return finder.for_folder(os.getcwd()).output_format or "full"


def _use_color(choice: str, stream) -> bool:
    """--color always/never decide; auto: NO_COLOR turns it off, FORCE_COLOR on, else a TTY."""
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR"):
        return False
    if stream is None:
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return hasattr(stream, "isatty") and stream.isatty()


def _rule(args) -> int:
    from archspec.core.diagnostic import CODES
    from archspec.core.names import did_you_mean as suggest
    from archspec.diagnostics.rules import rule_list, rule_text, rules_markdown

    if args.code is not None and (args.all or args.markdown):
        print("archspec: give a CODE or --all/--markdown, not both", file=sys.stderr)
        return EXIT_ERROR
    if args.markdown:
        sys.stdout.write(rules_markdown())
        return EXIT_CLEAN
    if args.all:
        print(rule_list())
        return EXIT_CLEAN
    if args.code is None:
        print("archspec: name a rule (archspec rule E202) or pass --all", file=sys.stderr)
        return EXIT_ERROR
    by_name = {rule.name: code for code, rule in CODES.items()}
    code = args.code.strip().upper() if args.code.strip().upper() in CODES else None
    code = code or by_name.get(args.code.strip().lower())
    if code is None:
        # a letter typed for a digit (E2O2, W0l1) is the likeliest slip: undo it before guessing
        typed = args.code.strip().upper()
        digits = typed[:1] + typed[1:].translate(str.maketrans("OIL", "011"))
        hint = (
            f" (did you mean '{digits}'?)"
            if digits in CODES
            else suggest(typed, CODES) or suggest(args.code.lower(), by_name)
        )
        print(
            f"archspec: no rule '{args.code}'{hint}; archspec rule --all lists them",
            file=sys.stderr,
        )
        return EXIT_ERROR
    print(rule_text(code))
    return EXIT_CLEAN


def _compile(args) -> int:
    from archspec.diagnostics import formats
    from archspec.driver import check_file
    from archspec.outputs.codegen import CodegenError, generate

    if not os.path.lexists(args.spec):
        print(f"archspec: {args.spec}: no such file", file=sys.stderr)
        return EXIT_ERROR
    try:
        result = check_file(args.spec)  # only a regular file is read; anything else is OSError
    except OSError as error:
        print(f"archspec: cannot read {args.spec}: {error.strerror or error}", file=sys.stderr)
        return EXIT_ERROR
    # Diagnostics go to stderr: stdout may be the generated code.
    for diagnostic in result.diagnostics:
        print(formats.render_text(diagnostic) + "\n", file=sys.stderr)
    if not result.ok:
        summary = formats.render_summary(result.diagnostics, 1)
        print(summary + "; nothing written", file=sys.stderr)
        return EXIT_FINDINGS
    if _refused_for_hidden_errors(result, "nothing written"):
        return EXIT_FINDINGS
    if args.to == "onnx":
        return _compile_onnx(args, result)
    try:
        source = generate(result, specialize=args.specialize)
    except CodegenError as error:
        print(f"archspec: {error.message}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_CLEAN if _write_output(args.output, source) else EXIT_ERROR


def _compile_onnx(args, result) -> int:
    """`archspec compile SPEC --to onnx -o FILE.onnx`: the model built and exported by torch."""
    from archspec.api import SpecError, build
    from archspec.outputs.codegen import CodegenError
    from archspec.outputs.onnx import OnnxExportError, export

    if args.output in (None, "-"):
        print("archspec: --to onnx writes a file: give -o FILE.onnx", file=sys.stderr)
        return EXIT_ERROR
    if len(result.models) != 1:
        names = ", ".join(m.name for m in result.models)
        print(f"archspec: an ONNX file holds one model; {args.spec} has {names}", file=sys.stderr)
        return EXIT_ERROR
    try:
        module = build(args.spec)
        export(module, result.models[0], args.output)
    except ImportError as error:
        print(f"archspec: --to onnx needs torch ({error.name} is missing)", file=sys.stderr)
        return EXIT_ERROR
    except (OnnxExportError, CodegenError) as error:
        print(f"archspec: {getattr(error, 'message', error)}", file=sys.stderr)
        return EXIT_ERROR
    except SpecError as error:
        print(f"archspec: {error}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_CLEAN


def _verify(args) -> int:
    """`archspec verify SPEC`: the check's findings, then the externs' (imports, contracts)."""
    from archspec.api import SpecError, verify
    from archspec.diagnostics import formats

    result, code = _checked_spec(args.spec)
    if result is None:
        return code
    for diagnostic in result.diagnostics:
        print(formats.render_text(diagnostic) + "\n")
    if not result.ok or _refused_for_hidden_errors(result, "nothing verified"):
        print(formats.render_summary(result.diagnostics, 1) + "; nothing verified")
        return EXIT_FINDINGS
    if not _pick_models(result, args.model):
        return EXIT_ERROR
    try:
        found = verify(args.spec, args.model)
    except SpecError as error:  # an extern that does not import, or is no nn.Module
        found = error.diagnostics
    for diagnostic in found:
        print(formats.render_text(diagnostic) + "\n")
    if found:
        print(f"verified {args.spec}: {len(found)} extern problem(s)")
        return EXIT_FINDINGS
    print(f"verified {args.spec}: every extern keeps its contract")
    return EXIT_CLEAN


def _write_output(path: str | None, content: str | bytes) -> bool:
    """Write a command's output to the file `path` (safely: tools/files.py's write_file), or to
    standard output when `path` is None or `-`. False, once the reason is printed, when the file
    cannot be written."""
    if path is None or path == "-":
        if isinstance(content, bytes):
            sys.stdout.flush()  # text already written goes first
            sys.stdout.buffer.write(content)
            sys.stdout.buffer.flush()
        else:
            sys.stdout.write(content)
        return True
    return _written(path, content)


def _written(path: str, content: str | bytes) -> bool:
    """write_file, or False once the reason is printed."""
    try:
        write_file(path, content)
    except OSError as error:
        print(f"archspec: cannot write {path}: {error.strerror or error}", file=sys.stderr)
        return False
    return True


def _checked_spec(path: str):
    """Check a spec for graph/summary; (result, exit code or None to go on)."""
    from archspec.driver import check_file

    if not os.path.lexists(path):
        print(f"archspec: {path}: no such file", file=sys.stderr)
        return None, EXIT_ERROR
    try:
        return check_file(path), None  # only a regular file is read; anything else is OSError
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


def _refused_for_hidden_errors(result, outcome: str) -> bool:
    """Report the suppressed errors that leave the model incomplete (to stderr); whether any did.
    A suppression hides a report, so `check` passes, but no output can be made from a layer
    without a shape."""
    from archspec.diagnostics.formats import render_text

    hidden = result.hidden_errors
    for diagnostic in hidden:
        print(render_text(diagnostic) + "\n", file=sys.stderr)
    if hidden:
        where = ", ".join(f"line {d.primary.span.line}" for d in hidden)
        count = "1 suppressed error" if len(hidden) == 1 else f"{len(hidden)} suppressed errors"
        verb = "leaves" if len(hidden) == 1 else "leave"
        print(f"archspec: {result.path}: {count} ({where}) {verb} the model incomplete; {outcome}",
              file=sys.stderr)  # fmt: skip
    return bool(hidden)


def _print_diagnostics(result) -> None:
    from archspec.diagnostics.formats import render_text

    for diagnostic in result.diagnostics:
        print(render_text(diagnostic) + "\n", file=sys.stderr)


def _graph(args) -> int:
    from archspec.outputs.render import FORMATS, RenderError, render, to_dot

    result, code = _checked_spec(args.spec)
    if result is None:
        return code
    _print_diagnostics(result)  # a spec with errors is still drawn, errors in red
    models = _pick_models(result, args.model)
    if not models:
        if not result.models:
            print(f"archspec: {args.spec}: no model to draw", file=sys.stderr)
        return EXIT_ERROR
    fmt = args.format or _graph_format(args.output)
    if fmt not in FORMATS:
        chosen = f"--format {fmt}" if args.format else f"the extension of {args.output}"
        print(
            f"archspec: cannot draw {chosen}: write {', '.join(FORMATS)} (or pass --format)",
            file=sys.stderr,
        )
        return EXIT_ERROR
    if args.output is None and fmt != "dot":
        print(f"archspec: {fmt} is binary: write it with -o FILE (or -o - to pipe it)",
              file=sys.stderr)  # fmt: skip
        return EXIT_ERROR
    # Suppressed errors are drawn too: the graph stops at them, and must show where and why.
    incomplete = _refused_for_hidden_errors(result, "drawn up to the errors, marked")
    marked = [*result.diagnostics, *result.hidden_errors]
    sources = [to_dot(model, marked, args.depth) for model in models]
    if len(sources) > 1 and (args.output not in (None, "-") or fmt != "dot"):
        print("archspec: the file has several models; pick one with --model", file=sys.stderr)
        return EXIT_ERROR
    try:
        payloads = [render(source, fmt) for source in sources]
    except RenderError as error:
        print(f"archspec: {error}", file=sys.stderr)
        return EXIT_ERROR
    # DOT is text (several models: one graph after another); other formats are one binary file.
    payload = "\n".join(p.decode("utf-8") for p in payloads) if fmt == "dot" else payloads[0]
    if not _write_output(args.output, payload):
        return EXIT_ERROR
    return EXIT_CLEAN if result.ok and not incomplete else EXIT_FINDINGS


def _graph_format(output: str | None) -> str:
    """The format an output file's extension asks for (`net.svg` -> svg); dot for standard
    output or a name without an extension."""
    if output is None or output == "-":
        return "dot"
    extension = os.path.splitext(output)[1]
    return extension.lstrip(".").lower() if extension else "dot"


def _summary(args) -> int:
    from archspec.outputs.summary import (
        SizeError,
        render_json,
        render_markdown,
        render_text,
        summarize,
    )

    result, code = _checked_spec(args.spec)
    if result is None:
        return code
    if args.batch < 1:
        print("archspec: --batch must be at least 1", file=sys.stderr)
        return EXIT_ERROR
    _print_diagnostics(result)
    if not result.ok or _refused_for_hidden_errors(result, "no summary"):
        return EXIT_FINDINGS
    models = _pick_models(result, args.model)
    if not models:
        if not result.models:
            print(f"archspec: {args.spec}: no model to summarize", file=sys.stderr)
        return EXIT_ERROR
    try:
        sizes = _parse_sizes(args.size)
        summaries = [summarize(model, args.batch, sizes) for model in models]
    except (SizeError, ValueError) as error:
        print(f"archspec: {error}", file=sys.stderr)
        return EXIT_ERROR
    if args.format == "json":
        sys.stdout.write(render_json(summaries))
    elif args.format == "markdown":
        sys.stdout.write("\n".join(render_markdown(s) for s in summaries))
    else:
        sys.stdout.write("\n".join(render_text(s) for s in summaries))
    return EXIT_CLEAN
