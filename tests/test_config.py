"""Configuration (pyproject.toml / archspec.toml), rule selection on the command line, exit codes,
and suppression comments with W007."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import ROOT

from archspec.cli import main
from archspec.core.source import SourceFile
from archspec.diagnostics.config import Config, ConfigError, glob_matches, parse_config
from archspec.diagnostics.suppressions import find_suppressions
from archspec.driver import check_text

BAD = "model M {\n    input x: [N, 4]\n    return x -> Linear(3, 2)\n}\n"  # E202 on line 3
WARN = "model M {\n    input x: [N, 4]\n    input y: [N, 4]\n    return x -> Linear(4, 2)\n}\n"
BIAS = (  # W002 on line 3, W005 on line 4
    "model M {\n    input x: [N, 3, 8, 8]\n"
    "    out = x -> conv: Conv2d(3, 8, 3) -> bn: BatchNorm2d(8)\n"
    "    input y: [N, 4]\n    return out\n}\n"
)


@pytest.fixture(autouse=True)
def _no_format_from_the_environment(monkeypatch):
    monkeypatch.delenv("ARCHSPEC_OUTPUT_FORMAT", raising=False)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def check(capsys, *argv: str) -> tuple[int, list[str], str]:
    """Exit code, reported codes (json), stderr."""
    code = main(["check", "--output-format", "json", *argv])
    captured = capsys.readouterr()
    codes = [d["code"] for d in json.loads(captured.out)["diagnostics"]] if captured.out else []
    return code, codes, captured.err


# ---------------------------------------------------------------- finding the configuration


def test_pyproject_is_found_walking_up_from_the_file(tmp_path, capsys):
    write(tmp_path, "pyproject.toml", '[tool.archspec]\nignore = ["W005"]\n')
    spec = write(tmp_path, "a/b/c/warn.arch", WARN)
    assert check(capsys, str(spec)) == (0, [], "")


def test_the_nearest_configuration_wins(tmp_path, capsys):
    write(tmp_path, "pyproject.toml", '[tool.archspec]\nignore = ["W005"]\n')
    write(tmp_path, "inner/pyproject.toml", '[tool.archspec]\nignore = ["E202"]\n')
    outer = write(tmp_path, "warn.arch", WARN)
    inner_warn = write(tmp_path, "inner/warn.arch", WARN)
    inner_bad = write(tmp_path, "inner/bad.arch", BAD)
    assert check(capsys, str(outer))[1] == []
    assert check(capsys, str(inner_warn))[1] == ["W005"]  # the outer ignore does not apply
    assert check(capsys, str(inner_bad))[:2] == (0, [])


def test_pyproject_without_tool_archspec_is_passed_over(tmp_path, capsys):
    write(tmp_path, "pyproject.toml", '[tool.archspec]\nignore = ["W005"]\n')
    write(tmp_path, "inner/pyproject.toml", '[project]\nname = "x"\n')
    spec = write(tmp_path, "inner/warn.arch", WARN)
    assert check(capsys, str(spec))[1] == []


def test_archspec_toml_uses_top_level_keys_and_wins_in_its_folder(tmp_path, capsys):
    write(tmp_path, "archspec.toml", 'ignore = ["W005"]\n')
    write(tmp_path, "pyproject.toml", '[tool.archspec]\nselect = ["E"]\n')
    warn = write(tmp_path, "warn.arch", WARN)
    bias = write(tmp_path, "bias.arch", BIAS)
    assert check(capsys, str(warn))[1] == []
    assert check(capsys, str(bias))[1] == ["W002"]  # pyproject's select=["E"] is not read


def test_cli_overrides_the_configuration(tmp_path, capsys):
    write(tmp_path, "pyproject.toml", '[tool.archspec]\nignore = ["W005"]\nselect = ["W"]\n')
    bias = write(tmp_path, "bias.arch", BIAS)
    bad = write(tmp_path, "bad.arch", BAD)
    assert check(capsys, str(bias))[1] == ["W002"]
    assert check(capsys, str(bad))[:2] == (0, [])  # E202 is not selected
    assert check(capsys, "--select", "W005", str(bias))[1] == ["W005"]  # --select starts over
    assert check(capsys, "--extend-select", "E2", str(bad))[:2] == (1, ["E202"])
    assert check(capsys, "--ignore", "W002", str(bias))[1] == []


def test_select_ignore_and_extend_select_take_prefixes(tmp_path, capsys):
    bias = write(tmp_path, "bias.arch", BIAS)
    bad = write(tmp_path, "bad.arch", BAD)
    assert check(capsys, "--select", "W00", str(bias))[1] == ["W002", "W005"]
    assert check(capsys, "--select", "E2,W005", str(bias), str(bad))[1] == ["E202", "W005"]
    assert check(capsys, "--select", "E", "--extend-select", "W002", str(bias))[1] == ["W002"]
    assert check(capsys, "--ignore", "W", "--ignore", "E20", str(bias), str(bad))[:2] == (0, [])


def test_syntax_errors_are_reported_whatever_is_selected(tmp_path, capsys):
    broken = write(tmp_path, "broken.arch", "model M {\n    input x: [N, 4]\n    return x ->\n")
    assert check(capsys, "--select", "W", "--ignore", "E", str(broken))[:2] == (1, ["E001"])


# ---------------------------------------------------------------- broken configuration: exit 2


def test_unknown_key_exits_2_with_the_closest_key(tmp_path, capsys):
    write(tmp_path, "pyproject.toml", '[tool.archspec]\nselct = ["E"]\n')
    spec = write(tmp_path, "bad.arch", BAD)
    code, codes, err = check(capsys, str(spec))
    assert (code, codes) == (2, [])
    assert "unknown key 'selct' in [tool.archspec] (did you mean 'select'?)" in err
    assert "pyproject.toml" in err


def test_unknown_key_in_archspec_toml(tmp_path, capsys):
    write(tmp_path, "archspec.toml", "error-on-warnings = true\n")
    code, _, err = check(capsys, str(write(tmp_path, "bad.arch", BAD)))
    assert code == 2
    assert "unknown key 'error-on-warnings' in the top level" in err
    assert "did you mean 'error-on-warning'?" in err


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ('select = "E"', "'select' must be a list of codes or prefixes, not a string"),
        ("error-on-warning = 1", "'error-on-warning' must be true or false, not a number"),
        ("exclude = [1]", "'exclude' must be a list of globs, not a list with a non-string item"),
        ('output-format = "sarf"', "(did you mean 'sarif'?)"),
        ('ignore = ["E999"]', "'E999' is no rule code or prefix"),
        ('[per-file-ignores]\n"*.arch" = "W"', "'per-file-ignores' must be a table"),
        ("select = [", "not valid TOML"),
    ],
)
def test_wrong_values_exit_2(setting, message, tmp_path, capsys):
    write(tmp_path, "archspec.toml", setting + "\n")
    code, _, err = check(capsys, str(write(tmp_path, "bad.arch", BAD)))
    assert code == 2
    assert message in err


def test_unknown_code_on_the_command_line_exits_2(tmp_path, capsys):
    code, _, err = check(capsys, "--select", "E2,X1", str(write(tmp_path, "bad.arch", BAD)))
    assert code == 2
    assert "--select: 'X1' is no rule code or prefix" in err


def test_parse_config_keeps_pyproject_without_our_table_as_none():
    assert parse_config("pyproject.toml", "[tool.ruff]\nline-length = 100\n") is None
    with pytest.raises(ConfigError, match="must be a table"):
        parse_config("pyproject.toml", '[tool]\narchspec = "x"\n')


# ---------------------------------------------------------------- per-file-ignores and exclude


def test_per_file_ignores(tmp_path, capsys):
    write(
        tmp_path,
        "pyproject.toml",
        '[tool.archspec.per-file-ignores]\n"legacy/*.arch" = ["E2", "W005"]\n'
        '"bias.arch" = ["W002"]\n',
    )
    legacy_bad = write(tmp_path, "legacy/bad.arch", BAD)
    legacy_bias = write(tmp_path, "legacy/bias.arch", BIAS)
    bad = write(tmp_path, "bad.arch", BAD)
    nested_bias = write(tmp_path, "deep/er/bias.arch", BIAS)
    assert check(capsys, str(legacy_bad))[:2] == (0, [])
    assert check(capsys, str(legacy_bias))[1] == []  # W005 by the folder, W002 by the name
    assert check(capsys, str(bad))[1] == ["E202"]  # legacy/*.arch does not match bad.arch
    assert check(capsys, str(nested_bias))[1] == ["W005"]  # a name glob matches at any depth


def test_exclude_applies_when_folders_are_expanded(tmp_path, capsys):
    write(tmp_path, "archspec.toml", 'exclude = ["generated", "skip_*.arch"]\n')
    write(tmp_path, "generated/bad.arch", BAD)
    write(tmp_path, "skip_me.arch", BAD)
    write(tmp_path, "kept/bad.arch", BAD)
    code = main(["check", "--output-format", "json", str(tmp_path)])
    payload = json.loads(capsys.readouterr().out)
    assert code == 1
    assert payload["files"] == 1
    assert payload["diagnostics"][0]["location"]["file"].endswith("kept/bad.arch")
    # A file named outright is checked all the same.
    assert check(capsys, str(tmp_path / "skip_me.arch"))[1] == ["E202"]


def test_glob_matching():
    assert glob_matches("a/b/c.arch", "b")
    assert glob_matches("a/b/c.arch", "*.arch")
    assert glob_matches("a/b/c.arch", "a/b")
    assert glob_matches("a/b/c.arch", "a/**/*.arch")
    assert glob_matches("a/b/c.arch", "./a/")
    assert not glob_matches("a/b/c.arch", "b/c.arch")  # with a '/': from the config's folder
    assert not glob_matches("a/bc/d.arch", "b")
    config = Config(folder="/project", exclude=("x",))
    assert not config.excludes("/elsewhere/x/y.arch")  # outside the config's folder


# ---------------------------------------------------------------- exit codes and output format


def test_error_on_warning_from_config_and_command_line(tmp_path, capsys):
    warn = write(tmp_path, "warn.arch", WARN)
    assert check(capsys, str(warn))[0] == 0
    assert check(capsys, "--error-on-warning", str(warn))[0] == 1
    write(tmp_path, "archspec.toml", "error-on-warning = true\n")
    assert check(capsys, str(warn))[0] == 1
    assert check(capsys, "--no-error-on-warning", str(warn))[0] == 0
    assert check(capsys, "--ignore", "W005", str(warn))[0] == 0  # nothing left to fail on


def test_exit_zero(tmp_path, capsys):
    bad = write(tmp_path, "bad.arch", BAD)
    assert check(capsys, "--exit-zero", str(bad))[:2] == (0, ["E202"])
    code, _, _ = check(capsys, "--exit-zero", str(bad), str(tmp_path / "missing.arch"))
    assert code == 2  # usage and I/O problems still exit 2


def test_output_format_from_the_configuration(tmp_path, monkeypatch, capsys):
    write(tmp_path, "pyproject.toml", '[tool.archspec]\noutput-format = "concise"\n')
    write(tmp_path, "bad.arch", BAD)
    monkeypatch.chdir(tmp_path)
    assert main(["check", "bad.arch"]) == 1
    assert capsys.readouterr().out.startswith("bad.arch:3:24: E202 ")
    monkeypatch.setenv("ARCHSPEC_OUTPUT_FORMAT", "github")  # the environment beats the file
    main(["check", "bad.arch"])
    assert capsys.readouterr().out.startswith("::error file=bad.arch,")
    main(["check", "--output-format", "full", "bad.arch"])  # the command line beats both
    assert capsys.readouterr().out.startswith("error[E202]")


# ---------------------------------------------------------------- suppression comments


def codes(text: str) -> list[str]:
    return [d.code for d in check_text(text, "spec.arch").diagnostics]


def test_inline_suppression_of_the_code_on_the_primary_line():
    line = "    return x -> Linear(3, 2)"
    assert codes(BAD) == ["E202"]
    assert codes(BAD.replace(line, line + "  # archspec: ignore[E202]")) == []
    assert codes(BAD.replace(line, line + "  # archspec: ignore")) == []
    assert codes(BAD.replace(line, line + "  #archspec:ignore[E202] why: legacy")) == []


def test_suppression_of_another_code_or_on_another_line_does_not_apply():
    line = "    return x -> Linear(3, 2)"
    other_code = codes(BAD.replace(line, line + "  # archspec: ignore[E201]"))
    assert other_code == ["E202", "W007"]
    other_line = codes(BAD.replace("    input x", "    input x  # archspec: ignore[E202]\n    "))
    assert "E202" in other_line and "W007" in other_line


def test_file_level_suppression():
    text = BIAS + "# archspec: ignore-file[W002]\n"
    assert codes(BIAS) == ["W002", "W005"]
    assert codes(text) == ["W005"]
    assert codes(BIAS + "# archspec: ignore-file\n") == []


def test_unused_suppressions_are_w007():
    result = check_text(WARN + "# archspec: ignore-file[W002]\n", "spec.arch")
    (unused,) = [d for d in result.diagnostics if d.code == "W007"]
    assert (
        unused.message == "`# archspec: ignore-file[W002]` suppresses nothing: no W002 in this file"
    )
    assert unused.primary.span.line == 6
    partly = codes(BAD.replace("Linear(3, 2)", "Linear(3, 2)  # archspec: ignore[E202, W001]"))
    assert partly == ["W007"]
    bare = codes(WARN.replace("Linear(4, 2)", "Linear(4, 2)  # archspec: ignore"))
    assert bare == ["W005", "W007"]


def test_unknown_code_in_a_suppression_is_w007():
    result = check_text(BAD.replace("Linear(3, 2)", "Linear(3, 2)  # archspec: ignore[E9999]"))
    messages = {d.code: d.message for d in result.diagnostics}
    assert "E9999" in messages["W007"] and "does not have" in messages["W007"]
    assert "E202" in messages  # not suppressed


def test_w007_can_be_turned_off():
    unused = WARN + "# archspec: ignore-file[W002]\n"
    assert "W007" not in codes(unused + "# archspec: ignore-file[W007]\n")
    line = "    return x -> Linear(4, 2)"
    assert codes(WARN.replace(line, line + "  # archspec: ignore[W001, W007]")) == ["W005"]


def test_w007_selectable_like_any_rule(tmp_path, capsys):
    spec = write(tmp_path, "spec.arch", WARN + "# archspec: ignore-file[W002]\n")
    assert check(capsys, str(spec))[1] == ["W005", "W007"]
    assert check(capsys, "--ignore", "W007", str(spec))[1] == ["W005"]


def test_syntax_errors_cannot_be_suppressed_and_make_no_w007():
    text = "model M {  # archspec: ignore-file\n    input x: [N, 4]\n    return x ->\n}\n"
    assert codes(text) == ["E001"]


def test_suppressions_inside_blocks_are_never_called_unused():
    text = "block B(c) {\n    input x\n    return x -> Linear(c, 2)  # archspec: ignore[E202]\n}\n"
    assert codes(text) == []  # B is never instantiated here; another file may need it
    model = "model M {\n    input x: [N, 4]\n    return x -> b: B(4)\n}\n"
    assert codes(text + model) == []


def test_a_hash_inside_a_string_starts_no_comment():
    text = 'x = "# archspec: ignore[E202]"  # real comment\ny = 1  # archspec: ignore[W001]\n'
    found = find_suppressions(SourceFile("s.arch", text))
    assert [(s.line, s.codes) for s in found] == [(2, ("W001",))]
    quoted = "z = 'it''s # archspec: ignore'\n"
    assert find_suppressions(SourceFile("s.arch", quoted)) == []


def test_suppression_in_an_imported_file_applies_to_its_blocks(tmp_path, capsys):
    write(
        tmp_path,
        "blocks.arch",
        "block B(c) {\n    input x\n    return x -> Linear(3, 2)  # archspec: ignore[E202]\n}\n",
    )
    main_spec = write(
        tmp_path,
        "main.arch",
        'from "blocks.arch" import B\n\n'
        "model M {\n    input x: [N, 4]\n    return x -> b: B(4)\n}\n",
    )
    assert check(capsys, str(main_spec))[:2] == (0, [])
    unsuppressed = (tmp_path / "blocks.arch").read_text().replace("  # archspec: ignore[E202]", "")
    write(tmp_path, "blocks.arch", unsuppressed)
    assert check(capsys, str(main_spec))[1] == ["E202"]


@pytest.mark.parametrize("document", ["README.md", "docs/rules.md"])
def test_configuration_examples_in_the_docs_are_valid(document):
    text = (ROOT / document).read_text(encoding="utf-8")
    blocks = re.findall(r"```toml\n(.*?)```", text, flags=re.S)
    assert blocks
    for block in blocks:
        assert parse_config("pyproject.toml", block) is not None


@pytest.mark.parametrize(
    ("text", "ours"),
    [
        ("[tool.archspec]\nselect = ['E']\n", True),
        ("[tool.archspec.budgets.Net]\nparams = '1M'\n", True),
        ("[ tool . archspec ]\n", True),
        ("[tool]\narchspec.select = ['E']\n", True),
        ("[tool]\narchspec = { select = ['E'] }\n", True),
        ("tool.archspec.select = ['E']\n", True),
        ('[project.scripts]\narchspec = "archspec.cli:main"\n', False),
        ('[project]\nname = "archspec-nn"\n', False),
    ],
)
def test_pyproject_without_our_table_is_not_parsed(text, ours, monkeypatch):
    """The quick pre-check never skips a table of ours (else settings would be ignored)."""
    from archspec.diagnostics import config

    assert config._may_have_table(text) is ours
    if ours:
        assert parse_config("pyproject.toml", text) is not None
