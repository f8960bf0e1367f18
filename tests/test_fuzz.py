"""Fuzzing the command line: grammar-generated programs and mutated shipped specs go through
`archspec check/compile/fmt/graph/summary` in-process; every one ends in a clean result or in
diagnostics located inside the file, never in a traceback or an exit 2 (internal error).

The default profile is bounded for `make test`; `ARCHSPEC_FUZZ=long` (`make fuzz`) runs the
long one (ARCHSPEC_FUZZ_EXAMPLES sets its case count). Determinism of `archspec check`'s output
(every format, hash seeds, file order) is tested at the end of the file.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark
from lark import Lark

from archspec.cli import main
from archspec.core.diagnostic import CODES
from archspec.diagnostics.formats import OUTPUT_FORMATS
from archspec.driver import check_file
from archspec.tools.fmt import format_text

ROOT = Path(__file__).resolve().parent.parent

# ---------------------------------------------------------------- profiles

LONG = os.environ.get("ARCHSPEC_FUZZ", "") == "long"
LONG_EXAMPLES = int(os.environ.get("ARCHSPEC_FUZZ_EXAMPLES", "100000"))

# Share of the long run's cases per property (they add up to 1).
SHARES = {"grammar": 0.4, "mutation": 0.4, "bytes": 0.2}
DEFAULT_EXAMPLES = {"grammar": 250, "mutation": 200, "bytes": 100}


def fuzz_settings(kind: str):
    if LONG:
        examples = max(1, int(LONG_EXAMPLES * SHARES[kind]))
        return settings(
            max_examples=examples,
            deadline=None,
            derandomize=False,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    return settings(
        max_examples=DEFAULT_EXAMPLES[kind],
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


# ---------------------------------------------------------------- driving the command line


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def file_lines(data: bytes) -> list[str]:
    """The lines diagnostics count in: UTF-8 (bad bytes one character each), no BOM."""
    return data.decode("utf-8", "replace").removeprefix("\ufeff").split("\n")


def assert_inside(location: dict, files: dict[str, bytes]) -> None:
    assert location["file"] in files, location
    lines = file_lines(files[location["file"]])
    line, column = location["line"], location["column"]
    end_line, end_column = location["end_line"], location["end_column"]
    assert 1 <= line <= end_line <= len(lines), (location, len(lines))
    assert 1 <= column <= len(lines[line - 1]) + 1, location
    assert 1 <= end_column <= len(lines[end_line - 1]) + 1, location
    if end_line == line:
        assert column <= end_column, location


def exercise(data: bytes, siblings: dict[str, bytes] | None = None) -> dict[str, int]:
    """Run every file-reading subcommand on `data` (beside `siblings`, for imports) in a fresh
    folder; assert the invariants; return the exit codes by subcommand."""
    with tempfile.TemporaryDirectory(prefix="archspec-fuzz-") as folder:
        spec = os.path.join(folder, "spec.arch")
        files = {spec: data}
        for name, content in (siblings or {}).items():
            files[os.path.join(folder, name)] = content
        for path, content in files.items():
            with open(path, "wb") as handle:
                handle.write(content)
        codes = {}

        code, out, err = run_cli(["check", "--output-format", "json", spec])
        assert code in (0, 1), (code, err)
        report = json.loads(out)
        assert report["files"] == 1
        for diagnostic in report["diagnostics"]:
            assert diagnostic["code"] in CODES
            assert_inside(diagnostic["location"], files)
            for label in diagnostic["labels"]:
                assert_inside(label, files)
            for edit in (diagnostic["fix"] or {}).get("edits", ()):
                assert_inside(edit, files)
        assert (code == 1) == (report["errors"] > 0), report
        codes["check"] = code
        # A suppressed error passes `check` but still keeps compile/summary from making output.
        has_errors = report["errors"] > 0 or not check_file(spec).complete

        output = os.path.join(folder, "out.py")
        code, out, err = run_cli(["compile", spec, "-o", output])
        if code == 2:
            assert "defines no model" in err, err
            assert not has_errors
        else:
            assert code == (1 if has_errors else 0), (code, err)
            assert os.path.exists(output) == (code == 0)
        codes["compile"] = code

        code, out, err = run_cli(["graph", spec, "-o", os.path.join(folder, "out.dot")])
        if code == 2:  # usage errors: nothing to draw, or -o FILE with several models
            assert "no model to draw" in err or "pick one with --model" in err, err
        else:
            assert code == (1 if has_errors else 0), (code, err)
            dot = Path(folder, "out.dot").read_text("utf-8")
            assert dot.startswith("digraph") and dot.rstrip().endswith("}")
        codes["graph"] = code

        code, out, err = run_cli(["summary", spec])
        if code == 2:
            assert not has_errors and "no model to summarize" in err, err
        else:
            assert code == (1 if has_errors else 0), (code, err)
            assert bool(out) == (code == 0)
        codes["summary"] = code

        code, out, err = run_cli(["fmt", spec])  # last: it rewrites the file
        assert code in (0, 1), (code, err)
        if code == 0:
            code_again, _, err_again = run_cli(["fmt", "--check", spec])
            assert code_again == 0, f"fmt is not idempotent: {err_again}"
        codes["fmt"] = code
        return codes


# ---------------------------------------------------------------- (a) grammar-generated programs


def grammar_text() -> str:
    return (ROOT / "archspec" / "syntax" / "grammar" / "arch.lark").read_text("utf-8")


@pytest.fixture(scope="module")
def fresh_parser() -> Lark:
    return build_parser()


def build_parser() -> Lark:
    # As archspec/syntax/parser.py builds it, without the disk cache (from_lark reads .grammar).
    return Lark(
        grammar_text(),
        parser="lalr",
        propagate_positions=True,
        maybe_placeholders=True,
        start=["start", "test"],
    )


_PARSER = build_parser()
_NAME = re.compile(r"[^\W\d]\w*")
KEYWORDS = frozenset(
    t.pattern.value
    for t in _PARSER.terminals
    if t.pattern.type == "str" and _NAME.fullmatch(t.pattern.value)
)
assert {"model", "block", "if", "in", "not", "return"} <= KEYWORDS

NAMES = [
    *"x h y z N C H W B M c i j n s k".split(),
    *"Conv2d ReLU Linear BatchNorm2d MaxPool2d AdaptiveAvgPool2d Sequential Dropout".split(),
    *"relu flatten view cat range len max min padding stride kernel_size inplace".split(),
    "True", "False", "None", "é", "_",
]  # fmt: skip


def padded(strategy: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Every token stands between spaces, so no keyword ever touches a name or number."""
    return strategy.map(lambda token: f" {token} ")


def grammar_strategy() -> st.SearchStrategy[str]:
    random_name = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,5}", fullmatch=True)
    name = st.one_of(st.sampled_from(NAMES), random_name).filter(lambda n: n not in KEYWORDS)
    integer = st.one_of(
        st.integers(0, 16).map(str),
        st.sampled_from(["64", "224", "1000", "1_000", "4096", "10000000000"]),
    )
    floating = st.sampled_from(["0.5", "1e-3", "2.e1", ".25", "1e999", "3.0e2"])  # no "2."
    string = st.sampled_from(['"same"', "'valid'", '"lay{i}"', '"{"', '"a b"', "''", r'"\n"'])
    explicit = {
        "NAME": padded(name),
        "INT": padded(integer),
        "FLOAT": padded(floating),
        "STRING": padded(string),
        "COMMENT": st.sampled_from(["# c\n", "#\n", "# archspec: noqa\n", "# noqa: E202\n"]),
        "DTYPE": padded(st.sampled_from(["float32", "int64", "bool", "bfloat16"])),
    }
    for terminal in _PARSER.terminals:
        if terminal.name in explicit:
            continue
        if terminal.name.startswith("__IGNORE"):
            explicit[terminal.name] = st.sampled_from([" ", "\n", "\t", "\r\n", "\n\n    "])
        else:
            assert terminal.pattern.type == "str", terminal
            explicit[terminal.name] = st.just(f" {terminal.pattern.value} ")
    return from_lark(_PARSER, start="start", explicit=explicit)


PROGRAMS = grammar_strategy()


@fuzz_settings("grammar")
@given(PROGRAMS)
def test_grammar_generated_programs_parse(text):
    _PARSER.parse(text, start="start")


@fuzz_settings("grammar")
@given(PROGRAMS)
def test_grammar_generated_programs_give_only_diagnostics(text):
    exercise(text.encode("utf-8"))


# ---------------------------------------------------------------- (b) mutated shipped specs


def shipped_specs() -> list[Path]:
    return sorted((ROOT / "specs").rglob("*.arch")) + sorted((ROOT / "examples").glob("*.arch"))


SPECS = {str(p.relative_to(ROOT)): p.read_bytes() for p in shipped_specs()}
TOKEN = re.compile(rb"\s+|#[^\n]*|\w+|->|\*\*|//|[=!<>]=|\S")
NOISE = [
    b"\x00", b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xef\xbb\xbf", b"\x7f", b"\x1b", b"\r",
    b"\t", b"\f", b"\xc3\xa9", b"\xe2\x86\x92", b"{", b"}", b"(", b")", b"[", b"]", b'"',
    b"'", b"#", b"->", b"?", b"**", b"model", b"block", b"if", b"for", b"return", b"0",
    b"99999999999999999999", b"-1", b"1e999", b"x", b"N", b"\n",
]  # fmt: skip


def siblings_of(name: str) -> dict[str, bytes]:
    """The spec's folder neighbours, so its imports resolve as in the repository."""
    folder = os.path.dirname(name)
    return {
        os.path.basename(other): data
        for other, data in SPECS.items()
        if os.path.dirname(other) == folder and other != name
    }


@st.composite
def mutated_specs(draw) -> tuple[str, bytes]:
    name = draw(st.sampled_from(sorted(SPECS)))
    tokens = TOKEN.findall(SPECS[name])
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(
            st.sampled_from(["delete", "duplicate", "swap", "replace", "insert", "truncate"])
        )
        if not tokens:
            tokens = [b""]
        i = draw(st.integers(0, len(tokens) - 1))
        if kind == "delete":
            del tokens[i]
        elif kind == "duplicate":
            tokens.insert(i, tokens[i])
        elif kind == "swap":
            j = draw(st.integers(0, len(tokens) - 1))
            tokens[i], tokens[j] = tokens[j], tokens[i]
        elif kind == "replace":
            tokens[i] = draw(st.sampled_from(NOISE + tokens))
        elif kind == "insert":
            tokens.insert(i, draw(st.sampled_from(NOISE) | st.binary(min_size=1, max_size=4)))
        else:
            data = b"".join(tokens)
            cut = draw(st.integers(0, len(data)))
            tokens = TOKEN.findall(data[:cut]) + ([data[cut:cut]] if cut else [])
    return name, b"".join(tokens)


@fuzz_settings("mutation")
@given(mutated_specs())
def test_mutated_shipped_specs_give_only_diagnostics(case):
    name, data = case
    exercise(data, siblings_of(name))


@st.composite
def byte_damaged_specs(draw) -> tuple[str, bytes]:
    """Byte-level damage: random bytes written over, inserted, or a cut inside a character."""
    name = draw(st.sampled_from(sorted(SPECS)))
    data = bytearray(SPECS[name])
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data)))
        junk = draw(st.binary(min_size=1, max_size=8) | st.sampled_from(NOISE))
        if draw(st.booleans()):
            data[at : at + len(junk)] = junk
        else:
            data[at:at] = junk
    if draw(st.booleans()):
        del data[draw(st.integers(0, len(data))) :]
    return name, bytes(data)


@fuzz_settings("bytes")
@given(byte_damaged_specs())
def test_byte_damaged_shipped_specs_give_only_diagnostics(case):
    name, data = case
    exercise(data, siblings_of(name))


# ---------------------------------------------------------------- known inputs


def test_every_shipped_spec_passes_the_harness_unchanged():
    for name, data in SPECS.items():
        codes = exercise(data, siblings_of(name))
        assert codes["check"] in (0, 1), name


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00",
        b"\xef\xbb\xbf",
        b"block B(c) { input x return x }",
        b"model M { input x: [N, 4] return x }\x00",
        b"model M { input x: [N, 4] return x \xc3",
        b'from "spec.arch" import M\nmodel M { input x: [N, 4] return x }',
        b"model M { input x: [N, 4] y = x -> Linear(4, 2) -> \r\n}",
    ],
)
def test_edge_inputs_pass_the_harness(data):
    exercise(data)


# Inputs the fuzzers found crashing (or breaking an invariant), kept as regression tests.
REGRESSIONS = sorted((ROOT / "tests" / "golden" / "fuzz").glob("*.arch"))


@pytest.mark.parametrize(
    "path",
    REGRESSIONS,
    ids=[p.stem for p in REGRESSIONS],
)
def test_fuzz_regressions(path):
    exercise(path.read_bytes())


def test_fmt_keeps_a_comment_after_a_dropped_import_comma_at_the_top_level():
    # Found by the grammar fuzzer: the comment was indented on the first pass, then dedented.
    text = (ROOT / "tests/golden/fuzz/fmt_comment_after_dropped_import_comma.arch").read_text()
    formatted = format_text(text, "spec.arch")
    assert formatted == 'from "same" import x  # c\n# c\n'
    assert format_text(formatted, "spec.arch") == formatted


def test_summary_without_a_model_says_so(tmp_path):
    spec = tmp_path / "blocks.arch"
    spec.write_text("block B(c) {\n    input x\n    return x\n}\n", encoding="utf-8")
    code, out, err = run_cli(["summary", str(spec)])
    assert (code, out) == (2, "")
    assert f"archspec: {spec}: no model to summarize" in err


# ---------------------------------------------------------------- (c) determinism of check


DETERMINISM_SPECS = {
    "a_errors.arch": (
        "block B(c) {\n    input x: [N, c, H, W]\n    return x -> Conv2d(c, c, 3, padding=1)\n}\n"
        "model A {\n    input x: [N, 3, 8, 8]\n    h = x -> B(4) -> Linear(100, 10)\n"
        "    unused = x -> relu()\n    return h\n}\n"
    ),
    "b_syntax.arch": "model B {\n    input x: [N, 4]\n    return x ->\n}\n",
    "c_clean.arch": "model C {\n    input x: [N, 4]\n    return x -> Linear(4, 2)\n}\n",
    "d_warnings.arch": (
        "model D {\n    input x: [N, 3, 8, 8]\n    y = x -> Conv2d(3, 8, 3) -> BatchNorm2d(9)\n"
        "    z = y -> undefined_thing\n    return y\n}\n"
    ),
}

_DETERMINISM_SCRIPT = r"""
import contextlib, io, json, sys
from archspec.cli import main
from archspec.tools.fmt import format_text
from archspec.diagnostics.formats import OUTPUT_FORMATS
files = sys.argv[1:]
outputs = {}
for fmt in OUTPUT_FORMATS:
    for order in (files, files[::-1], files[1:] + files[:1]):
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            code = main(["check", "--output-format", fmt, "--color", "never", *order])
        outputs.setdefault(fmt, set()).add((code, buffer.getvalue()))
print(json.dumps({fmt: sorted(found) for fmt, found in outputs.items()}))

"""


def write_determinism_specs(folder: Path) -> list[str]:
    paths = []
    for name, text in DETERMINISM_SPECS.items():
        (folder / name).write_text(text, encoding="utf-8")
        paths.append(name)
    return paths


def test_check_output_is_identical_across_runs_and_file_orders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    files = [*write_determinism_specs(tmp_path), str(ROOT / "examples" / "seed000_convnet.arch")]
    for fmt in OUTPUT_FORMATS:
        seen = set()
        for order in [*itertools.permutations(files[:3]), files, files[::-1]]:
            rest = [f for f in files if f not in order]
            for _ in range(2):
                seen.add(
                    run_cli(["check", "--output-format", fmt, "--color", "never", *order, *rest])
                )
        assert len(seen) == 1, f"{fmt}: {len(seen)} different outputs"
        ((code, out, _),) = seen
        assert code == 1 and out
        if fmt == "json":
            locations = [
                (d["location"]["file"], d["location"]["line"], d["location"]["column"], d["code"])
                for d in json.loads(out)["diagnostics"]
            ]
            assert locations == sorted(locations)
            assert {loc[0] for loc in locations} >= {"a_errors.arch", "b_syntax.arch"}


def test_check_output_is_identical_across_hash_seeds(tmp_path):
    files = write_determinism_specs(tmp_path)
    results = set()
    for seed in ("0", "1", "4242", "random"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "NO_COLOR": "1"}
        env.pop("ARCHSPEC_OUTPUT_FORMAT", None)
        completed = subprocess.run(
            [sys.executable, "-c", _DETERMINISM_SCRIPT, *files],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        outputs = json.loads(completed.stdout)
        assert not completed.stderr, completed.stderr
        assert set(outputs) == set(OUTPUT_FORMATS)
        for fmt, found in outputs.items():
            assert len(found) == 1, f"{fmt} depends on the file order (seed {seed})"
        results.add(completed.stdout)
    assert len(results) == 1, "check output depends on PYTHONHASHSEED"


# ---------------------------------------------------------------- suppressions never crash outputs

SUPPRESSIBLE = ["E101", "E104", "E201", "E202", "E203", "E205", "E206", "E208", "E301", "W001",
                "W002", "W003", "W005", "W007"]  # fmt: skip
STAGES = [
    "Conv2d({c}, {d}, 3, padding=1)", "Conv2d({c}, {d}, 3)", "BatchNorm2d({c})",
    "LayerNorm({c})", "ReLU()", "MaxPool2d(2)", "MaxPool2d(2, stride=5)", "flatten(1)",
    "Linear({c}, {d})", "nosuch({c})", "Dropout()", "AdaptiveAvgPool2d(1)", "view(N, -1)",
]  # fmt: skip
SIZES = st.sampled_from([1, 2, 3, 4, 8, 16, 64])


@st.composite
def suppressions(draw) -> str:
    kind = draw(st.sampled_from(["", "", "ignore", "ignore[{}]", "ignore[{}, {}]"]))
    if not kind:
        return ""
    return "  # archspec: " + kind.format(*(draw(st.sampled_from(SUPPRESSIBLE)) for _ in "ab"))


@st.composite
def suppressed_specs(draw) -> bytes:
    """A small convnet with likely errors and random `# archspec: ignore` comments, sometimes a
    whole-file one and a budget."""
    lines = []
    if draw(st.booleans()):
        lines.append(f"# archspec: ignore-file[{draw(st.sampled_from(SUPPRESSIBLE))}]")
    if draw(st.booleans()):
        lines.append("# archspec: budget params=100")
    channels, size = draw(SIZES), draw(st.sampled_from([4, 8, 28]))
    lines += ["model Net {" + draw(suppressions()), f"    input x: [N, {channels}, {size}, {size}]"]
    value = "x"
    for index in range(draw(st.integers(1, 6))):
        stage = draw(st.sampled_from(STAGES)).format(c=draw(SIZES), d=draw(SIZES))
        target = f"v{index}"
        lines.append(f"    {target} = {value} -> {stage}" + draw(suppressions()))
        if draw(st.integers(0, 4)) == 0:
            lines.append(f"    dead{index} = {value} -> ReLU()" + draw(suppressions()))
        value = target
    lines += [f"    return {value}" + draw(suppressions()), "}"]
    return ("\n".join(lines) + "\n").encode("utf-8")


@settings(
    max_examples=2000 if LONG else 150,
    deadline=None,
    derandomize=not LONG,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(suppressed_specs())
def test_suppressed_errors_never_crash_an_output(data):
    """check, compile, graph (DOT), summary and fmt on specs with random suppressions, in process:
    never an internal error (exit 2), and a suppressed error that leaves a layer without a shape
    is refused or drawn, never compiled (issue 15; `exercise` asserts the exit codes)."""
    codes = exercise(data)
    assert 2 not in codes.values(), codes
