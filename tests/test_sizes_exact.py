"""The accepted-size set is exact for floor and ceil rounding (issue 15): random 1-D chains of
convolutions and poolings (floor and ceil mode), ended by a reshape whose sizes are floor and ceil
divisions of the input length, checked against torch at sampled lengths.

The torch module is built here from the same calls as the spec text (not by archspec's code
generation), so the reference is independent. The sample always holds both ends of the declared
range and the edges of every range the report claims (each length where "accepted" flips, and its
neighbours), so an off-by-one at a boundary cannot hide between random draws. Seeded: a failure
names its seed and spec.
"""

from __future__ import annotations

import os
import random

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from archspec.driver import check_text  # noqa: E402

pytestmark = pytest.mark.torch

CHANNELS = 2
# ARCHSPEC_SIZES_SEEDS widens the campaign (the CI runs 60 seeded chains).
SEEDS = range(int(os.environ.get("ARCHSPEC_SIZES_SEEDS", "60")))
RANDOM_LENGTHS = 25  # drawn on top of the edges
MAX_FLIPS = 24  # lengths where acceptance flips, checked with their neighbours


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------- random chains


def _conv(rng: random.Random) -> str:
    kernel, stride = rng.randint(1, 5), rng.randint(1, 3)
    padding, dilation = rng.randint(0, 2), rng.randint(1, 2)
    return (
        f"Conv1d({CHANNELS}, {CHANNELS}, {kernel}, stride={stride}, padding={padding}, "
        f"dilation={dilation})"
    )


def _pool(rng: random.Random) -> str:
    kind = rng.choice(["MaxPool1d", "AvgPool1d"])
    kernel = rng.randint(1, 4)
    args = [str(kernel), f"stride={rng.randint(1, 3)}", f"padding={rng.randint(0, kernel // 2)}"]
    if kind == "MaxPool1d" and rng.random() < 0.3:
        args.append("dilation=2")
    if rng.random() < 0.6:
        args.append("ceil_mode=True")
    return f"{kind}({', '.join(args)})"


def _length_expression(rng: random.Random) -> str:
    """A size computed from L: a floor or a ceil division, with an offset."""
    divisor, offset = rng.randint(1, 8), rng.randint(-1, 3)
    numerator = "L" if offset == 0 else f"(L + {offset})" if offset > 0 else f"(L - {-offset})"
    if rng.random() < 0.5:
        return f"{numerator} // {divisor}"
    return f"-(-{numerator} // {divisor})"  # the ceiling


def _ending(rng: random.Random) -> str:
    """A reshape whose sizes divide the elements at some lengths only."""
    choice = rng.randrange(6)
    # With the batch N spelled out, the sizes must match for every N: 2·N·l = 2·N·e where l = e.
    if choice == 4:
        return f"view(N, {CHANNELS}, {_length_expression(rng)})"
    if choice == 5:
        return f"reshape(N, {CHANNELS} * ({_length_expression(rng)}))"
    if choice == 0:
        return f"view(-1, {CHANNELS}, {_length_expression(rng)})"
    if choice == 1:
        return f"view(-1, {_length_expression(rng)})"
    if choice == 2:
        return f"reshape(-1, {rng.randint(2, 6)})"
    return f"view(-1, {CHANNELS} * ({_length_expression(rng)}))"


class RandomChain:
    """Layers then a reshape, as spec text and as the torch computation the text means."""

    def __init__(self, seed: int):
        rng = random.Random(seed)
        self.low = rng.randint(1, 20)
        long = rng.random() < 0.2  # a long signal through more stages: solved in closed form
        self.high = self.low + (rng.randint(10_000, 300_000) if long else rng.randint(40, 260))
        count = rng.randint(3, 8) if long else rng.randint(1, 4)
        self.layers = [_conv(rng) if rng.random() < 0.4 else _pool(rng) for _ in range(count)]
        self.ending = _ending(rng)

    def spec(self) -> str:
        chain = " -> ".join([*self.layers, self.ending])
        return (
            f"model Net {{\n    input x: [N, {CHANNELS}, L in {self.low}..{self.high}]\n"
            f"    return x -> {chain}\n}}\n"
        )

    def torch_accepts(self, length: int, batch: int = 1) -> bool:
        layers = nn.Sequential(*(eval(f"nn.{layer}") for layer in self.layers))  # noqa: S307
        reshape = eval(f"lambda x, L, N: x.{self.ending}")  # noqa: S307
        try:
            with torch.no_grad():
                reshape(layers(torch.zeros(batch, CHANNELS, length)), length, batch)
        except RuntimeError:
            return False
        return True


def sampled_lengths(report, rng: random.Random) -> list[int]:
    """Both ends of the range, each length where acceptance flips and its neighbours, and a few
    random lengths."""
    domain = report.symbols[0].values
    runs = report.accepted_sets["L"].index_runs()
    flips = [domain[i] for run in runs for i in (run[0] - 1, run[1]) if 0 <= i < len(domain)]
    if len(flips) > MAX_FLIPS:  # a periodic answer over a long range: the first, last, some others
        middle = rng.sample(flips[4:-4], MAX_FLIPS - 8)
        flips = flips[:4] + middle + flips[-4:]
    edges = {domain[0], domain[-1]} | {v + d for v in flips for d in (-1, 0, 1, 2)}
    picked = edges | set(rng.sample(domain, min(RANDOM_LENGTHS, len(domain))))
    return sorted(v for v in picked if v in domain)


@pytest.mark.parametrize("seed", SEEDS)
def test_accepted_lengths_match_torch(seed):
    chain = RandomChain(seed)
    text = chain.spec()
    report = check_text(text, f"exact_{seed}.arch").model().sizes
    assert report is not None and report.complete, text
    wrong = [
        (length, report.accepts({"L": length}))
        for length in sampled_lengths(report, random.Random(seed))
        if report.accepts({"L": length}) != chain.torch_accepts(length)
    ]
    assert not wrong, f"seed {seed}: (L, archspec's claim) where torch disagrees: {wrong}\n{text}"


# ---------------------------------------------------------------- the case

CEIL_THEN_VIEW = """\
model Net {
    input x: [N, 4, H]
    return x -> MaxPool1d(2, ceil_mode=True) -> view(-1, 4, H // 2)
}
"""


def test_ceil_pool_then_floor_view_accepts_every_even_length():
    """Every even H works (and H = 3, where ⌈3/2⌉ = 2 = 2·⌊3/2⌋); before, E208 said none did.
    Torch runs with a batch of 1: archspec's sizes are those that work for every batch (at
    H = 5, [N, 4, 3] views as (-1, 4, 2) only for even N)."""
    result = check_text(CEIL_THEN_VIEW, "ceil_view.arch")
    assert result.ok, [d.message for d in result.diagnostics]
    report = result.model().sizes
    assert report.accepted["H"] == [h for h in range(1, 1025) if h % 2 == 0 or h == 3]
    assert report.describe() == "H: 2, 3, and multiples of 2 from 4"
    pool = nn.MaxPool1d(2, ceil_mode=True)
    for h in (1, 2, 3, 4, 5, 6, 7, 1023, 1024):
        try:
            pool(torch.zeros(1, 4, h)).view(-1, 4, h // 2)
            runs = True
        except RuntimeError:
            runs = False
        assert report.accepts({"H": h}) == runs, h
