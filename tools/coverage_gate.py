"""Per-file coverage gate: the modules in FULL must have 100 % branch coverage.

coverage.py (and pytest-cov's `--cov-fail-under`) only know one total; this gate holds the core
modules to every line and branch. Two ways in:

    python -m pytest --cov -p tools.coverage_gate ...   # as a pytest plugin (`make test` does this)
    python tools/coverage_gate.py [DATA_FILE]            # on a finished run's data file

As a plugin it runs after pytest-cov has combined the workers' data, prints what each module misses
below pytest-cov's report, and makes the session fail (exit code 1) when one falls short.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Modules that must be covered completely (globs relative to the repository root).
FULL = (
    "archspec/core/diagnostic.py",
    "archspec/core/records.py",
    "archspec/shapes/infer.py",
    "archspec/ops/*.py",
)


def full_coverage_files(root: Path = ROOT) -> list[Path]:
    return sorted({path for pattern in FULL for path in root.glob(pattern)})


def shortfalls(cov, files: list[Path]) -> tuple[list[str], str]:
    """(one line per module below 100 %, coverage's table of what those modules miss)."""
    from coverage.exceptions import NoDataError

    problems, short = [], []
    for path in files:
        relative = path.relative_to(ROOT).as_posix()
        try:
            percent = cov.report(include=[str(path)], file=io.StringIO(), precision=2)
        except NoDataError:  # never imported while measuring
            percent = 0.0
        if percent < 100:
            problems.append(f"{relative}: {percent:.2f}% of lines and branches covered, needs 100%")
            short.append(str(path))
    table = ""
    if short:
        stream = io.StringIO()
        try:
            cov.report(
                include=short, file=stream, show_missing=True, skip_covered=True, precision=2
            )
        except NoDataError:
            pass
        table = stream.getvalue()
    return problems, table


def _message(problems: list[str], table: str) -> str:
    lines = ["coverage gate: these modules must be covered completely (tools/coverage_gate.py):"]
    lines += [f"  {problem}" for problem in problems]
    if table:
        lines += ["", table.rstrip()]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- pytest plugin

# (module shortfalls, coverage's table of them, a warning instead of a verdict)
_FOUND = pytest.StashKey[tuple]()


def _coverage(config):
    plugin = config.pluginmanager.getplugin("_cov")
    controller = getattr(plugin, "cov_controller", None)
    return None if controller is None else controller.cov


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """`@pytest.mark.no_cover` tests run untraced in xdist workers too: pytest-cov pauses only its
    worker's own Coverage, while another one started in the worker keeps tracing. Timed tests and
    torch's compilers then run at full speed."""
    if item.get_closest_marker("no_cover") is None:
        return (yield)
    from coverage import Coverage

    running = []
    while (current := Coverage.current()) is not None:
        current.stop()
        running.append(current)
    try:
        return (yield)
    finally:
        for cov in reversed(running):
            cov.start()


# tryfirst makes this the outermost wrapper: the code after `yield` runs after pytest-cov's, once
# the workers' data is combined (and early enough to turn the session's exit code into a failure).
@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtestloop(session):
    result = yield
    config = session.config
    if getattr(config, "workerinput", None) is not None or config.option.collectonly:
        return result
    cov = _coverage(config)
    if cov is None:
        config.stash[_FOUND] = ([], "", "no coverage data: run pytest with --cov")
        return result
    problems, table = shortfalls(cov, full_coverage_files())
    config.stash[_FOUND] = (problems, table, None)
    if problems:
        session.testsfailed += 1  # exit code 1, as pytest-cov does for --cov-fail-under
    return result


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter, config):
    found = config.stash.get(_FOUND, None)
    if found is None:
        return
    problems, table, warning = found
    if warning:
        terminalreporter.write_line(f"coverage gate: {warning}", yellow=True)
    elif problems:
        terminalreporter.write(_message(problems, table), red=True, bold=True)
    else:
        count = len(full_coverage_files())
        terminalreporter.write_line(
            f"coverage gate: {count} modules fully covered ({', '.join(FULL)})", green=True
        )


# ---------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    import coverage

    args = sys.argv[1:] if argv is None else argv
    data_file = args[0] if args else None
    cov = coverage.Coverage(data_file=data_file, config_file=str(ROOT / "pyproject.toml"))
    cov.load()
    problems, table = shortfalls(cov, full_coverage_files())
    if problems:
        sys.stdout.write(_message(problems, table))
        return 1
    print(f"coverage gate: {len(full_coverage_files())} modules fully covered")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
