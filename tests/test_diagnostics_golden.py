"""Golden files: the exact text a user sees for each broken spec (review diffs like code)."""

from __future__ import annotations

import json
import re

import pytest
from conftest import GOLDEN, ROOT

from archspec.cli import main

CASES = sorted((GOLDEN / "diagnostics").glob("*.arch"))
SEED_000 = ROOT / "examples" / "seed000_convnet.arch"


def run_check(capsys, *args: str) -> tuple[int, str]:
    code = main(["check", *args])
    return code, capsys.readouterr().out


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_text_golden(case, capsys, golden):
    code, out = run_check(capsys, str(case.relative_to(ROOT)))
    golden(case.with_suffix(".txt"), f"exit code {code}\n{out}")


def test_seed000_golden(capsys, golden):
    code, out = run_check(capsys, str(SEED_000.relative_to(ROOT)))
    assert code == 1
    golden(GOLDEN / "seed000_convnet.txt", out)


def test_seed000_reports_fc1_line_with_both_numbers(capsys):
    code, out = run_check(capsys, "--format", "json", str(SEED_000.relative_to(ROOT)))
    assert code == 1
    payload = json.loads(out)
    errors = [d for d in payload["diagnostics"] if d["severity"] == "error"]
    assert len(errors) == 1
    error = errors[0]
    assert error["code"] == "E202"
    fc1_line = next(
        number
        for number, line in enumerate(SEED_000.read_text().splitlines(), start=1)
        if "fc1: Linear(7 * 7 * 64, 1000)" in line
    )
    assert error["location"]["line"] == fc1_line
    assert "3136" in error["message"] and "576" in error["message"]
    assert "in_features=576" in error["help"]
    warnings = [d["code"] for d in payload["diagnostics"] if d["severity"] == "warning"]
    assert warnings == ["W001"]  # the stride-5 pool that causes it


def _messages(text: str) -> list[str]:
    return re.findall(r"^(?:error|warning)\[[EW]\d{3}\]: (.*)$", text, flags=re.M)


def test_message_style_in_goldens():
    """rustc style: a message starts lower-case (or with an op's own name) and ends bare."""
    from archspec.ops import REGISTRY

    texts = [p.read_text(encoding="utf-8") for p in GOLDEN.rglob("*.txt")]
    messages = [m for text in texts for m in _messages(text)]
    assert len(messages) > 20
    for message in messages:
        assert not message.endswith("."), message
        first = message.split()[0]
        assert first[0].islower() or first[0] in "'\"`" or first in REGISTRY, message


def test_readme_shows_the_real_seed000_output(capsys):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    marker = "`archspec check examples/seed000_convnet.arch` (exit code 1):\n\n```text\n"
    shown = readme[readme.index(marker) + len(marker) :].split("```", 1)[0]
    code = main(["check", "--color", "never", "examples/seed000_convnet.arch"])
    assert code == 1
    assert capsys.readouterr().out == shown
