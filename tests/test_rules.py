"""Every rule documented once (archspec/diagnostics/rules.py): its examples hold, `archspec rule`
prints it, and docs/rules.md is generated from it."""

from __future__ import annotations

import re

import pytest
from conftest import ROOT

from archspec.cli import main
from archspec.core.diagnostic import CODES, OPT_IN_CODES
from archspec.diagnostics.rules import RULE_DOCS, rule_markdown, rule_text, rules_markdown
from archspec.driver import check_file

NOT_PRODUCIBLE_BY_TEXT = {"E004"}
EXAMPLES = [
    (code, kind)
    for code in sorted(set(RULE_DOCS) - NOT_PRODUCIBLE_BY_TEXT)
    for kind in ("bad", "good")
]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def codes_of_example(folder, code: str, kind: str) -> list[str]:
    doc = RULE_DOCS[code]
    for name, text in doc.companions.items():
        (folder / name).write_text(text, encoding="utf-8")
    path = folder / "example.arch"
    path.write_text(getattr(doc, kind), encoding="utf-8")
    return sorted(d.code for d in check_file(str(path), enable={code} & OPT_IN_CODES).diagnostics)


def test_every_code_is_documented():
    assert set(RULE_DOCS) == set(CODES)
    for code, doc in RULE_DOCS.items():
        assert doc.code == code
        assert len(doc.description) > 80, code
        assert doc.summary == CODES[code].summary


@pytest.mark.parametrize(("code", "kind"), EXAMPLES, ids=lambda value: value)
def test_example(code, kind, tmp_path):
    found = codes_of_example(tmp_path, code, kind)
    if kind == "bad":
        assert found == [code]  # exactly its code, once
    else:
        assert found == []  # clean, not merely free of this code


def test_only_e004_lacks_examples_and_nothing_emits_it():
    without = {code for code, doc in RULE_DOCS.items() if doc.bad is None or doc.good is None}
    assert without == NOT_PRODUCIBLE_BY_TEXT
    emitters = [
        path.name
        for path in (ROOT / "archspec").rglob("*.py")
        if path.name not in ("diagnostic.py", "rules.py")
        and '"E004"' in path.read_text(encoding="utf-8")
    ]
    assert emitters == []  # if a stage starts emitting E004, give it examples


def test_docs_rules_md_is_up_to_date():
    written = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    assert written == rules_markdown(), "run: archspec rule --markdown > docs/rules.md"


def test_markdown_has_every_rule_and_its_examples():
    markdown = rules_markdown()
    headings = re.findall(r"^### ([EW]\d{3}) ", markdown, flags=re.M)
    assert headings == sorted(CODES)
    assert "```arch\n" + RULE_DOCS["E202"].bad.rstrip("\n") + "\n```" in markdown
    assert "\x07" not in markdown and "␇" in rule_markdown("E003")  # control chars made visible


def test_rule_command_prints_the_entry(capsys):
    code, out, _ = run(capsys, "rule", "E202")
    assert code == 0
    assert out == rule_text("E202") + "\n"
    assert out.startswith("E202 feature-mismatch (error): ")
    assert "bad:\n" in out and "good:\n" in out
    assert "    return x -> flatten(1) -> fc: Linear(8 * 6 * 6, 10)" in out


@pytest.mark.parametrize("spelling", ["e202", "feature-mismatch", " E202 "])
def test_rule_command_takes_names_and_any_case(spelling, capsys):
    assert run(capsys, "rule", spelling)[1] == rule_text("E202") + "\n"


def test_rule_command_companion_files_are_shown(capsys):
    _, out, _ = run(capsys, "rule", "E106")
    assert "blocks.arch:\n    block Head(features) {" in out


def test_unknown_rule_exits_2_with_a_suggestion(capsys):
    code, out, err = run(capsys, "rule", "E2O2")
    assert code == 2 and out == ""
    assert "no rule 'E2O2'" in err and "did you mean 'E202'?" in err
    code, _, err = run(capsys, "rule", "feature-mismatsh")
    assert code == 2 and "did you mean 'feature-mismatch'?" in err


def test_rule_all_lists_every_code(capsys):
    code, out, _ = run(capsys, "rule", "--all")
    assert code == 0
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == sorted(CODES)
    assert lines[0].split()[:3] == ["E001", "error", "syntax-error"]
    assert any(line.split()[:3] == ["W007", "warning", "unused-suppression"] for line in lines)


def test_rule_markdown_is_the_docs_page(capsys):
    assert run(capsys, "rule", "--markdown")[1] == rules_markdown()


def test_rule_without_a_code_or_with_both_exits_2(capsys):
    assert run(capsys, "rule")[0] == 2
    assert run(capsys, "rule", "E202", "--all")[0] == 2
