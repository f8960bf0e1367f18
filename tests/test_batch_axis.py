"""W011 (issue 15): an op that folds the batch N into another size runs, mixes samples, and the
loss fails much later. The warning must name the op, N before and after, and the fix, and stay
silent where N survives (`view(N, -1)`, per-sample reshapes) or is reduced away on purpose.
Torch confirms each claim about dim 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from archspec.driver import check_file, check_text

ROOT = Path(__file__).resolve().parent.parent
BATCH = 10


def spec(body: str) -> str:
    """A model over [N, 6, 4, 4] inputs (`b` only where the body joins it)."""
    second = "    input b: [N, 6, 4, 4]\n" if "b]" in body else ""
    return f"model Net {{\n    input a: [N, 6, 4, 4]\n{second}    return {body}\n}}\n"


FOLDED = [  # body, the op, what N becomes, the help, torch's dim 0 at a batch of 10
    ("cat([a, b], 0)", "cat", "2·N", "join along a feature dim: `cat([...], 1)`, not dim 0", 20),
    ("a -> flatten(0)", "flatten", "96·N", "flatten from dim 1 to keep N apart: `flatten(1)`", 960),
    ("a -> view(-1, 16)", "view", "6·N", "keep N in front, e.g. `view(N, -1)`", 60),
    ("a -> reshape(-1, 4, 4)", "reshape", "6·N", "keep N in front, e.g. `reshape(N, -1)`", 60),
]

KEPT = [  # the batch survives: nothing to report
    "cat([a, b], 1)",
    "a -> flatten(1)",
    "a -> view(N, -1)",
    "a -> view(N, 6, 16)",
    "a -> reshape(N, -1, 2)",
    "a -> flatten(1) -> Linear(96, 10)",
    "a -> mean()",
]


@pytest.mark.parametrize(("body", "op", "folded", "help_text", "rows"), FOLDED)
def test_an_op_that_folds_the_batch_is_reported_once(body, op, folded, help_text, rows):
    result = check_text(spec(body), "net.arch")
    assert [d.code for d in result.diagnostics] == ["W011"]
    (finding,) = result.diagnostics
    assert finding.message.startswith(
        f"{op} changes the batch size from N to {folded}: [N, 6, 4, 4]"
    )
    assert finding.help == help_text
    assert finding.primary.message == f"batch N becomes {folded}"


@pytest.mark.parametrize("body", KEPT)
def test_an_op_that_keeps_the_batch_is_silent(body):
    assert check_text(spec(body), "net.arch").diagnostics == []


def test_only_the_op_that_changes_the_batch_is_reported():
    """After the fold, later ops see 6·N already: one finding, at the view."""
    result = check_text(spec("a -> view(-1, 16) -> Linear(16, 4) -> ReLU()"), "net.arch")
    assert [(d.code, d.primary.span.text) for d in result.diagnostics] == [("W011", "view(-1, 16)")]


def test_shipped_specs_stay_free_of_it():
    for path in sorted((ROOT / "specs").rglob("*.arch")):
        codes = [d.code for d in check_file(str(path)).diagnostics]
        assert "W011" not in codes, path


@pytest.mark.torch
@pytest.mark.parametrize(("body", "op", "folded", "help_text", "rows"), FOLDED)
def test_torch_agrees_that_the_batch_changes(body, op, folded, help_text, rows):
    torch = pytest.importorskip("torch")
    a, b = torch.zeros(BATCH, 6, 4, 4), torch.zeros(BATCH, 6, 4, 4)
    ops = {
        "cat": lambda: torch.cat([a, b], 0),
        "flatten": lambda: a.flatten(0),
        "view": lambda: a.view(-1, 16),
        "reshape": lambda: a.reshape(-1, 4, 4),
    }
    assert ops[op]().shape[0] == rows
