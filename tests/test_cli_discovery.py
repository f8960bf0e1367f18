"""`archspec check` as ruff users expect it: which files (default `.`, .gitignore, exclude,
--force-exclude), --config, standard input, -q, --statistics, --show-fixes, `# noqa`, and the
dependents of a checked file (the specs that import it), which the pre-commit hook relies on."""

from __future__ import annotations

import io
import json
import os
import shlex
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, commit_everything

from archspec.cli import main

BAD = "model M {\n    input x: [N, 4]\n    return x -> Linear(3, 2)\n}\n"  # E202 on line 3
GOOD = "model M {\n    input x: [N, 4]\n    return x -> Linear(4, 2)\n}\n"
WARN = "model M {\n    input x: [N, 4]\n    input y: [N, 4]\n    return x -> Linear(4, 2)\n}\n"


@pytest.fixture(autouse=True)
def _no_format_from_the_environment(monkeypatch):
    monkeypatch.delenv("ARCHSPEC_OUTPUT_FORMAT", raising=False)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def check_json(capsys, *argv: str) -> tuple[int, list[str], str]:
    """Exit code, the files of the findings (sorted, as reported), stderr."""
    code = main(["check", "--output-format", "json", *argv])
    captured = capsys.readouterr()
    payload = json.loads(captured.out) if captured.out else {"diagnostics": []}
    files = sorted(d["location"]["file"] for d in payload["diagnostics"])
    return code, files, captured.err


def checked_count(capsys, *argv: str) -> int:
    main(["check", "--output-format", "json", *argv])
    return json.loads(capsys.readouterr().out)["files"]


# ---------------------------------------------------------------- dependents


def resnet_project(tmp_path: Path) -> Path:
    """A project with the shipped ResNet blocks and a ResNet-18 importing them."""
    project = tmp_path / "project"
    (project / "blocks").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    shutil.copy(ROOT / "specs/seeds/resnet_blocks.arch", project / "blocks/resnet_blocks.arch")
    net = (ROOT / "specs/seeds/resnet18_cifar10.arch").read_text(encoding="utf-8")
    net = net.replace('"resnet_blocks.arch"', '"blocks/resnet_blocks.arch"')
    write(project, "resnet18.arch", net)
    return project


def break_the_block(project: Path) -> None:
    """bn2 sized by the block's input: wrong wherever a block widens (layer2's first block)."""
    blocks = project / "blocks/resnet_blocks.arch"
    text = blocks.read_text(encoding="utf-8")
    broken = text.replace("-> bn2: BatchNorm2d(planes)", "-> bn2: BatchNorm2d(inplanes)", 1)
    assert broken != text
    blocks.write_text(broken, encoding="utf-8")


def test_checking_a_block_file_checks_the_specs_that_import_it(tmp_path, monkeypatch, capsys):
    project = resnet_project(tmp_path)
    monkeypatch.chdir(project)
    assert check_json(capsys, "blocks/resnet_blocks.arch")[0] == 0
    break_the_block(project)
    # Alone, the block file has no model and so nothing to fail; its user fails.
    assert check_json(capsys, "--no-dependents", "blocks/resnet_blocks.arch")[0] == 0
    code, files, err = check_json(capsys, "blocks/resnet_blocks.arch")
    assert code == 1
    assert files and set(files) == {"blocks/resnet_blocks.arch"}  # the error is in the block
    assert "also checked 1 file" in err and "resnet18.arch" in err
    assert checked_count(capsys, "blocks/resnet_blocks.arch") == 2


def test_dependents_report_errors_at_their_own_lines(tmp_path, monkeypatch, capsys):
    # A block that drops a parameter breaks the call in the importing spec: reported there.
    project = resnet_project(tmp_path)
    blocks = project / "blocks/resnet_blocks.arch"
    text = blocks.read_text(encoding="utf-8")
    blocks.write_text(text.replace("BasicBlock(inplanes, planes, stride=1)", "BasicBlock(planes)"))
    monkeypatch.chdir(project)
    code, files, _ = check_json(capsys, "blocks/resnet_blocks.arch")
    assert code == 1
    assert "resnet18.arch" in files


def test_dependents_are_found_through_other_files_and_only_once(tmp_path, monkeypatch, capsys):
    write(tmp_path, "archspec.toml", "")
    write(tmp_path, "base.arch", "block Unit(n) {\n    input x\n    return x -> Linear(n, n)\n}\n")
    write(tmp_path, "mid.arch", 'from "base.arch" import Unit\n\nblock Pair(n) {\n'
          "    input x\n    return x -> Unit(n) -> Unit(n)\n}\n")  # fmt: skip
    write(tmp_path, "sub/top.arch", 'from "../mid.arch" import Pair\n\nmodel M {\n'
          "    input x: [N, 4]\n    return x -> Pair(3)\n}\n")  # fmt: skip
    write(tmp_path, "other.arch", GOOD)
    monkeypatch.chdir(tmp_path)
    code, files, err = check_json(capsys, "base.arch")
    assert code == 1
    assert files == ["base.arch"]  # Linear(3, 3) given 4 features, inside the block
    assert "mid.arch" in err and "sub/top.arch" in err and "other.arch" not in err
    # Named together, a file is checked once: not again as the other's dependent.
    assert checked_count(capsys, "base.arch", "sub/top.arch", "mid.arch") == 3


def test_a_models_only_file_needs_no_search_for_dependents(tmp_path, monkeypatch, capsys):
    write(tmp_path, "archspec.toml", "")
    write(tmp_path, "net.arch", GOOD)
    write(tmp_path, "importer.arch", 'from "net.arch" import M\n')  # nothing to import: an error
    monkeypatch.chdir(tmp_path)
    assert check_json(capsys, "net.arch")[:2] == (0, [])


def test_dependents_leave_out_excluded_and_ignored_specs(tmp_path, monkeypatch, capsys):
    project = resnet_project(tmp_path)
    break_the_block(project)
    (project / "resnet18.arch").rename(project / "fixtures_resnet18.arch")
    write(project, "archspec.toml", 'exclude = ["fixtures_*"]\n')
    monkeypatch.chdir(project)
    assert check_json(capsys, "blocks/resnet_blocks.arch")[0] == 0
    write(project, "archspec.toml", "")
    write(project, ".gitignore", "fixtures_*\n")
    assert check_json(capsys, "blocks/resnet_blocks.arch")[0] == 0
    assert check_json(capsys, "--no-respect-gitignore", "blocks/resnet_blocks.arch")[0] == 1


def test_the_pre_commit_hook_fails_a_commit_that_breaks_an_importing_spec(
    tmp_path, monkeypatch, capsys
):
    # pre-commit runs the hook's entry with the changed files only: here the block library.
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    entry = next(hook for hook in hooks if hook["id"] == "archspec-check")["entry"]
    command = shlex.split(entry)
    assert command[:2] == ["archspec", "check"]
    project = resnet_project(tmp_path)
    commit_everything(project)
    break_the_block(project)
    monkeypatch.chdir(project)
    code = main([*command[1:], "blocks/resnet_blocks.arch"])
    out = capsys.readouterr().out
    assert code == 1
    assert "error[E2" in out


# ---------------------------------------------------------------- which files


def test_gitignore_is_respected_when_searching_folders(tmp_path, monkeypatch, capsys):
    (tmp_path / ".git").mkdir()
    write(tmp_path, ".gitignore", "generated/\n*.tmp.arch\n")
    write(tmp_path, "models/.gitignore", "!keep.tmp.arch\n")
    write(tmp_path, "generated/bad.arch", BAD)
    write(tmp_path, "scratch.tmp.arch", BAD)
    write(tmp_path, "models/keep.tmp.arch", BAD)
    write(tmp_path, "models/good.arch", GOOD)
    monkeypatch.chdir(tmp_path)
    code, files, _ = check_json(capsys)
    assert (code, files) == (1, ["models/keep.tmp.arch"])  # a deeper `!` pattern re-includes
    assert checked_count(capsys, "--no-respect-gitignore", ".") == 4
    # A file named outright is checked, ignored or not (as ruff does).
    assert check_json(capsys, "generated/bad.arch")[1] == ["generated/bad.arch"]
    # A folder named outright whose files .gitignore ignores says so, and how to check them.
    assert main(["check", "generated"]) == 2
    assert capsys.readouterr().err == (
        "archspec: generated: no .arch files found (1 .gitignore ignores: "
        "--no-respect-gitignore checks them, or name the files)\n"
    )
    # The configuration can turn it off too.
    write(tmp_path, "archspec.toml", "respect-gitignore = false\n")
    assert checked_count(capsys) == 4


def test_exclude_and_force_exclude(tmp_path, monkeypatch, capsys):
    write(tmp_path, "archspec.toml", 'exclude = ["legacy"]\n')
    write(tmp_path, "legacy/bad.arch", BAD)
    write(tmp_path, "vendor/bad.arch", BAD)
    write(tmp_path, "good.arch", GOOD)
    monkeypatch.chdir(tmp_path)
    assert check_json(capsys)[1] == ["vendor/bad.arch"]
    assert check_json(capsys, "--extend-exclude", "vendor")[:2] == (0, [])
    # --exclude replaces the configuration's list.
    assert check_json(capsys, "--exclude", "vendor")[1] == ["legacy/bad.arch"]
    # Named outright, an excluded file is checked, unless --force-exclude (pre-commit's case).
    assert check_json(capsys, "legacy/bad.arch")[1] == ["legacy/bad.arch"]
    assert check_json(capsys, "--force-exclude", "legacy/bad.arch", "good.arch")[:2] == (0, [])
    write(tmp_path, "archspec.toml", 'exclude = ["legacy"]\nforce-exclude = true\n')
    assert check_json(capsys, "legacy/bad.arch")[:2] == (0, [])
    assert check_json(capsys, "--no-force-exclude", "legacy/bad.arch")[0] == 1


def test_a_folder_named_outright_is_searched_even_if_excluded(tmp_path, monkeypatch, capsys):
    write(tmp_path, "archspec.toml", 'exclude = ["fixtures"]\n')
    write(tmp_path, "fixtures/broken/bad.arch", BAD)
    write(tmp_path, "fixtures/broken/fixtures/deeper.arch", BAD)
    monkeypatch.chdir(tmp_path)
    assert main(["check"]) == 2  # `.` finds nothing
    assert "no .arch files found" in capsys.readouterr().err
    assert check_json(capsys, "fixtures/broken")[1] == ["fixtures/broken/bad.arch"]


# ---------------------------------------------------------------- --config


def test_config_path_and_key_value(tmp_path, monkeypatch, capsys):
    write(tmp_path, "archspec.toml", 'ignore = ["W"]\n')
    write(tmp_path, "warn.arch", WARN)
    write(tmp_path, "elsewhere/strict.toml", 'select = ["W"]\nerror-on-warning = true\n')
    monkeypatch.chdir(tmp_path)
    assert check_json(capsys, "warn.arch")[:2] == (0, [])
    assert check_json(capsys, "--config", "elsewhere/strict.toml", "warn.arch")[0] == 1
    assert check_json(capsys, "--config", "ignore = []", "warn.arch")[:2] == (0, ["warn.arch"])
    code, files, _ = check_json(
        capsys, "--config", "ignore = []", "--config", "error-on-warning = true", "warn.arch"
    )
    assert (code, files) == (1, ["warn.arch"])


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ignor = ['W']", "unknown key 'ignor'"),
        ("ignore = W", "not a TOML `key = value`"),
        ("missing.toml", "missing.toml: no such file"),
        ("error-on-warning = 'yes'", "'error-on-warning' must be true or false"),
    ],
)
def test_config_mistakes_exit_2_with_one_line(value, message, tmp_path, monkeypatch, capsys):
    write(tmp_path, "warn.arch", WARN)
    monkeypatch.chdir(tmp_path)
    code = main(["check", "--config", value, "warn.arch"])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err


def test_config_file_without_our_table_is_refused(tmp_path, monkeypatch, capsys):
    write(tmp_path, "other/pyproject.toml", "[tool.ruff]\nline-length = 100\n")
    write(tmp_path, "warn.arch", WARN)
    monkeypatch.chdir(tmp_path)
    assert main(["check", "--config", "other/pyproject.toml", "warn.arch"]) == 2
    assert "has no [tool.archspec] table" in capsys.readouterr().err


# ---------------------------------------------------------------- standard input


def test_standard_input_with_a_file_name(tmp_path, monkeypatch, capsys):
    write(tmp_path, "archspec.toml", '[per-file-ignores]\n"legacy/*" = ["E202"]\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO(BAD))
    code = main(["check", "--output-format", "concise", "--stdin-filename", "models/x.arch", "-"])
    out = capsys.readouterr().out
    assert code == 1
    assert out.startswith("models/x.arch:3:")
    # The name decides the configuration that applies, as for a file.
    monkeypatch.setattr("sys.stdin", io.StringIO(BAD))
    assert check_json(capsys, "--stdin-filename", "legacy/x.arch", "-")[:2] == (0, [])
    monkeypatch.setattr("sys.stdin", io.StringIO(BAD))
    assert check_json(capsys, "-")[1] == ["-"]


def test_standard_input_excluded_by_force_exclude_reports_nothing(tmp_path, monkeypatch, capsys):
    write(tmp_path, "archspec.toml", 'exclude = ["legacy"]\nforce-exclude = true\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO(BAD))
    assert check_json(capsys, "--stdin-filename", "legacy/x.arch", "-")[:2] == (0, [])


def test_fix_on_standard_input_writes_the_fixed_text(monkeypatch, capsys):
    # As ruff does for editors: the fixed text on standard output, the report on standard error.
    text = GOOD.replace("Linear(4, 2)", "Linear(4, 2)  # noqa: W005")
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    code = main(["check", "--fix", "--stdin-filename", "x.arch", "-"])
    captured = capsys.readouterr()
    assert code == 0
    assert captured.out == GOOD
    assert "checked 1 file: no problems" in captured.err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-", "x.arch"], "cannot be combined"),
        (["--fix", "--diff", "-"], "does not read standard input"),
        (["--stdin-filename", "x.arch", "x.arch"], "names what `-` reads"),
    ],
)
def test_standard_input_mistakes(argv, message, capsys):
    assert main(["check", *argv]) == 2
    assert message in capsys.readouterr().err


# ---------------------------------------------------------------- output options


def test_quiet_prints_the_findings_without_the_summary(tmp_path, capsys):
    bad = write(tmp_path, "bad.arch", BAD)
    good = write(tmp_path, "good.arch", GOOD)
    assert main(["check", "-q", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "error[E202]" in out and "checked 1 file" not in out
    assert out.endswith("\n") and not out.endswith("\n\n")
    assert main(["check", "--quiet", "--output-format", "concise", str(good)]) == 0
    assert capsys.readouterr().out == ""


def test_statistics_count_findings_by_rule(tmp_path, capsys):
    write(tmp_path, "a.arch", BAD)
    write(tmp_path, "b.arch", BAD)
    write(tmp_path, "c.arch", WARN)
    assert main(["check", "--statistics", str(tmp_path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split("\t")[:2] == ["2", "E202"]
    assert lines[1].split("\t")[:2] == ["1", "W005"]
    assert main(["check", "--statistics", "--output-format", "json", str(tmp_path)]) == 1
    stats = json.loads(capsys.readouterr().out)
    assert [(s["code"], s["count"]) for s in stats] == [("E202", 2), ("W005", 1)]


def test_show_fixes_lists_what_fix_fixed(tmp_path, capsys):
    spec = write(tmp_path, "spec.arch", GOOD.replace("Linear(4, 2)", "Linear(4, 2)  # noqa: W005"))
    code = main(["check", "--fix", "--show-fixes", str(spec)])
    err = capsys.readouterr().err
    assert code == 0
    assert "Fixed 1 finding:" in err
    assert f"- {spec}:" in err and "1 × W007 (" in err
    assert "# noqa" not in spec.read_text(encoding="utf-8")


# ---------------------------------------------------------------- noqa


def test_noqa_comments_suppress_like_archspec_ignore(tmp_path, capsys):
    spec = write(tmp_path, "spec.arch", BAD.replace("(3, 2)", "(3, 2)  # noqa: E202"))
    assert check_json(capsys, str(spec))[:2] == (0, [])
    bare = write(tmp_path, "bare.arch", BAD.replace("(3, 2)", "(3, 2)  # NOQA"))
    assert check_json(capsys, str(bare))[:2] == (0, [])
    other = write(tmp_path, "other.arch", BAD.replace("(3, 2)", "(3, 2)  # noqa: W003"))
    main(["check", "--output-format", "json", str(other)])
    codes = [d["code"] for d in json.loads(capsys.readouterr().out)["diagnostics"]]
    assert sorted(codes) == ["E202", "W007"]  # not suppressed, and the comment is unused


def test_unused_noqa_codes_are_narrowed_by_fix(tmp_path, capsys):
    spec = write(tmp_path, "spec.arch", BAD.replace("(3, 2)", "(3, 2)  # noqa: E202, W003"))
    assert main(["check", "--fix", str(spec)]) == 0
    capsys.readouterr()
    assert "Linear(3, 2)  # noqa: E202\n" in spec.read_text(encoding="utf-8")


def test_fmt_without_a_path_formats_the_current_folder(tmp_path, monkeypatch, capsys):
    write(tmp_path, "a.arch", GOOD.replace("    input", "  input"))
    write(tmp_path, "ignored/b.arch", GOOD.replace("    input", "  input"))
    write(tmp_path, "excluded/c.arch", GOOD.replace("    input", "  input"))
    write(tmp_path, ".gitignore", "ignored/\n")
    write(tmp_path, "archspec.toml", 'extend-exclude = ["excluded"]\n')
    monkeypatch.chdir(tmp_path)
    assert main(["fmt", "--check"]) == 1
    out = capsys.readouterr().out
    assert out == "would reformat a.arch\n"


def test_a_library_emptied_of_its_blocks_still_fails_its_importers(tmp_path, monkeypatch, capsys):
    project = resnet_project(tmp_path)
    (project / "blocks/resnet_blocks.arch").write_text("# moved elsewhere\n", encoding="utf-8")
    monkeypatch.chdir(project)
    code, files, _ = check_json(capsys, "blocks/resnet_blocks.arch")
    assert code == 1 and set(files) == {"resnet18.arch"}  # "defines no block BasicBlock"


def test_fmt_formats_standard_input_onto_standard_output(monkeypatch, capsys):
    messy = GOOD.replace("    input", "  input")
    monkeypatch.setattr("sys.stdin", io.StringIO(messy))
    assert main(["fmt", "-"]) == 0
    assert capsys.readouterr().out == GOOD
    monkeypatch.setattr("sys.stdin", io.StringIO(messy))
    assert main(["fmt", "--check", "-"]) == 1
    assert capsys.readouterr().out == ""
    monkeypatch.setattr("sys.stdin", io.StringIO("model M {\n"))
    assert main(["fmt", "--stdin-filename", "x.arch", "-"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "x.arch:2:1" in captured.err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_an_unreadable_spec_in_the_project_does_not_stop_the_search(tmp_path, monkeypatch, capsys):
    project = resnet_project(tmp_path)
    os.mkfifo(project / "pipe.arch")  # reading it would wait for a writer forever
    break_the_block(project)
    monkeypatch.chdir(project)
    code, files, _ = check_json(capsys, "blocks/resnet_blocks.arch")
    assert code == 1 and files


def test_two_configuration_files_are_refused(tmp_path, monkeypatch, capsys):
    write(tmp_path, "a.toml", "")
    write(tmp_path, "b.toml", "")
    write(tmp_path, "warn.arch", WARN)
    monkeypatch.chdir(tmp_path)
    assert main(["check", "--config", "a.toml", "--config", "b.toml", "warn.arch"]) == 2
    assert "--config PATH is given twice" in capsys.readouterr().err
