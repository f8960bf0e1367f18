"""examples/train_gpt.py: the GPT spec, compiled, learns the repository's docs offline."""

from __future__ import annotations

import math
import sys

import pytest
from conftest import ROOT

torch = pytest.importorskip("torch")
pytest.importorskip("matplotlib")

sys.path.insert(0, str(ROOT / "examples"))
import train_gpt  # noqa: E402

pytestmark = pytest.mark.torch

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_the_corpus_is_the_shipped_docs():
    text = train_gpt.corpus()
    assert b"# Sequence models" in text and b"make demo" in text
    train, val = train_gpt.split(text)
    assert len(train) + len(val) == len(text) and len(val) > 1000


def test_a_short_run_learns_and_keeps_the_tie(tmp_path):
    plot = tmp_path / "loss.png"
    args = ["--steps", "40", "--eval-every", "20", "--sample", "20", "--threads", "1"]
    result = train_gpt.train(train_gpt.parse_args([*args, "--plot", str(plot)]))
    assert result["step"] == [20, 40]
    assert result["val"][-1] < math.log(256) - 1  # well below a uniform guess over bytes
    assert result["train"][-1] < result["train"][0]
    model = result["model"]
    assert model.head.weight is model.embed.tok.weight  # training kept one tensor
    assert len(result["sample"]) == 20
    assert plot.read_bytes().startswith(PNG_MAGIC)


def test_the_learning_rate_warms_up_and_decays():
    rates = [train_gpt.learning_rate(step, 100, 1.0) for step in range(100)]
    assert rates[0] < rates[4] == 1.0
    assert rates[-1] == pytest.approx(0.1, abs=0.01)
