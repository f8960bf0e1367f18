"""`archspec check --output-format ...`: goldens of every format, SARIF against the official schema,
GitHub's escaping, colour, --output-file and ARCHSPEC_OUTPUT_FORMAT."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
from conftest import GOLDEN, ROOT

from archspec.cli import main
from archspec.core import diagnostic as diag
from archspec.core.source import SourceFile
from archspec.diagnostics.formats import (
    OUTPUT_FORMATS,
    escape_github_data,
    escape_github_property,
    render,
    render_github,
)

SPEC = GOLDEN / "formats" / "spec.arch"
SPEC_ARG = SPEC.relative_to(ROOT).as_posix()
SARIF_SCHEMA = json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())
SUFFIXES = {
    "full": ".full.txt",
    "concise": ".concise.txt",
    "json": ".json",
    "github": ".github.txt",
    "sarif": ".sarif",
    "gitlab": ".gitlab.json",
}
REPOSITORY_URI = "file:///path/to/repository/"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
BAD = "model M {\n    input x: [N, 4]\n    return x -> Linear(3, 2)\n}\n"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(autouse=True)
def _no_colour_or_format_from_the_environment(monkeypatch):
    for name in ("NO_COLOR", "FORCE_COLOR", "ARCHSPEC_OUTPUT_FORMAT"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("output_format", OUTPUT_FORMATS)
def test_format_golden(output_format, capsys, golden):
    code, out, err = run(capsys, "check", "--output-format", output_format, SPEC_ARG)
    assert code == 1
    assert err == ""
    # SARIF names the repository's folder (originalUriBaseIds): the golden holds a stand-in.
    out = out.replace(json.dumps(ROOT.as_uri() + "/"), json.dumps(REPOSITORY_URI))
    golden(SPEC.with_suffix(SUFFIXES[output_format]), out)


def test_golden_spec_has_errors_warnings_a_suppression_and_a_secondary_label(capsys):
    _, out, _ = run(capsys, "check", "--output-format", "json", SPEC_ARG)
    payload = json.loads(out)
    codes = [d["code"] for d in payload["diagnostics"]]
    assert payload["errors"] >= 1 and payload["warnings"] >= 3
    assert "W003" not in codes  # suppressed by its comment
    assert "W007" in codes  # the comment that suppresses nothing
    assert any(not label["primary"] for d in payload["diagnostics"] for label in d["labels"])


def test_text_is_an_alias_of_full_and_format_of_output_format(capsys):
    outputs = [
        run(capsys, "check", *options, SPEC_ARG)[1]
        for options in ([], ["--format", "text"], ["--output-format", "full"], ["--format=full"])
    ]
    assert len(set(outputs)) == 1
    _, json_out, _ = run(capsys, "check", "--format", "json", SPEC_ARG)
    assert json.loads(json_out)["files"] == 1


# ---------------------------------------------------------------- sarif


def sarif_of(capsys, *paths: str) -> dict:
    _, out, _ = run(capsys, "check", "--output-format", "sarif", *paths)
    return json.loads(out)


def test_sarif_validates_against_the_official_schema(capsys):
    log = sarif_of(capsys, SPEC_ARG, "tests/golden/diagnostics")
    validator_class = jsonschema.validators.validator_for(SARIF_SCHEMA)
    validator_class.check_schema(SARIF_SCHEMA)
    errors = sorted(validator_class(SARIF_SCHEMA).iter_errors(log), key=str)
    assert errors == [], errors[:3]
    assert len(log["runs"][0]["results"]) > 40


def test_the_schema_rejects_a_broken_log(capsys):
    """The validation above can fail: a result without its message is refused."""
    log = sarif_of(capsys, SPEC_ARG)
    del log["runs"][0]["results"][0]["message"]
    assert not jsonschema.validators.validator_for(SARIF_SCHEMA)(SARIF_SCHEMA).is_valid(log)


def test_sarif_rules_and_results_agree(capsys):
    run_ = sarif_of(capsys, SPEC_ARG)["runs"][0]
    driver = run_["tool"]["driver"]
    rules = driver["rules"]
    assert [rule["id"] for rule in rules] == sorted(diag.CODES)
    assert driver["name"] == "archspec" and driver["version"] and driver["informationUri"]
    for rule in rules:
        assert rule["name"] == diag.CODES[rule["id"]].name
        assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
        assert rule["help"]["text"] and rule["help"]["markdown"].startswith(f"### {rule['id']}")
    for result in run_["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] == ("error" if result["ruleId"].startswith("E") else "warning")
        location = result["locations"][0]["physicalLocation"]
        assert location["artifactLocation"] == {"uri": SPEC_ARG, "uriBaseId": "%SRCROOT%"}
        region = location["region"]
        assert set(region) == {"startLine", "startColumn", "endLine", "endColumn"}
        assert (region["endLine"], region["endColumn"]) >= (
            region["startLine"],
            region["startColumn"],
        )
    e202 = next(r for r in run_["results"] if r["ruleId"] == "E202")
    related = e202["relatedLocations"]
    assert related[0]["message"]["text"] == "produces [N, 576]"
    assert related[0]["physicalLocation"]["region"]["startLine"] == 8


def test_sarif_fingerprints_survive_lines_moving(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Path("spec.arch").write_text(BAD)
    first = sarif_of(capsys, "spec.arch")["runs"][0]["results"][0]
    Path("spec.arch").write_text("# a comment above moves every line\n" + BAD)
    moved = sarif_of(capsys, "spec.arch")["runs"][0]["results"][0]
    assert moved["locations"][0]["physicalLocation"]["region"]["startLine"] == 4
    assert first["partialFingerprints"] == moved["partialFingerprints"]
    Path("spec.arch").write_text(BAD.replace("Linear(3, 2)", "Linear(5, 2)"))
    other = sarif_of(capsys, "spec.arch")["runs"][0]["results"][0]
    assert other["partialFingerprints"] != first["partialFingerprints"]


def test_sarif_paths_outside_a_repository_are_relative_to_the_current_folder(
    tmp_path, monkeypatch, capsys
):
    # No .git, pyproject.toml or archspec.toml above: the current folder is the root.
    (tmp_path / "nested" / "deeper").mkdir(parents=True)
    (tmp_path / "nested" / "deeper" / "spec.arch").write_text(BAD)
    monkeypatch.chdir(tmp_path)
    results = sarif_of(capsys, str(tmp_path / "nested"))["runs"][0]["results"]
    artifact = results[0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert artifact == {"uri": "nested/deeper/spec.arch", "uriBaseId": "%SRCROOT%"}


def test_sarif_uris_are_relative_to_the_repository_root_not_the_current_folder(
    tmp_path, monkeypatch, capsys
):
    # Code scanning resolves a result's URI against the repository: run from a subfolder, the
    # URI still starts at the repository's top, and %SRCROOT% says where that is.
    (tmp_path / ".git").mkdir()
    (tmp_path / "models" / "vision").mkdir(parents=True)
    (tmp_path / "models" / "vision" / "spec.arch").write_text(BAD)
    monkeypatch.chdir(tmp_path / "models")
    log = sarif_of(capsys, "vision/spec.arch")
    run_ = log["runs"][0]
    location = run_["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert location == {"uri": "models/vision/spec.arch", "uriBaseId": "%SRCROOT%"}
    assert run_["originalUriBaseIds"] == {"%SRCROOT%": {"uri": tmp_path.as_uri() + "/"}}
    assert jsonschema.validators.validator_for(SARIF_SCHEMA)(SARIF_SCHEMA).is_valid(log)


def test_sarif_path_outside_the_current_folder_is_an_absolute_file_uri(tmp_path, capsys):
    path = tmp_path / "spec.arch"
    path.write_text(BAD)
    log = sarif_of(capsys, str(path))
    artifact = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert artifact["artifactLocation"] == {"uri": path.as_uri()}
    assert jsonschema.validators.validator_for(SARIF_SCHEMA)(SARIF_SCHEMA).is_valid(log)


# ---------------------------------------------------------------- github


def test_github_escaping_of_messages_and_properties():
    assert escape_github_data("50% of a\r\nb: c, d") == "50%25 of a%0D%0Ab: c, d"
    assert escape_github_property("50% a\nb: c, d") == "50%25 a%0Ab%3A c%2C d"
    assert escape_github_property("%3A") == "%253A"  # `%` first, or escapes get re-escaped


def test_github_lines_escape_what_they_carry():
    source = SourceFile("dir,with:odd/spec.arch", "model M {\n    input x\n}\n")
    finding = diag.make(
        "E109", "100% broken:\nsecond line", source.span(10, 17), help="fix it, then: rerun"
    )
    (line,) = render_github([finding], root="/nowhere")
    properties, message = line.removeprefix("::error ").split("::", 1)
    assert "file=/nowhere" not in properties  # outside root: the absolute path, escaped
    assert "dir%2Cwith%3Aodd/spec.arch," in properties
    assert properties.endswith(",line=2,col=1,endLine=2,endColumn=8,title=E109")
    assert message == "100%25 broken:%0Asecond line%0Ahelp: fix it, then: rerun"
    assert "\n" not in line


def test_github_puts_errors_before_warnings(capsys):
    _, out, _ = run(capsys, "check", "--output-format", "github", SPEC_ARG)
    kinds = [line.split(" ", 1)[0] for line in out.splitlines()]
    assert kinds[0] == "::error" and "::warning" in kinds
    assert kinds == sorted(kinds, key=lambda kind: kind != "::error")
    assert all(line.startswith(("::error file=", "::warning file=")) for line in out.splitlines())


# ---------------------------------------------------------------- gitlab and concise


def test_gitlab_code_quality_fields(capsys):
    _, out, _ = run(capsys, "check", "--output-format", "gitlab", SPEC_ARG)
    issues = json.loads(out)
    assert {issue["severity"] for issue in issues} == {"major", "minor"}
    for issue in issues:
        assert set(issue) == {"description", "check_name", "fingerprint", "severity", "location"}
        assert issue["location"]["path"] == SPEC_ARG
        assert (issue["severity"] == "major") == issue["check_name"].startswith("E")
    assert len({issue["fingerprint"] for issue in issues}) == len(issues)


def test_concise_lines_match_the_full_locations(capsys):
    _, concise, _ = run(capsys, "check", "--output-format", "concise", SPEC_ARG)
    _, full, _ = run(capsys, "check", SPEC_ARG)
    lines = concise.splitlines()[:-1]
    for line in lines:
        location, code_and_message = line.split(": ", 1)
        code, message = code_and_message.split(" ", 1)
        mark = f" {message[:3]}" if message[:4] in ("[*] ", "[~] ") else ""
        message = message.removeprefix(mark.lstrip() + " ") if mark else message
        assert f"--> {location}" in full
        assert f"[{code}]{mark}: {message}" in full


def test_syntax_errors_come_out_in_every_format(capsys):
    spec = "tests/golden/diagnostics/missing_comma.arch"
    for output_format in OUTPUT_FORMATS:
        code, out, _ = run(capsys, "check", "--output-format", output_format, spec)
        assert code == 1
        assert "E001" in out, output_format


def test_clean_run_in_machine_formats(capsys):
    spec = "specs/seeds/mnist_cnn.arch"
    assert json.loads(run(capsys, "check", "--output-format", "gitlab", spec)[1]) == []
    assert sarif_of(capsys, spec)["runs"][0]["results"] == []
    assert run(capsys, "check", "--output-format", "github", spec)[1] == ""


# ---------------------------------------------------------------- colour


def test_color_always_paints_like_rustc_and_strips_to_the_plain_text(capsys):
    _, plain, _ = run(capsys, "check", "--color", "never", SPEC_ARG)
    _, painted, _ = run(capsys, "check", "--color", "always", SPEC_ARG)
    assert "\x1b[" not in plain
    assert ANSI.sub("", painted) == plain
    assert "\x1b[1;31merror[E202]\x1b[0m" in painted
    assert "\x1b[1;33mwarning[W005]\x1b[0m" in painted
    assert "\x1b[1;34m  |\x1b[0m" in painted  # the gutter
    assert "\x1b[1;34m---------- produces [N, 576]\x1b[0m" in painted  # a secondary label


@pytest.mark.parametrize(
    ("environment", "painted"),
    [({}, False), ({"FORCE_COLOR": "1"}, True), ({"NO_COLOR": "1", "FORCE_COLOR": "1"}, False)],
)
def test_color_auto_follows_the_environment(environment, painted, monkeypatch, capsys):
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    _, out, _ = run(capsys, "check", SPEC_ARG)  # captured stdout is no terminal
    assert ("\x1b[" in out) is painted


def test_color_auto_on_a_terminal(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdout.isatty", lambda: True, raising=False)
    _, out, _ = run(capsys, "check", SPEC_ARG)
    assert "\x1b[1;31m" in out
    monkeypatch.setenv("NO_COLOR", "1")
    _, out, _ = run(capsys, "check", SPEC_ARG)
    assert "\x1b[" not in out


def test_machine_formats_are_never_coloured(capsys):
    _, out, _ = run(capsys, "check", "--color", "always", "--output-format", "json", SPEC_ARG)
    assert "\x1b[" not in out
    json.loads(out)


def test_render_rejects_an_unknown_format():
    with pytest.raises(ValueError, match="unknown output format"):
        render([], 0, "xml")


# ---------------------------------------------------------------- where the output goes


def test_output_file_gets_what_stdout_would(tmp_path, capsys):
    target = tmp_path / "report.sarif"
    _, expected, _ = run(capsys, "check", "--output-format", "sarif", SPEC_ARG)
    code, out, err = run(
        capsys, "check", "--output-format", "sarif", "--output-file", str(target), SPEC_ARG
    )
    assert code == 1
    assert out == "" and err == ""
    assert target.read_text(encoding="utf-8") == expected
    assert [p.name for p in tmp_path.iterdir()] == ["report.sarif"]  # no temporary left


def test_output_file_in_a_missing_folder_exits_2(tmp_path, capsys):
    code, _, err = run(capsys, "check", "--output-file", str(tmp_path / "no" / "x.txt"), SPEC_ARG)
    assert code == 2
    assert "cannot write" in err


def test_full_format_to_a_file_is_not_coloured_on_auto(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FORCE_COLOR", "1")
    target = tmp_path / "out.txt"
    run(capsys, "check", "--output-file", str(target), SPEC_ARG)
    assert "\x1b[" not in target.read_text(encoding="utf-8")


def test_output_format_from_the_environment(monkeypatch, capsys):
    monkeypatch.setenv("ARCHSPEC_OUTPUT_FORMAT", "concise")
    _, out, _ = run(capsys, "check", SPEC_ARG)
    assert out.splitlines()[0].startswith(f"{SPEC_ARG}:4:5: W005 ")
    _, out, _ = run(capsys, "check", "--output-format", "json", SPEC_ARG)  # the flag wins
    assert json.loads(out)["files"] == 1


def test_unknown_output_format_in_the_environment_exits_2(monkeypatch, capsys):
    monkeypatch.setenv("ARCHSPEC_OUTPUT_FORMAT", "xml")
    code, out, err = run(capsys, "check", SPEC_ARG)
    assert code == 2 and out == ""
    assert "ARCHSPEC_OUTPUT_FORMAT='xml' is no output format" in err
