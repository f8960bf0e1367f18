"""Coverage-guided fuzzing of the checker and the formatter with atheris (libFuzzer).

    make fuzz-atheris                      # bounded run (FUZZ_SECONDS, default 120)
    .venv/bin/python benchmarks/fuzz_atheris.py build/fuzz/corpus -max_total_time=60

Each input is a file's bytes: it is checked (diagnostics must lie inside the file, every output
format must render), and, when it is UTF-8, formatted (the result must format to itself). The
shipped specs seed the corpus. A crash leaves `crash-*` beside the working directory; turn it
into a regression test (tests/golden/fuzz/, run by tests/test_fuzz.py).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["archspec"]):
    from archspec.core import diagnostic as diag
    from archspec.diagnostics.formats import OUTPUT_FORMATS, render
    from archspec.driver import _finish, check_text
    from archspec.elaborate.loader import Loader
    from archspec.tools.fmt import format_text

ROOT = Path(__file__).resolve().parent.parent


def check_bytes(data: bytes):
    reporter = diag.Reporter()
    loaded = Loader(reporter).load_bytes("fuzz.arch", data)
    return _finish("fuzz.arch", loaded, reporter, {})


def assert_inside(span) -> None:
    source = span.source
    assert 0 <= span.start <= span.end <= len(source.text), span
    assert 1 <= span.line <= source.line_count, span
    assert 1 <= span.column <= len(source.line_text(span.line)) + 1, span


def test_one_input(data: bytes) -> None:
    result = check_bytes(data)
    for diagnostic in result.diagnostics:
        assert diagnostic.code in diag.CODES, diagnostic.code
        for label in diagnostic.labels:
            assert_inside(label.span)
    for output_format in OUTPUT_FORMATS:
        render(result.diagnostics, 1, output_format)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return
    try:
        formatted = format_text(text, "fuzz.arch")
    except diag.ArchError:
        return  # syntax errors: not formatted, reported
    assert format_text(formatted, "fuzz.arch") == formatted, "fmt is not idempotent"
    check_text(formatted, "fuzz.arch")


def seed_corpus(folder: str) -> None:
    os.makedirs(folder, exist_ok=True)
    for path in sorted(ROOT.glob("specs/**/*.arch")) + sorted(ROOT.glob("examples/*.arch")):
        target = Path(folder, "seed-" + path.name)
        if not target.exists():
            target.write_bytes(path.read_bytes())


def main() -> None:
    folders = [a for a in sys.argv[1:] if not a.startswith("-")]
    for folder in folders[:1]:
        seed_corpus(folder)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
