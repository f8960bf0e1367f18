"""Editors and CI: the Pygments lexer, the VS Code TextMate grammar, the GitHub workflow example and
the pre-commit hooks."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest
from conftest import ROOT

SPECS = sorted(ROOT.glob("specs/**/*.arch")) + sorted(ROOT.glob("examples/*.arch"))
VSCODE = ROOT / "editors" / "vscode"
GRAMMAR = VSCODE / "syntaxes" / "arch.tmLanguage.json"
WORKFLOW = ROOT / "examples" / "github-workflow.yml"
HOOKS = ROOT / ".pre-commit-hooks.yaml"

SAMPLE = textwrap.dedent(
    """\
    from "blocks.arch" import Down  # a comment
    block Up(c, k=3) {
        input x
        return x -> conv: Conv2d(?, c, k, padding='same') -> relu()
    }
    model Net {
        input x: [N, 1, 28, 28]
        mp: MaxPool2d(2)
        h = x -> "stage{i + 1}": Up(8) -> mp -> flatten(1) -> Linear(?, 10)
        ys = [Up(i) for i in range(2)]
        if 0.5 > 1e-5 and not False { h = h }
        return h
    }
    """
)


# --- Pygments -------------------------------------------------------------------------------------

from pygments.token import (  # noqa: E402  (pytest itself needs Pygments)
    Comment,
    Error,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
)

from archspec.tools.pygments_lexer import ArchLexer  # noqa: E402


def _tokens(text: str) -> list[tuple[int, object, str]]:
    return list(ArchLexer().get_tokens_unprocessed(text))


@pytest.mark.parametrize("path", SPECS, ids=lambda p: str(p.relative_to(ROOT)))
def test_lexer_reads_every_shipped_spec_without_errors(path: Path):
    text = path.read_text(encoding="utf-8")
    tokens = _tokens(text)
    errors = [(offset, value) for offset, kind, value in tokens if kind in Error]
    assert errors == []
    assert "".join(value for _, _, value in tokens) == text  # nothing lost, nothing added
    kinds = {kind for _, kind, _ in tokens}
    assert Keyword.Declaration in kinds and Name.Class in kinds


def test_lexer_token_types():
    pairs = [(kind, value) for _, kind, value in _tokens(SAMPLE) if value.strip()]
    expected = [
        (Keyword.Namespace, "from"),
        (String, '"blocks.arch"'),
        (Keyword.Namespace, "import"),
        (Comment.Single, "# a comment"),
        (Keyword.Declaration, "block"),
        (Name.Class, "Up"),  # the block being defined
        (Keyword, "input"),
        (Keyword, "return"),
        (Operator, "->"),
        (Name.Label, "conv"),
        (Punctuation, ":"),
        (Name.Class, "Conv2d"),  # a layer call
        (Keyword.Pseudo, "?"),
        (String, "'same'"),
        (Name.Function, "relu"),  # a function call
        (Keyword.Declaration, "model"),
        (Name.Class, "Net"),
        (Name.Label, "mp"),
        (Name.Class, "MaxPool2d"),
        (Name.Label, '"stage{i + 1}"'),
        (Name, "mp"),  # a layer applied by name is no call
        (Name.Function, "flatten"),
        (Name.Class, "Linear"),
        (Keyword, "for"),
        (Keyword, "in"),
        (Name.Builtin, "range"),
        (Keyword, "if"),
        (Number.Float, "0.5"),
        (Number.Float, "1e-5"),
        (Operator.Word, "and"),
        (Operator.Word, "not"),
        (Keyword.Constant, "False"),
    ]
    for pair in expected:
        assert pair in pairs, pair
    assert (Number.Integer, "28") in pairs
    assert (Name, "N") in pairs and (Name, "x") in pairs
    # `input x: [...]` and `h = ...` are no labels: only a name before a call is.
    assert (Name.Label, "x") not in pairs and (Name.Label, "h") not in pairs
    assert not any(kind in Error for kind, _ in pairs)


def test_builtins_match_the_checker(grammar):
    from archspec.elaborate.elaborator import BUILTINS
    from archspec.tools.pygments_lexer import BUILTINS as LEXER_BUILTINS

    assert set(LEXER_BUILTINS) == set(BUILTINS)
    (rule,) = [r for r in _rules(grammar) if r.get("name") == "support.function.builtin.arch"]
    assert set(re.search(r"\((.*?)\)", rule["match"]).group(1).split("|")) == set(BUILTINS)


def test_lexer_is_registered_with_pygments():
    names = {ep.name: ep.value for ep in metadata.entry_points(group="pygments.lexers")}
    assert names.get("arch") == "archspec.tools.pygments_lexer:ArchLexer", (
        "the entry point is missing: reinstall with `pip install -e .`"
    )
    from pygments.lexers import get_lexer_by_name, get_lexer_for_filename

    assert isinstance(get_lexer_by_name("arch"), ArchLexer)
    assert isinstance(get_lexer_by_name("archspec"), ArchLexer)
    assert isinstance(get_lexer_for_filename("specs/net.arch"), ArchLexer)


def test_check_path_imports_neither_pygments_nor_the_language_server():
    code = textwrap.dedent(
        """
        import importlib.abc
        import sys

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("pygments", "pygls", "lsprotocol"):
                    raise ImportError(f"{name} is blocked for this test")
                return None

        sys.meta_path.insert(0, Block())
        import archspec
        import archspec.cli

        assert archspec.cli.main(["check", "specs/"]) == 0
        assert archspec.cli.main(["check", "examples/seed000_convnet.arch"]) == 1
        archspec.check("specs/seeds/mnist_cnn.arch")
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("pygments", "pygls"))
        assert not loaded, loaded
        print("OK")
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip().splitlines()[-1] == "OK"


# --- the VS Code extension and its TextMate grammar -----------------------------------------------


def _rules(grammar: dict) -> list[dict]:
    """The top-level patterns with `include`s resolved, in the order TextMate tries them."""
    out: list[dict] = []

    def walk(patterns):
        for pattern in patterns:
            if "include" in pattern:
                ref = pattern["include"]
                assert ref.startswith("#"), ref
                walk(grammar["repository"][ref[1:]]["patterns"])
            else:
                out.append(pattern)

    walk(grammar["patterns"])
    return out


def _all_regexes(node) -> list[str]:
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("match", "begin", "end", "while") and isinstance(value, str):
                found.append(value)
            else:
                found.extend(_all_regexes(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_all_regexes(item))
    return found


class _Scanner:
    """TextMate's scan on one line: the earliest match among all rules, the first rule on ties.

    Uses Oniguruma (the engine VS Code runs) when onigurumacffi is installed, else Python's re.
    """

    def __init__(self, rules: list[dict]):
        self.rules = rules
        for rule in rules:  # a tiny engine: single-line `match` rules only
            assert "match" in rule and "begin" not in rule, rule
        try:
            import onigurumacffi
        except ImportError:
            self.regset = None
            self.compiled = [re.compile(rule["match"]) for rule in rules]
        else:
            self.regset = onigurumacffi.compile_regset(*(rule["match"] for rule in rules))

    def _search(self, line: str, pos: int):
        if self.regset is not None:
            index, match = self.regset.search(line, pos)
            return (index, match) if match is not None else None
        best = None
        for index, pattern in enumerate(self.compiled):
            match = pattern.search(line, pos)
            if match and (best is None or match.start() < best[1].start()):
                best = (index, match)
        return best

    def scan(self, line: str) -> list[tuple[int, int, str]]:
        """(start, end, scope) for every scoped piece of the line, captures included."""
        pieces = []
        pos = 0
        while pos <= len(line):
            found = self._search(line, pos)
            if found is None:
                break
            index, match = found
            rule = self.rules[index]
            if "name" in rule:
                pieces.append((match.start(), match.end(), rule["name"]))
            for group, capture in rule.get("captures", {}).items():
                start, end = match.span(int(group))
                if start >= 0 and end > start:
                    pieces.append((start, end, capture["name"]))
            pos = match.end() if match.end() > match.start() else match.end() + 1
        return pieces


@pytest.fixture(scope="module")
def grammar() -> dict:
    return json.loads(GRAMMAR.read_text(encoding="utf-8"))


def test_vscode_extension_manifest():
    package = json.loads((VSCODE / "package.json").read_text(encoding="utf-8"))
    (language,) = package["contributes"]["languages"]
    assert language["id"] == "arch"
    assert language["extensions"] == [".arch"]
    configuration = json.loads((VSCODE / language["configuration"]).read_text(encoding="utf-8"))
    assert configuration["comments"] == {"lineComment": "#"}
    assert ["(", ")"] in configuration["brackets"] and ["{", "}"] in configuration["brackets"]
    assert ["[", "]"] in configuration["brackets"]
    pairs = {(p["open"], p["close"]) for p in configuration["autoClosingPairs"]}
    assert {("(", ")"), ("[", "]"), ("{", "}"), ('"', '"'), ("'", "'")} <= pairs
    (grammar_entry,) = package["contributes"]["grammars"]
    assert grammar_entry["language"] == "arch"
    grammar = json.loads((VSCODE / grammar_entry["path"]).read_text(encoding="utf-8"))
    assert grammar["scopeName"] == grammar_entry["scopeName"] == "source.arch"
    assert "vscode" in package["engines"]


def test_grammar_regexes_compile(grammar):
    regexes = _all_regexes(grammar)
    assert len(regexes) >= 15
    for regex in regexes:
        re.compile(regex)  # written to be valid for Python's re and for Oniguruma alike
    onig = pytest.importorskip("onigurumacffi")
    for regex in regexes:
        onig.compile(regex)


def test_grammar_has_the_scopes_editors_colour(grammar):
    names = set(re.findall(r'"name": "([^"]+)"', json.dumps(grammar)))
    for prefix in (
        "comment.line.number-sign",
        "keyword.control",
        "keyword.other",
        "entity.name.type",
        "support.class",
        "support.function",
        "variable.parameter",
        "constant.numeric",
        "string.quoted",
        "keyword.operator.arrow",
    ):
        assert any(name.startswith(prefix) for name in names), prefix


def test_grammar_on_a_sample(grammar):
    scanner = _Scanner(_rules(grammar))

    def scopes(line: str) -> list[tuple[str, str]]:
        return [(line[s:e], scope) for s, e, scope in scanner.scan(line)]

    assert scopes("model ResNet(num_classes=1000) {  # the model") == [
        ("model", "keyword.other.definition.arch"),
        ("ResNet", "entity.name.type.arch"),
        ("=", "keyword.operator.arch"),
        ("1000", "constant.numeric.integer.arch"),
        ("# the model", "comment.line.number-sign.arch"),
        ("#", "punctuation.definition.comment.arch"),
    ]
    line = "    h = x -> fc: Linear(?, 10) -> flatten(1) -> mp  # '#' -> no string"
    got = scopes(line)
    assert ("->", "keyword.operator.arrow.arch") in got
    assert ("fc", "variable.parameter.label.arch") in got
    assert ("Linear", "support.class.layer.arch") in got
    assert ("flatten", "support.function.arch") in got
    assert ("?", "keyword.operator.infer.arch") in got
    assert ("# '#' -> no string", "comment.line.number-sign.arch") in got
    assert not any(text == "mp" for text, _ in got)  # a layer applied by name is no call
    got = scopes("    x = \"a # b\" if 1e-5 > 0.5 and not True else 'c'")
    assert ('"a # b"', "string.quoted.double.arch") in got  # no comment inside a string
    assert not any(scope.startswith("comment") for _, scope in got)
    assert ("1e-5", "constant.numeric.float.arch") in got
    assert ("and", "keyword.operator.logical.arch") in got
    assert ("True", "constant.language.arch") in got
    assert scopes("    input conv2d_1: [N, 3, H, W]") == [
        ("input", "keyword.other.input.arch"),
        ("3", "constant.numeric.integer.arch"),
    ]


# The grammar and the Pygments lexer are written separately; on every shipped spec they must agree
# on what is a comment, a string, a keyword, a number, a label, a call, `->` and `?`.
_PYGMENTS_CLASS = [
    (Comment, "comment"),
    (Keyword.Pseudo, "infer"),
    (Keyword.Constant, "constant"),
    (Keyword, "keyword"),
    (Operator.Word, "logical"),
    (Name.Label, "label"),
    (String, "string"),
    (Name.Builtin, "function"),
    (Name.Class, "class"),
    (Name.Function, "function"),
    (Number, "number"),
]
_TEXTMATE_CLASS = [
    ("comment.line", "comment"),
    ("keyword.operator.infer", "infer"),
    ("keyword.operator.arrow", "arrow"),
    ("keyword.operator.logical", "logical"),
    ("keyword.operator", None),
    ("constant.language", "constant"),
    ("keyword.", "keyword"),
    ("variable.parameter.label", "label"),
    ("string.quoted", "string"),
    ("support.function", "function"),
    ("support.class", "class"),
    ("entity.name.type", "class"),
    ("constant.numeric", "number"),
]


def _pygments_classes(text: str) -> set[tuple[int, str, str]]:
    out = set()
    for offset, kind, value in _tokens(text):
        if kind is Operator and value == "->":
            out.add((offset, value, "arrow"))
            continue
        for parent, name in _PYGMENTS_CLASS:
            if kind in parent:
                out.add((offset, value, name))
                break
    return out


def _textmate_classes(scanner: _Scanner, text: str) -> set[tuple[int, str, str]]:
    out = set()
    start = 0
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        for s, e, scope in scanner.scan(body):
            for prefix, name in _TEXTMATE_CLASS:
                if scope.startswith(prefix):
                    if name is not None:
                        out.add((start + s, body[s:e], name))
                    break
        start += len(line)
    return out


@pytest.mark.parametrize("path", SPECS, ids=lambda p: str(p.relative_to(ROOT)))
def test_grammar_agrees_with_the_lexer_on_shipped_specs(grammar, path: Path):
    text = path.read_text(encoding="utf-8")
    scanner = _Scanner(_rules(grammar))
    textmate = _textmate_classes(scanner, text)
    lexer = _pygments_classes(text)
    assert textmate == lexer, (sorted(textmate - lexer)[:5], sorted(lexer - textmate)[:5])
    classes = {name for _, _, name in textmate}
    assert {"keyword", "class", "arrow"} <= classes
    if "#" in text:
        assert "comment" in classes


# --- the GitHub Actions example -------------------------------------------------------------------


@pytest.fixture(scope="module")
def workflow() -> dict:
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def _runs(steps: list[dict]) -> list[list[str]]:
    return [shlex.split(step["run"], comments=True) for step in steps if "run" in step]


def test_workflow_checks_uploads_sarif_and_annotates(workflow):
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    assert "push" in triggers and "pull_request" in triggers
    assert workflow["permissions"]["security-events"] == "write"
    (job,) = workflow["jobs"].values()
    steps = job["steps"]
    uses = [step.get("uses", "") for step in steps]
    assert any(u.startswith("actions/checkout@") for u in uses)
    assert any(u.startswith("actions/setup-python@") for u in uses)
    runs = _runs(steps)
    install = next(i for i, run in enumerate(runs) if "pip" in run and "install" in run)
    assert "archspec-nn" in runs[install]  # the distribution's name on the index

    sarif_index, sarif = next(
        (i, s) for i, s in enumerate(steps) if "sarif" in shlex.split(s.get("run", ""))
    )
    command = shlex.split(sarif["run"], comments=True)
    assert command[:2] == ["archspec", "check"]
    assert command[command.index("--output-format") + 1] == "sarif"
    output = command[command.index("--output-file") + 1]
    assert command[-1] == "specs/"
    assert sarif.get("continue-on-error") is True  # errors must not stop the upload

    upload_index, upload = next(
        (i, s)
        for i, s in enumerate(steps)
        if s.get("uses", "").split("@")[0].endswith("upload-sarif")
    )
    assert upload["uses"].startswith("github/codeql-action/upload-sarif@")
    assert upload["with"]["sarif_file"] == output
    assert "always()" in upload["if"]
    assert upload_index > sarif_index

    annotate = next(s for s in steps if "github" in shlex.split(s.get("run", "")))
    command = shlex.split(annotate["run"], comments=True)
    assert command[:2] == ["archspec", "check"]
    assert command[command.index("--output-format") + 1] == "github"
    assert command[-1] == "specs/"
    assert "continue-on-error" not in annotate  # this step fails the job on errors


def _cli_supports(*words: str) -> bool:
    completed = subprocess.run(
        [sys.executable, "-m", "archspec", "check", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    return completed.returncode == 0 and all(word in completed.stdout for word in words)


def test_workflow_commands_run_against_the_cli(workflow, tmp_path: Path):
    if not _cli_supports("--output-format", "--output-file", "sarif", "github"):
        pytest.skip("archspec check has no --output-format sarif/github or --output-file yet")
    (job,) = workflow["jobs"].values()
    for command in _runs(job["steps"]):
        if command[:2] != ["archspec", "check"]:
            continue
        argv = [a if a != "archspec.sarif" else str(tmp_path / a) for a in command[2:]]
        completed = subprocess.run(
            [sys.executable, "-m", "archspec", "check", *argv],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
        )
        assert completed.returncode == 0, (command, completed.stderr)
    sarif = json.loads((tmp_path / "archspec.sarif").read_text(encoding="utf-8"))
    assert sarif["version"] == "2.1.0"
    # On a broken spec the annotations step fails the job and annotates the line.
    broken = subprocess.run(
        [sys.executable, "-m", "archspec", "check", "--output-format", "github"]
        + ["examples/seed000_convnet.arch"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert broken.returncode == 1
    assert "::error" in broken.stdout and "seed000_convnet.arch" in broken.stdout


# --- pre-commit -----------------------------------------------------------------------------------


def test_pre_commit_hook_definitions():
    yaml = pytest.importorskip("yaml")
    hooks = {hook["id"]: hook for hook in yaml.safe_load(HOOKS.read_text(encoding="utf-8"))}
    assert set(hooks) == {"archspec-check", "archspec-fmt"}
    assert hooks["archspec-check"]["entry"] == "archspec check"
    assert hooks["archspec-fmt"]["entry"] == "archspec fmt"
    for hook in hooks.values():
        assert hook["language"] == "python"
        assert hook["types"] == ["file"]
        pattern = re.compile(hook["files"])
        assert pattern.search("specs/net.arch") and not pattern.search("net.arch.py")
        assert not pattern.search("archspec/cli/commands.py")


def _snapshot(destination: Path) -> None:
    """A one-commit git repository of the working tree as it is on disk (tracked and untracked,
    ignored files left out), so that try-repo tests this checkout, committed or not."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode("utf-8")
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # deleted but still tracked files are skipped
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    _git(destination, "init", "-q")
    _git(destination, "add", "-A")
    _git(destination, "commit", "-q", "-m", "snapshot")


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def _try_repo(repo: Path, project: Path, home: Path, hook: str):
    env = dict(os.environ, PRE_COMMIT_HOME=str(home), PRE_COMMIT_COLOR="never")
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(repo), hook, "--all-files"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_pre_commit_check_hook_fails_on_a_broken_spec(tmp_path: Path):
    pytest.importorskip("pre_commit")
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout of archspec")
    repo = tmp_path / "archspec"
    _snapshot(repo)
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "specs" / "seeds" / "mnist_cnn.arch", project / "good.arch")
    shutil.copy(ROOT / "examples" / "seed000_convnet.arch", project / "broken.arch")
    (project / "notes.txt").write_text("not a spec: Linear(1, 2)\n", encoding="utf-8")
    _git(project, "init", "-q")
    _git(project, "add", "-A")

    failed = _try_repo(repo, project, tmp_path / "home", "archspec-check")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "E202" in failed.stdout and "broken.arch" in failed.stdout
    assert "notes.txt" not in failed.stdout  # only .arch files are passed

    _git(project, "rm", "-q", "-f", "broken.arch")
    passed = _try_repo(repo, project, tmp_path / "home", "archspec-check")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert re.search(r"archspec check\.+Passed", passed.stdout), passed.stdout


@pytest.mark.slow
def test_pre_commit_fmt_hook_rewrites_a_messy_spec(tmp_path: Path):
    pytest.importorskip("pre_commit")
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout of archspec")
    has_fmt = subprocess.run(
        [sys.executable, "-m", "archspec", "fmt", "--help"],
        capture_output=True,
        cwd=ROOT,
        timeout=60,
    )
    if has_fmt.returncode != 0:
        pytest.skip("archspec has no fmt subcommand yet")
    repo = tmp_path / "archspec"
    _snapshot(repo)
    project = tmp_path / "project"
    project.mkdir()
    messy = (
        "model   Net {\n input x:[N,1,28,28]\n  return x->flatten( 1 )->fc:Linear( 784,10 )\n}\n"
    )
    (project / "messy.arch").write_text(messy, encoding="utf-8")
    _git(project, "init", "-q")
    _git(project, "add", "-A")

    first = _try_repo(repo, project, tmp_path / "home", "archspec-fmt")
    assert first.returncode == 1, first.stdout + first.stderr
    assert "files were modified by this hook" in first.stdout
    tidy = (project / "messy.arch").read_text(encoding="utf-8")
    assert tidy != messy
    checked = subprocess.run(
        [sys.executable, "-m", "archspec", "check", str(project / "messy.arch")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout  # still the same, valid spec

    _git(project, "add", "-A")
    second = _try_repo(repo, project, tmp_path / "home", "archspec-fmt")
    assert second.returncode == 0, second.stdout + second.stderr  # formatting is idempotent
    assert (project / "messy.arch").read_text(encoding="utf-8") == tidy
