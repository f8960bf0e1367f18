"""Hostile files, paths and revisions: what archspec writes goes only where the user said, as the
user's file was (link, mode, byte order mark, line ends); what it reads is a regular file; a git
revision is never an option; text that is not ordinary (NUL, surrogates, control and
bidirectional characters, names Python reads differently) is a diagnostic, never a crash or raw
terminal output."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import commit_everything

import archspec
from archspec.cli import main
from archspec.diagnostics.formats import render_concise, render_text
from archspec.elaborate.loader import NotARegularFile, read_spec_file
from archspec.tools import files, revisions
from archspec.tools.fmt import format_file, format_text

posix_only = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes (POSIX)")
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")

SPEC = "model Net {\n    input x: [N, 4]\n    return x -> Linear(4, 2)\n}\n"
MESSY = "model Net {\ninput x: [N, 4]\n  return x->Linear(4,2)\n}\n"
# Everything a terminal must never receive raw from a spec (see formats.shown).
UNSHOWABLE = [chr(c) for c in [*range(0, 9), *range(10, 32), *range(0x7F, 0xA0)]] + list(
    "\u061c\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_binary(capsysbinary, *argv: str) -> tuple[int, bytes, bytes]:
    code = main(list(argv))
    captured = capsysbinary.readouterr()
    return code, captured.out, captured.err


@contextlib.contextmanager
def deadline(seconds: int):
    """Fail (rather than hang the test run) if the body blocks longer than `seconds`."""

    def expire(signum, frame):
        raise TimeoutError(f"still running after {seconds} s: it blocked")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def codes(result) -> list[str]:
    return [d.code for d in result.diagnostics]


# ---------------------------------------------------------------- 1. git revisions


@pytest.fixture
def repository(tmp_path, monkeypatch):
    """A git repository holding net.arch, committed; the current folder."""
    (tmp_path / "net.arch").write_text(SPEC, encoding="utf-8")
    commit_everything(tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@needs_git
@pytest.mark.parametrize(
    "argv",
    [
        ["diff", "--rev=--output={target}", "net.arch"],
        ["diff", "--", "--output={target}:net.arch", "net.arch"],
    ],
    ids=["--rev", "REV:PATH"],
)
def test_a_revision_is_never_an_option(capsys, repository, tmp_path_factory, argv):
    target = tmp_path_factory.mktemp("elsewhere") / "written-by-git"
    code, out, err = run(capsys, *(a.format(target=target) for a in argv))
    assert not target.exists()
    assert (code, out) == (2, "")
    assert err == (
        f"archspec: cannot read --output={target}:net.arch from git: '--output={target}' is not "
        "a revision (a branch, a tag or a commit: HEAD~1)\n"
    )


@needs_git
def test_an_unknown_revision_is_one_clear_line(capsys, repository):
    code, out, err = run(capsys, "diff", "--rev", "no-such-branch", "net.arch")
    assert (code, out) == (2, "")
    assert err == (
        "archspec: cannot read no-such-branch:net.arch from git: "
        "unknown revision 'no-such-branch'\n"
    )
    code, _, err = run(capsys, "diff", "HEAD:gone.arch", "net.arch")
    assert code == 2
    assert err == (
        "archspec: cannot read HEAD:gone.arch from git: path 'gone.arch' does not exist in 'HEAD'\n"
    )


@needs_git
def test_git_is_given_no_user_text_where_it_reads_options(capsys, repository, monkeypatch):
    calls = []
    real_run = subprocess.run

    def spy(command, *args, **kwargs):
        calls.append(command)
        return real_run(command, *args, **kwargs)

    monkeypatch.setattr(subprocess, "run", spy)
    assert run(capsys, "diff", "--rev", "HEAD", "net.arch")[0] == 0
    resolve = next(c for c in calls if c[1] == "rev-parse")
    read = next(c for c in calls if c[1] == "cat-file")
    assert resolve[-2:] == ["--end-of-options", "HEAD^{commit}"]
    assert "--verify" in resolve
    commit = subprocess.check_output(["git", "rev-parse", "HEAD"], text=True).strip()
    assert read == ["git", "cat-file", "blob", f"{commit}:./net.arch"]


def test_a_leading_dash_is_refused_before_git_runs(monkeypatch, tmp_path):
    def no_git(*args, **kwargs):
        raise AssertionError("git ran")

    monkeypatch.setattr(subprocess, "run", no_git)
    for rev in ("-p", "--output=x", "", "HEAD\x00"):
        with pytest.raises(revisions.SpecReadError, match="is not a revision"):
            revisions.resolve_revision(rev, str(tmp_path))


# ---------------------------------------------------------------- 2. files that are written


def messy_file(folder: Path, name: str = "net.arch", data: bytes | None = None) -> Path:
    path = folder / name
    path.write_bytes(MESSY.encode("utf-8") if data is None else data)
    return path


def formatted() -> str:
    return format_text(MESSY)


def test_fmt_writes_through_a_symbolic_link(capsys, tmp_path):
    target = messy_file(tmp_path, "real.arch")
    link = tmp_path / "link.arch"
    link.symlink_to(target.name)
    assert run(capsys, "fmt", str(link))[0] == 0
    assert link.is_symlink() and os.readlink(link) == "real.arch"
    assert target.read_text(encoding="utf-8") == formatted()


def test_compile_output_through_a_symbolic_link(capsys, tmp_path):
    spec = tmp_path / "net.arch"
    spec.write_text(SPEC, encoding="utf-8")
    generated = tmp_path / "generated.py"
    generated.write_text("old\n", encoding="utf-8")
    link = tmp_path / "link.py"
    link.symlink_to(generated)
    assert run(capsys, "compile", str(spec), "-o", str(link))[0] == 0
    assert link.is_symlink()
    assert "class Net(nn.Module)" in generated.read_text(encoding="utf-8")


def test_a_hard_linked_file_stays_linked(capsys, tmp_path):
    """write_file rewrites a file with several links in place (see its docstring)."""
    first = messy_file(tmp_path, "first.arch")
    second = tmp_path / "second.arch"
    os.link(first, second)
    inode = first.stat().st_ino
    assert run(capsys, "fmt", str(first))[0] == 0
    assert first.stat().st_ino == second.stat().st_ino == inode
    assert first.stat().st_nlink == 2
    assert second.read_text(encoding="utf-8") == formatted()


def test_a_hard_linked_file_shrinks_to_its_new_length(tmp_path):
    first = tmp_path / "first.txt"
    first.write_text("a long old content\n" * 10, encoding="utf-8")
    os.link(first, tmp_path / "second.txt")
    files.write_file(str(first), "short\n")
    assert (tmp_path / "second.txt").read_bytes() == b"short\n"


@pytest.mark.parametrize("mode", [0o600, 0o755, 0o640])
def test_the_mode_is_kept(capsys, tmp_path, mode):
    path = messy_file(tmp_path)
    path.chmod(mode)
    assert run(capsys, "fmt", str(path))[0] == 0
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert path.read_text(encoding="utf-8") == formatted()


def test_a_read_only_file_is_refused_and_not_counted(capsys, tmp_path):
    path = messy_file(tmp_path)
    path.chmod(0o444)
    code, _, err = run(capsys, "fmt", str(path))
    assert code == 2
    assert f"archspec: cannot write {path}: the file is read-only; nothing was written\n" in err
    assert err.endswith(
        "0 files reformatted, 0 files already formatted, 1 file could not be written\n"
    )
    assert path.read_text(encoding="utf-8") == MESSY
    assert stat.S_IMODE(path.stat().st_mode) == 0o444


def test_a_read_only_output_is_refused(capsys, tmp_path):
    spec = tmp_path / "net.arch"
    spec.write_text(SPEC, encoding="utf-8")
    output = tmp_path / "net.py"
    output.write_text("keep\n", encoding="utf-8")
    output.chmod(0o444)
    code, out, err = run(capsys, "compile", str(spec), "-o", str(output))
    assert (code, out) == (2, "")
    assert err == f"archspec: cannot write {output}: the file is read-only; nothing was written\n"
    assert output.read_text(encoding="utf-8") == "keep\n"


def test_check_fix_refuses_a_read_only_spec(capsys, tmp_path):
    path = tmp_path / "net.arch"
    text = SPEC.replace("(4, 2)", "(4, 2)  # archspec: ignore[E202]")  # W007: a safe fix
    path.write_text(text, encoding="utf-8")
    path.chmod(0o444)
    code, _, err = run(capsys, "check", "--fix", str(path))
    assert code == 2
    assert err.startswith(
        f"archspec: cannot write {path}: the file is read-only; nothing was written\n"
    )
    assert path.read_text(encoding="utf-8") == text
    path.chmod(0o644)
    assert run(capsys, "check", "--fix", str(path))[0] == 0
    assert path.read_text(encoding="utf-8") == SPEC


@posix_only
def test_check_fix_refuses_a_named_pipe(capsys, tmp_path):
    os.mkfifo(tmp_path / "pipe.arch")
    with deadline(20):
        code, _, err = run(capsys, "check", "--fix", str(tmp_path))
    assert code == 2 and "a named pipe, not a regular file" in err


def test_fmt_keeps_the_byte_order_mark_and_crlf(capsys, tmp_path):
    messy = ("\ufeff" + MESSY.replace("\n", "\r\n")).encode("utf-8")
    path = messy_file(tmp_path, data=messy)
    assert run(capsys, "fmt", str(path))[0] == 0
    assert path.read_bytes() == ("\ufeff" + formatted().replace("\n", "\r\n")).encode("utf-8")
    # ... and a file in that form is already formatted: nothing to do, nothing to report
    assert run(capsys, "fmt", "--check", str(path))[:2] == (0, "")


@pytest.mark.parametrize(
    ("prefix", "newline"), [("", "\r\n"), ("\ufeff", "\n")], ids=["crlf", "bom"]
)
def test_format_file_keeps_each_convention_alone(tmp_path, prefix, newline):
    path = messy_file(tmp_path, data=(prefix + MESSY.replace("\n", newline)).encode("utf-8"))
    outcome = format_file(str(path))
    assert outcome.formatted == prefix + formatted().replace("\n", newline)


def test_check_fix_keeps_crlf_without_a_bom(capsys, tmp_path):
    text = SPEC.replace("(4, 2)", "(4, 2)  # archspec: ignore[E202]")  # W007: a safe fix
    path = tmp_path / "net.arch"
    path.write_bytes(text.replace("\n", "\r\n").encode("utf-8"))
    assert run(capsys, "check", "--fix", str(path))[0] == 0
    assert path.read_bytes() == SPEC.replace("\n", "\r\n").encode("utf-8")


def test_dash_is_standard_output(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.arch").write_text(SPEC, encoding="utf-8")
    code, out, _ = run(capsys, "compile", "net.arch", "-o", "-")
    assert code == 0 and "class Net(nn.Module)" in out
    code, out, _ = run(capsys, "graph", "net.arch", "-o", "-")
    assert code == 0 and out.startswith("digraph Net {")
    assert not (tmp_path / "-").exists()


@needs_dot
def test_graph_binary_to_standard_output(capsysbinary, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.arch").write_text(SPEC, encoding="utf-8")
    code, out, _ = run_binary(capsysbinary, "graph", "net.arch", "-o", "-", "--format", "png")
    assert code == 0 and out.startswith(b"\x89PNG\r\n")
    assert not (tmp_path / "-").exists()


def test_a_failed_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "net.arch"
    path.write_text(MESSY, encoding="utf-8")

    def fail(source, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="No space"):
        files.write_file(str(path), "new\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.arch"]
    assert path.read_text(encoding="utf-8") == MESSY


def test_a_new_file_gets_ordinary_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        files.write_file(str(tmp_path / "new.py"), "x = 1\n")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "new.py").stat().st_mode) == 0o644


def test_write_file_to_a_device_and_a_folder(tmp_path):
    files.write_file(os.devnull, "nothing\n")  # written as a shell's `>` would; /dev/null stays
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
    with pytest.raises(IsADirectoryError):
        files.write_file(str(tmp_path), "x\n")


# ---------------------------------------------------------------- 3. only regular files are read


@posix_only
def test_check_refuses_a_named_pipe_in_a_folder(capsys, tmp_path):
    (tmp_path / "good.arch").write_text(SPEC, encoding="utf-8")
    os.mkfifo(tmp_path / "pipe.arch")
    with deadline(20):
        code, _, err = run(capsys, "check", str(tmp_path))
    assert code == 2
    assert (
        f"archspec: cannot read {tmp_path / 'pipe.arch'}: a named pipe, not a regular file\n" in err
    )


@posix_only
def test_an_imported_named_pipe_is_an_import_error(tmp_path):
    os.mkfifo(tmp_path / "blocks.arch")
    spec = tmp_path / "net.arch"
    spec.write_text('from "blocks.arch" import B\n' + SPEC, encoding="utf-8")
    with deadline(20):
        result = archspec.check(str(spec))
    (finding,) = [d for d in result.diagnostics if d.code == "E106"]
    assert finding.message == ("cannot import from 'blocks.arch': a named pipe, not a regular file")
    assert finding.primary.span.text == '"blocks.arch"'


@posix_only
@pytest.mark.parametrize("command", ["compile", "graph", "summary", "fmt"])
def test_other_commands_refuse_a_named_pipe(capsys, tmp_path, command):
    pipe = tmp_path / "pipe.arch"
    os.mkfifo(pipe)
    with deadline(20):
        code, _, err = run(capsys, command, str(pipe))
    assert code == 2
    assert f"cannot read {pipe}: a named pipe, not a regular file" in err


def test_read_spec_file_names_what_it_refuses(tmp_path):
    with pytest.raises(NotARegularFile, match="a folder, not a regular file"):
        read_spec_file(str(tmp_path))
    with pytest.raises(NotARegularFile, match="a character device, not a regular file"):
        read_spec_file(os.devnull)
    (tmp_path / "ok.arch").write_bytes(b"model")
    assert read_spec_file(str(tmp_path / "ok.arch")) == b"model"


@pytest.fixture
def language_server():
    """The language server over stdio (tests/test_lsp.py's client), initialized."""
    pytest.importorskip("pygls")
    from test_lsp import Client

    client = Client()
    client.request("initialize", {"processId": None, "rootUri": None, "capabilities": {}})
    client.notify("initialized", {})
    yield client
    assert client.close() == 0


def hover(client, uri: str):
    position = {"line": 0, "character": 0}
    return client.request(
        "textDocument/hover", {"textDocument": {"uri": uri}, "position": position}
    )


@posix_only
def test_the_language_server_reads_no_pipe_or_device(language_server, tmp_path):
    from pygls.uris import from_fs_path

    pipe = tmp_path / "pipe.arch"
    os.mkfifo(pipe)
    assert hover(language_server, from_fs_path(str(pipe))) is None  # answered: it did not block
    assert hover(language_server, "file:///dev/zero") is None  # answered: it read nothing
    spec = tmp_path / "net.arch"
    spec.write_text(SPEC, encoding="utf-8")
    position = {"line": 2, "character": 20}  # Linear, read from the (regular) file on disk
    answer = language_server.request(
        "textDocument/hover",
        {"textDocument": {"uri": from_fs_path(str(spec))}, "position": position},
    )
    assert answer["contents"]["value"].startswith("**Linear**")


# ---------------------------------------------------------------- 4. NUL and lone surrogates


@pytest.mark.parametrize(
    ("escape", "shown"),
    [
        ("\\x00", "a file name cannot hold the NUL character U+0000"),
        ("\\0", "a file name cannot hold the NUL character U+0000"),
        ("\\ud800", "a file name cannot hold U+D800"),
    ],
)
def test_an_impossible_import_path_is_an_import_diagnostic(escape, shown):
    text = f'from "a{escape}.arch" import B\n' + SPEC
    result = archspec.check_text(text)
    (finding,) = result.diagnostics
    assert finding.code == "E106"
    assert finding.message.endswith(shown)
    assert finding.primary.span.text == f'"a{escape}.arch"'


def test_an_impossible_import_path_on_the_command_line(capsys, tmp_path):
    spec = tmp_path / "net.arch"
    spec.write_text('from "a\\x00.arch" import B\n' + SPEC, encoding="utf-8")
    code, out, err = run(capsys, "check", str(spec))
    assert code == 1 and "internal error" not in err
    assert "error[E106]: cannot import from 'a\\x00.arch': a file name cannot hold" in out
    assert "\x00" not in out


def test_a_lone_surrogate_in_text_is_a_diagnostic_at_it():
    text = "model Net {\n    input x: [N, 4]  # \ud800\n    return x\n}\n"
    result = archspec.check_text(text)
    (finding,) = result.diagnostics
    assert finding.code == "E003"
    assert finding.message == (
        "the text holds a lone surrogate U+D800 (at character 35), which UTF-8 cannot encode"
    )
    assert (finding.primary.span.line, finding.primary.span.column) == (2, 24)
    render_text(finding).encode("utf-8")  # printable: the source shown stops before it
    with pytest.raises(archspec.core.diagnostic.ArchError):
        format_text(text)


def test_the_language_server_reports_a_lone_surrogate(language_server, tmp_path):
    from pygls.uris import from_fs_path

    uri = from_fs_path(str(tmp_path / "x.arch"))
    text = "model Net {\n    input \ud800x: [N, 4]\n}\n"
    document = {"uri": uri, "languageId": "arch", "version": 1, "text": text}
    language_server.notify("textDocument/didOpen", {"textDocument": document})
    (finding,) = language_server.diagnostics(uri, 1)
    assert finding["code"] == "E003"
    assert finding["range"]["start"] == {"line": 1, "character": 10}
    assert hover(language_server, uri) is None  # and it still answers


# ---------------------------------------------------------------- 5. control and bidi characters


@pytest.mark.parametrize("character", ["\x80", "\x85", "\x9b", "\x9f"])
def test_c1_controls_are_control_characters(character):
    result = archspec.check_text(f"# {character}\n" + SPEC)
    assert codes(result) == ["E003"]
    assert result.diagnostics[0].message == (
        f"the file contains the control character U+{ord(character):04X}"
    )


@pytest.mark.parametrize(
    "character", list("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
)
def test_every_bidi_control_is_reported_where_it_is(character):
    text = (
        f"# a comment{character}\n"
        "model Net {\n"
        "    input x: [N, 4]\n"
        f'    return x -> Linear(4, 2) -> "x{character}": ReLU()\n'
        "}\n"
    )
    result = archspec.check_text(text)
    bidi = [d for d in result.diagnostics if d.code == "W010"]
    assert [(d.primary.span.line, d.primary.span.column) for d in bidi] == [(1, 12), (4, 35)]
    assert all(d.primary.span.text == character for d in bidi)


def test_a_bidi_control_in_code_is_reported_besides_the_syntax_error():
    result = archspec.check_text("model Net\u202e {\n}\n")
    assert sorted(codes(result)) == ["E001", "W010"]


def test_the_text_renderer_escapes_what_a_terminal_would_act_on():
    bidi = archspec.check_text("# look: \u202e }\n" + SPEC, "a\x1bb.arch").diagnostics[0]
    control = archspec.check_text("code \x1b[2J\n", "net.arch").diagnostics[0]
    for finding in (bidi, control):
        for text in (render_text(finding), render_concise(finding)):
            assert not [c for c in UNSHOWABLE if c in text.replace("\n", "")]
        assert "\x1b[2J" not in render_text(finding, color=True)
    assert render_text(bidi).splitlines()[1:5] == [
        " --> a\\x1bb.arch:1:9",
        "  |",
        "1 | # look: \\u202e }",
        "  |         ^^^^^^ reorders how this line is displayed",
    ]
    assert render_text(control).splitlines()[3:5] == [
        "1 | code \\x1b[2J",
        "  |      ^^^^ here",
    ]


def test_the_underline_follows_escaped_characters():
    result = archspec.check_text("# \x85\x85 x\n" + SPEC)
    lines = render_text(result.diagnostics[0]).splitlines()
    assert lines[3:5] == ["1 | # \\x85\\x85 x", "  |   ^^^^ here"]


def test_check_output_never_carries_a_raw_control_character(capsys, tmp_path):
    spec = tmp_path / "net.arch"
    spec.write_text(
        'from "\\x1b[31m\\u202e.arch" import B\n# \u2067 note\n' + SPEC, encoding="utf-8"
    )
    for output_format in ("full", "concise"):
        code, out, err = run(capsys, "check", "--output-format", output_format, str(spec))
        assert code == 1 and err == ""
        assert not [c for c in UNSHOWABLE if c != "\n" and c in out], output_format
        assert "W010" in out and "E106" in out


# ---------------------------------------------------------------- 6. names Python reads differently


@pytest.mark.parametrize(
    ("text", "name", "what"),
    [
        (SPEC.replace("Net", "Ｎet") + SPEC, "Ｎet", "a model name"),
        (SPEC.replace("x", "ｘ"), "ｘ", "an input name"),
        (
            "model Net {\n    input x: [N, 4]\n    ｈ = x -> Linear(4, 2)\n    return ｈ\n}\n",
            "ｈ",
            "a value name",
        ),
        (
            "block Ｂ {\n    input y\n    return y\n}\n"
            "model Net {\n    input x: [N, 4]\n    return x -> Ｂ()\n}\n",
            "Ｂ",
            "a block name",
        ),
        (
            "block B {\n    input ｙ\n    return ｙ\n}\n"
            "model Net {\n    input x: [N, 4]\n    return x -> B()\n}\n",
            "ｙ",
            "an input name",
        ),
    ],
    ids=["model", "input", "value", "block", "block-input"],
)
def test_names_python_reads_differently_are_refused(text, name, what):
    result = archspec.check_text(text)
    (finding,) = result.diagnostics
    normal = name.replace("Ｎ", "N").replace("ｘ", "x").replace("ｈ", "h")
    normal = normal.replace("Ｂ", "B").replace("ｙ", "y")
    assert finding.code == "E105"
    assert finding.message == f"'{name}' is read by Python as '{normal}'; write '{normal}'"
    assert finding.primary.span.text == name
    assert finding.primary.message == f"not usable as {what}"
    with pytest.raises(archspec.SpecError):
        archspec.compile_source(text)


def test_names_python_keeps_are_accepted():
    text = "model 网络 {\n    input 입력: [N, 4]\n    출력 = 입력 -> Linear(4, 2)\n"
    text += "    return 출력\n}\n"
    assert archspec.check_text(text).ok


# ---------------------------------------------------------------- 7. small things


def test_an_empty_path_says_what_is_wrong(capsys):
    code, out, err = run(capsys, "check", "")
    assert code == 2
    assert err == 'archspec: an empty path ("") names no file or folder\n'
    assert out == ""  # not "checked 0 files: no problems"
    code, _, err = run(capsys, "fmt", "")
    assert code == 2 and err.startswith('archspec: an empty path ("") names no file or folder\n')


@needs_dot
@pytest.mark.parametrize(
    ("suffix", "magic"),
    [("jpg", b"\xff\xd8\xff"), ("jpeg", b"\xff\xd8\xff"), ("png", b"\x89PNG"), ("svg", b"<?xml")],
)
def test_graph_takes_the_format_from_the_extension(capsys, tmp_path, suffix, magic):
    spec = tmp_path / "net.arch"
    spec.write_text(SPEC, encoding="utf-8")
    output = tmp_path / f"net.{suffix}"
    assert run(capsys, "graph", str(spec), "-o", str(output))[0] == 0
    assert output.read_bytes().startswith(magic)


def test_graph_refuses_an_unknown_extension(capsys, tmp_path):
    spec = tmp_path / "net.arch"
    spec.write_text(SPEC, encoding="utf-8")
    output = tmp_path / "net.xyz"
    code, out, err = run(capsys, "graph", str(spec), "-o", str(output))
    assert (code, out) == (2, "")
    assert err == (
        f"archspec: cannot draw the extension of {output}: "
        "write dot, svg, png, pdf, jpg, jpeg (or pass --format)\n"
    )
    assert not output.exists()
    code, _, err = run(capsys, "graph", str(spec), "--format", "gif", "-o", str(output))
    assert code == 2 and err.startswith("archspec: cannot draw --format gif: write dot, svg,")


def test_graph_without_an_extension_writes_dot(capsys, tmp_path):
    spec = tmp_path / "net.arch"
    spec.write_text(SPEC, encoding="utf-8")
    output = tmp_path / "graph"
    assert run(capsys, "graph", str(spec), "-o", str(output))[0] == 0
    assert output.read_text(encoding="utf-8").startswith("digraph Net {")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))


@posix_only
def test_a_configuration_file_swapped_for_a_pipe_is_refused_not_waited_on(tmp_path, monkeypatch):
    from archspec.diagnostics.config import ConfigError, ConfigFinder

    os.mkfifo(tmp_path / "archspec.toml")
    monkeypatch.setattr(os.path, "isfile", lambda path: True)  # as if swapped after the look
    with pytest.raises(ConfigError, match="named pipe, not a regular file"):
        ConfigFinder().for_folder(str(tmp_path))
