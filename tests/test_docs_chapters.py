"""The chapters docs/sequence-models.md and docs/extern.md: every spec they mark as an example
checks clean, and the outputs they quote are what archspec prints today."""

from __future__ import annotations

import re
import sys

import pytest
from conftest import ROOT

import archspec
from archspec.cli.commands import main

CHAPTERS = ["sequence-models.md", "extern.md"]


def _examples(name: str) -> list[str]:
    text = (ROOT / "docs" / name).read_text(encoding="utf-8")
    return re.findall(r"<!-- chapter-example -->\n```arch\n(.*?)```", text, re.S)


def test_each_chapter_has_examples():
    assert [len(_examples(name)) > 0 for name in CHAPTERS] == [True, True]


@pytest.mark.parametrize(
    ("chapter", "index"),
    [(name, i) for name in CHAPTERS for i in range(len(_examples(name)))],
)
def test_chapter_examples_check_clean(chapter: str, index: int):
    result = archspec.check_text(_examples(chapter)[index], f"{chapter}.arch")
    assert result.diagnostics == [], [d.message for d in result.diagnostics]


def test_the_extern_example_is_the_shipped_spec():
    shipped = (ROOT / "examples" / "se_net.arch").read_text(encoding="utf-8")
    (example,) = _examples("extern.md")
    assert example.strip() in shipped


def _run(argv: list[str], capsys) -> tuple[int, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _quoted(chapter: str) -> str:
    return (ROOT / "docs" / chapter).read_text(encoding="utf-8")


def test_sequence_chapter_quotes_sizes_and_summary(tmp_path, capsys):
    text = (ROOT / "specs" / "sequence" / "gpt.arch").read_text(encoding="utf-8")
    open_length = text.replace("[N, L in 1..block_size] int64", "[N, L] int64")
    (tmp_path / "gpt.arch").write_text(open_length, encoding="utf-8")
    code, out = _run(["sizes", str(tmp_path / "gpt.arch")], capsys)
    assert code == 0
    doc = _quoted("sequence-models.md")
    for line in out.splitlines()[1:]:  # the first names the file where it was written
        assert line.replace(str(tmp_path) + "/", "") in doc, line
    code, out = _run(["summary", str(ROOT / "specs" / "sequence" / "gpt.arch")], capsys)
    assert "Tied: head.weight = embed.tok.weight (32,768 params, counted once)" in out
    assert "Tied: head.weight = embed.tok.weight (32,768 params, counted once)" in doc
    assert "Total params: 834,304" in out and "Total params: 834,304" in doc


def test_sequence_chapter_quotes_the_tie_error():
    text = (ROOT / "specs" / "sequence" / "gpt.arch").read_text(encoding="utf-8")
    wrong = text.replace("d_model=128", "d_model=64").replace(
        "head: Linear(d_model, vocab_size", "head: Linear(2 * d_model, vocab_size"
    )
    result = archspec.check_text(wrong, "gpt.arch")
    (error,) = [d for d in result.diagnostics if d.code == "E211"]
    assert f"error[E211]: {error.message}" in _quoted("sequence-models.md")


def test_extern_chapter_quotes_check_summary_and_verify(tmp_path, capsys, monkeypatch):
    spec = (ROOT / "examples" / "se_net.arch").read_text(encoding="utf-8")
    doc = _quoted("extern.md")
    wrong = tmp_path / "se_net.arch"
    wrong.write_text(spec.replace("Conv2d(128, 64", "Conv2d(64, 64"), encoding="utf-8")
    code, out = _run(["check", str(wrong)], capsys)
    assert code == 1
    assert out.splitlines()[0] in doc
    code, out = _run(["summary", str(ROOT / "examples" / "se_net.arch")], capsys)
    for name in ("se1 ", "space_to_depth ", "Total mult-adds"):
        (line,) = [row for row in out.splitlines() if row.startswith(name)]
        assert line in doc, line
    pytest.importorskip("torch")
    monkeypatch.syspath_prepend(str(ROOT / "examples"))
    sys.modules.pop("mylayers", None)
    code, out = _run(["verify", str(ROOT / "examples" / "se_net.arch")], capsys)
    assert code == 0, out
    broken = tmp_path / "broken.arch"
    broken_text = spec.replace("[N, C * 4, H / 2", "[N, C * 2, H / 2")
    broken.write_text(broken_text.replace("Conv2d(128, 64", "Conv2d(64, 64"), encoding="utf-8")
    code, out = _run(["verify", str(broken)], capsys)
    assert code == 1
    assert out.splitlines()[0] in doc
