"""Symbolic input sizes (`input x: [N, 3, H, W]`) without torch: random networks checked against
archspec's own concrete inference, the shipped U-Net, the plain-words descriptions, and the E209
and W009 findings.

The property (hypothesis): a random chain or branchy graph over an input with declared size ranges
is analysed once, symbolically; then every size in the ranges is inferred again with plain numbers
(`infer(..., values=...)`), which is the reference. The size report must accept exactly the sizes
whose concrete inference has no error, and symbolic shapes must evaluate to the concrete ones
wherever the guards they rest on hold. The generator is tests/test_random_graphs.py's (which needs
torch) with transposed convolutions, adaptive pools, PixelUnshuffle, padding and U-Net-style skips
(down by s, up by s, `cat` with the input) added. Profiles: the default runs in `make test`;
`ARCHSPEC_SIZES=long` runs 5,000 cases.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
from dataclasses import dataclass

import pytest
from conftest import ROOT
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from spec_writer import BlockUse, Fork, Layer, SpecWriter

from archspec.api import SpecError, compile_source
from archspec.cli import main
from archspec.core import diagnostic as diag
from archspec.core.dims import Guard, evaluate
from archspec.driver import check_file, check_text
from archspec.shapes.infer import infer
from archspec.shapes.sizes import MAX_PERIOD, _period, describe_values

EXAMPLES = 5_000 if os.environ.get("ARCHSPEC_SIZES") == "long" else 150
BATCH = 2
UNET = "specs/segmentation/unet.arch"
UNET_BLOCKS = "specs/segmentation/unet_blocks.arch"


def errors_of(diagnostics) -> list[diag.Diagnostic]:
    return [d for d in diagnostics if d.severity is diag.Severity.ERROR]


# ---------------------------------------------------------------- random networks


@dataclass
class Size:
    """One spatial input dim: a number, or a symbol with a declared range."""

    name: str
    low: int
    high: int | None = None  # None: the plain number `low`
    step: int = 1

    def text(self) -> str:
        if self.high is None:
            return str(self.low)
        step = f" step {self.step}" if self.step != 1 else ""
        return f"{self.name} in {self.low}..{self.high}{step}"


@st.composite
def conv(draw):
    args = {
        "out_channels": draw(st.integers(1, 6)),
        "kernel_size": draw(
            st.one_of(st.integers(1, 5), st.tuples(st.integers(1, 4), st.integers(1, 4)))
        ),
    }
    padding = draw(st.sampled_from([0, 1, 2, "same", "valid"]))
    if padding != "same":
        args["stride"] = draw(st.integers(1, 3))
    args["padding"] = padding
    args["dilation"] = draw(st.integers(1, 2))
    return Layer("Conv2d", args, infer="in_channels")


@st.composite
def transposed(draw):
    stride = draw(st.integers(1, 3))
    args = {
        "out_channels": draw(st.integers(1, 4)),
        "kernel_size": draw(st.integers(1, 4)),
        "stride": stride,
        "padding": draw(st.integers(0, 2)),
        "output_padding": draw(st.integers(0, stride - 1)),
        "dilation": draw(st.integers(1, 2)),
    }
    return Layer("ConvTranspose2d", args, infer="in_channels")


@st.composite
def pool(draw):
    kind = draw(st.sampled_from(["MaxPool2d", "AvgPool2d"]))
    kernel = draw(st.integers(1, 4))
    args = {"kernel_size": kernel}
    if draw(st.booleans()):
        args["stride"] = draw(st.integers(1, 3))
    args["padding"] = draw(st.integers(0, kernel // 2))
    args["ceil_mode"] = draw(st.booleans())
    if kind == "MaxPool2d" and draw(st.booleans()):
        args["dilation"] = draw(st.integers(1, 2))
    return Layer(kind, args)


@st.composite
def adaptive(draw):
    kind = draw(st.sampled_from(["AdaptiveAvgPool2d", "AdaptiveMaxPool2d"]))
    size = draw(
        st.one_of(st.integers(1, 3), st.tuples(st.none() | st.integers(1, 3), st.integers(1, 3)))
    )
    return Layer(kind, {"output_size": size})


@st.composite
def simple(draw):
    choice = draw(
        st.sampled_from(["ReLU", "BatchNorm2d", "Identity", "PixelUnshuffle", "ZeroPad2d"])
    )
    if choice == "BatchNorm2d":
        return Layer("BatchNorm2d", {}, infer="num_features")
    if choice == "PixelUnshuffle":
        return Layer("PixelUnshuffle", {"downscale_factor": draw(st.integers(2, 3))})
    if choice == "ZeroPad2d":
        return Layer("ZeroPad2d", {"padding": draw(st.integers(0, 2))})
    return Layer(choice)


layer = st.one_of(conv(), conv(), transposed(), pool(), pool(), adaptive(), simple())


@st.composite
def skip_fork(draw):
    """U-Net's pattern: down by s, up by s, `cat` with the input: sizes must be multiples of s
    (or, with padding and ceil_mode, some other residue)."""
    factor = draw(st.integers(2, 3))
    down = draw(
        st.sampled_from(
            [
                Layer("MaxPool2d", {"kernel_size": factor}),
                Layer("AvgPool2d", {"kernel_size": factor, "ceil_mode": True}),
                Layer(
                    "Conv2d",
                    {"out_channels": 2, "kernel_size": 3, "stride": factor, "padding": 1},
                    "in_channels",
                ),
            ]
        )
    )
    up = Layer(
        "ConvTranspose2d",
        {"out_channels": 2, "kernel_size": factor, "stride": factor},
        "in_channels",
    )
    keeps_size = st.sampled_from(
        [
            Layer("Conv2d", {"out_channels": 3, "kernel_size": 3, "padding": 1}, "in_channels"),
            Layer("BatchNorm2d", {}, "num_features"),
            Layer("ReLU"),
        ]
    )
    middle = draw(st.lists(keeps_size, max_size=2))
    return Fork([down, *middle, up], [], "cat")


@st.composite
def chain(draw, depth: int = 0):
    steps = draw(st.lists(layer, min_size=1, max_size=4))
    if depth < 1 and draw(st.integers(0, 2)) == 0:
        steps.append(draw(skip_fork()))
    if depth < 1 and draw(st.integers(0, 2)) == 0:
        left = draw(chain(depth + 1))
        right = draw(chain(depth + 1))
        steps.append(Fork(left, right, draw(st.sampled_from(["cat", "add"]))))
    if depth < 1 and draw(st.integers(0, 4)) == 0:
        steps.append(BlockUse(draw(chain(depth + 1))))
    return steps


@st.composite
def spatial(draw, name: str, symbolic: bool):
    if not symbolic:
        return Size(name, draw(st.integers(1, 12)))
    low = draw(st.integers(1, 12))
    step = draw(st.sampled_from([1, 1, 1, 2, 3]))
    count = draw(st.one_of(st.integers(8, 24), st.integers(0, 24)))
    return Size(name, low, low + count * step, step)


@st.composite
def network(draw):
    channels = draw(st.integers(1, 4))
    which = draw(st.sampled_from(["both", "both", "H", "W"]))
    height = draw(spatial("H", which in ("both", "H")))
    width = draw(spatial("W", which in ("both", "W")))
    body = draw(chain())
    head = draw(
        st.one_of(
            st.none(),
            st.tuples(st.just("linear"), st.integers(1, 48), st.integers(1, 5)),
            st.tuples(st.just("pooled"), st.integers(1, 3), st.integers(1, 5)),
        )
    )
    return channels, height, width, body, head


class _Writer(SpecWriter):
    def spec(self, net) -> str:
        channels, height, width, body, head = net
        lines: list[str] = []
        out = self.chain(body, "x", lines)
        if head is not None:
            kind, size, classes = head
            if kind == "linear":  # in_features written out: pins the sizes whose C·h·w is `size`
                lines.append(f"head = {out} -> flatten(1) -> Linear({size}, {classes})")
            else:
                pooled = f"{out} -> AdaptiveAvgPool2d({size}) -> flatten(1)"
                lines.append(f"head = {pooled} -> Linear(?, {classes})")
            out = "head"
        return self.model(f"[N, {channels}, {height.text()}, {width.text()}]", lines, out)


# ---------------------------------------------------------------- the reference: plain numbers


def concrete(graph, sizes: dict[str, int]):
    reporter = diag.Reporter()
    inference = infer(graph, reporter, values=sizes)
    return inference, not errors_of(reporter.diagnostics)


def numbers(shape, sizes: dict[str, int]) -> tuple[int, ...]:
    return tuple(evaluate(dim, {**sizes, "N": BATCH}) for dim in shape)


def guard_holds(guard: Guard, sizes: dict[str, int]) -> bool:
    value = evaluate(guard.expr, sizes)
    return {"==": value == 0, "<": value < 0, "<=": value <= 0}[guard.relation]


def on_path(guards: list[Guard], sizes: dict[str, int]) -> bool:
    """Do these sizes decide every guard as the run's hints did (so take the run's path)?"""
    return all(guard_holds(g, sizes) == g.holds for g in guards)


def shape_mismatches(symbolic: dict, reference: dict, sizes: dict[str, int]) -> list[str]:
    problems = []
    if symbolic.keys() != reference.keys():
        problems.append(f"nodes differ: {sorted(symbolic.keys() ^ reference.keys())}")
    for node in symbolic.keys() & reference.keys():
        got, want = numbers(symbolic[node], sizes), numbers(reference[node], sizes)
        if got != want:
            problems.append(f"{node}: symbolic {got}, concrete {want}")
    return problems


def every_size(report) -> list[dict[str, int]]:
    ranges = [symbol.values for symbol in report.symbols]
    return [dict(zip(report.names, values)) for values in itertools.product(*ranges)]


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(network(), st.data())
def test_symbolic_sizes_agree_with_concrete_inference(net, data):
    spec = _Writer().spec(net)
    result = check_text(spec, "random.arch")
    model = result.model()
    report = model.sizes
    assert report is not None, spec
    if not report.complete:
        event("analysis stopped at a limit")
        return
    graph = model.graph
    sizes = every_size(report)
    reference = {}
    for point in sizes:
        reference[tuple(point.values())] = concrete(graph, point)

    # Accepted ⇔ the concrete inference has no error, at every size in the ranges.
    accepted = [p for p in sizes if reference[tuple(p.values())][1]]
    event(f"accepts {'none' if not accepted else 'all' if len(accepted) == len(sizes) else 'some'}")
    for rejection in report.rejections:
        event(f"rejects with {rejection.diagnostic.code}")
    wrong = [p for p in sizes if report.accepts(p) != reference[tuple(p.values())][1]]
    assert not wrong, f"report.accepts is wrong at {wrong[:5]} ({len(wrong)} sizes):\n{spec}"
    assert report.total_count == len(sizes)
    assert report.accepted_count == len(accepted), spec
    for name in report.names:
        assert report.accepted[name] == sorted({p[name] for p in accepted}), spec
    combinations = 1
    for name in report.names:
        combinations *= len(report.accepted[name])
    assert report.product == (combinations == len(accepted)), spec

    # The shown shapes (the main run, rewritten under the accepted sizes' congruences) hold at
    # every accepted size on the main run's path.
    if accepted:
        main = report.main
        assert main.ok and model.inference is main.inference
        covered = [p for p in accepted if on_path(main.inference.guards, p)]
        assert covered, "the main run's own hints are accepted and on its path"
        for point in covered:
            shapes = reference[tuple(point.values())][0].shapes
            problems = shape_mismatches(model.inference.shapes, shapes, point)
            assert not problems, f"at {point}: {problems}\n{spec}"

    # A symbolic run at any hints: exact at its hints, and at every size that takes its path.
    for _ in range(2):
        hints = data.draw(st.sampled_from(sizes), label="hints")
        reporter = diag.Reporter()
        run = infer(graph, reporter, hints=hints)
        run_ok = not errors_of(reporter.diagnostics)
        for point in sizes:
            if not on_path(run.guards, point):
                continue
            shapes, ok = reference[tuple(point.values())]
            assert ok == run_ok, f"run at {hints} ok={run_ok}, but {point} ok={ok}:\n{spec}"
            problems = shape_mismatches(run.shapes, shapes.shapes, point)
            assert not problems, f"run at {hints}, evaluated at {point}: {problems}\n{spec}"


# ---------------------------------------------------------------- the shipped U-Net


def test_unet_checks_clean_and_accepts_multiples_of_16():
    result = check_file(UNET)
    assert result.diagnostics == []
    model = result.model()
    report = model.sizes
    assert report.describe() == "H, W: multiples of 16"
    assert report.product and report.complete
    assert report.accepted["H"] == list(range(16, 1025, 16))
    assert (report.accepted_count, report.total_count) == (64 * 64, 1024 * 1024)
    assert [str(d) for d in model.output_shapes[0]] == ["N", "2", "H", "W"]
    shapes = model.inference.shapes
    assert [str(d) for d in shapes["down4.maxpool_conv.1.double_conv.5"]] == [
        "N",
        "1024",
        "H/16",
        "W/16",
    ]
    assert [str(d) for d in shapes["up1/cat"]] == ["N", "1024", "H/8", "W/8"]
    assert model.parameter_count == 31_037_698


def test_unet_rejections_name_the_pool_and_the_cat():
    report = check_file(UNET).model().sizes
    found = [
        (r.example, r.culprits, r.diagnostic.code, r.diagnostic.primary.span.line,
         r.diagnostic.primary.span.column, r.count)
        for r in report.rejections
    ]  # fmt: skip
    assert found == [
        ({"H": 1, "W": 16}, ("H",), "E203", 23, 52, 960),
        ({"H": 16, "W": 1}, ("W",), "E203", 23, 52, 960),
        ({"H": 16, "W": 17}, ("W",), "E204", 35, 12, 60_480),
        ({"H": 17, "W": 16}, ("H",), "E204", 35, 12, 60_480),
        ({"H": 1, "W": 1}, ("H", "W"), "E203", 23, 52, 28_575),
        ({"H": 17, "W": 17}, ("H", "W"), "E204", 35, 12, 893_025),
    ]
    assert sum(r.count for r in report.rejections) == report.total_count - report.accepted_count
    assert {r.diagnostic.primary.span.source.path for r in report.rejections} == {UNET_BLOCKS}
    cat = report.rejections[3].diagnostic
    assert cat.message == (
        "cat along dim 1 needs equal sizes in the other dims, but dim 2 is 17 in input #0 and 16 "
        "in input #1"
    )


def test_unet_accepts_any_width_and_a_declared_range():
    text = open(UNET, encoding="utf-8").read()
    text = text.replace(
        "[N, in_channels, H, W]", "[N, in_channels, H in 32..1024 step 16, W in 32..512 step 32]"
    )
    result = check_text(text, "specs/segmentation/unet_declared.arch", {"UNet": {"width": 4}})
    assert result.diagnostics == []
    assert result.model().sizes.describe() == (
        "H: any size from 32 to 1024 in steps of 16; W: any size from 32 to 512 in steps of 32"
    )


def test_sizes_command_on_the_unet(capsys):
    assert main(["sizes", UNET]) == 0
    out = capsys.readouterr().out
    assert "  accepts: H, W: multiples of 16 (4,096 of 1,048,576 sizes)\n" in out
    assert "  output:  [N, 2, H, W]\n" in out
    assert main(["sizes", UNET, "--format", "json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert (entry["description"], entry["accepted_count"]) == ("H, W: multiples of 16", 4096)
    assert main(["summary", UNET, "--size", "H=64,W=64"]) == 0
    assert "Total params: 31,037,698" in capsys.readouterr().out


# ---------------------------------------------------------------- plain words

DOMAIN = range(1, 1025)


@pytest.mark.parametrize(
    ("values", "domain", "words"),
    [
        (list(DOMAIN), DOMAIN, "any size from 1 to 1024"),
        ([], DOMAIN, "none"),
        ([7], DOMAIN, "only 7"),
        (list(range(16, 1025, 16)), DOMAIN, "multiples of 16"),
        (list(range(64, 1025, 32)), DOMAIN, "multiples of 32 from 64"),
        (list(range(32, 1025, 2)), DOMAIN, "multiples of 2 from 32"),
        (list(range(2, 1025)), DOMAIN, "at least 2"),
        (list(range(1, 1025, 2)), DOMAIN, "odd sizes"),
        ([28, 29, 30, 31], DOMAIN, "28 to 31"),
        (list(range(1, 101)), DOMAIN, "1 to 100"),
        ([5, 900], DOMAIN, "5, 900"),
        ([1, 2, 3, *range(8, 1025, 8)], DOMAIN, "1 to 3, and multiples of 8"),
        ([v for v in DOMAIN if v % 4 in (0, 1)], DOMAIN,
         "sizes leaving a remainder of 0, 1 when divided by 4"),
        (list(range(32, 1025, 16)), range(32, 1025, 16), "any size from 32 to 1024 in steps of 16"),
        (list(range(32, 1025, 32)), range(32, 1025, 16), "multiples of 32"),
        (list(range(48, 1025, 32)), range(32, 1025, 16), "sizes of the form 32k + 16"),
        (list(range(64, 1025, 16)), range(32, 1025, 16), "at least 64 in steps of 16"),
        ([2], range(2, 3), "only 2"),
    ],
)  # fmt: skip
def test_describe_values(values, domain, words):
    assert describe_values(values, domain) == words


@pytest.mark.parametrize(
    ("values", "domain", "words"),
    [
        (list(range(1, 1025, 4)), DOMAIN, "sizes of the form 4k + 1"),
        (list(range(16, 1001, 16)), range(1, 1001), "multiples of 16"),
        (list(range(16, 513, 16)), DOMAIN, "multiples of 16 to 512"),
    ],
)
def test_describe_values_with_rejected_sizes_at_the_top(values, domain, words):
    assert describe_values(values, domain) == words


def test_unet_with_a_range_ending_off_a_multiple_is_described_in_words():
    text = open(UNET, encoding="utf-8").read()
    text = text.replace("[N, in_channels, H, W]", "[N, in_channels, H in 32..1000, W in 32..1000]")
    report = check_text(text, "specs/segmentation/unet_1000.arch").model().sizes
    assert report.describe() == "H, W: multiples of 16"


def sizes_of(body: str, shape: str = "[N, 1, H in 1..64, W in 1..64]"):
    spec = f"model Net {{\n    input x: {shape}\n    return {body}\n}}\n"
    return check_text(spec, "net.arch").model().sizes


def test_describe_points_when_not_a_product():
    # 4 channels × ⌊H/2⌋ × ⌊W/2⌋ must be 48: ⌊H/2⌋·⌊W/2⌋ = 12, six ways.
    report = sizes_of(
        "x -> Conv2d(1, 4, 3, padding=1) -> MaxPool2d(2) -> flatten(1) -> Linear(48, 10)"
    )
    assert not report.product
    assert report.points == [
        (h, w)
        for a, b in [(1, 12), (2, 6), (3, 4), (4, 3), (6, 2), (12, 1)]
        for h in (2 * a, 2 * a + 1)
        for w in (2 * b, 2 * b + 1)
    ]
    assert report.accepts({"H": 4, "W": 13}) and not report.accepts({"H": 4, "W": 14})
    assert report.describe() == (
        "(H, W) in {(2, 24), (2, 25), (3, 24), (3, 25), (4, 12), (4, 13), (5, 12), (5, 13), "
        "… (24 in all)}"
    )


def test_describe_per_symbol_and_none():
    assert sizes_of(
        "x -> PixelUnshuffle(2)", "[N, 1, H in 1..40, W in 3..30 step 3]"
    ).describe() == ("H: multiples of 2; W: multiples of 6")
    assert sizes_of("x -> Conv2d(1, 2, (3, 1), stride=(2, 1))").describe() == (
        "H: at least 3; W: any size from 1 to 64"
    )
    assert sizes_of("x -> Conv2d(1, 8, 5)", "[N, 1, H in 1..4, W]").describe() == (
        "no size in H in 1..4, W in 1..1024"
    )


# ---------------------------------------------------------------- E209 and W009

E209_SPEC = """\
model Net {
    input x: [N, 3, H in 16..256, W in 16..256]
    a = x -> Conv2d(3, 8, 3, padding=1)
    b = a -> MaxPool2d(2) -> ConvTranspose2d(8, 8, 2, stride=2)
    return cat([a, b], 1)
}
"""


def test_e209_declared_range_with_rejected_sizes():
    result = check_text(E209_SPEC, "net.arch")
    (finding,) = result.diagnostics
    assert (finding.code, finding.severity) == ("E209", diag.Severity.ERROR)
    assert (finding.primary.span.line, finding.primary.span.column) == (2, 21)
    assert finding.primary.span.text == "H in 16..256"
    assert finding.primary.message == "includes rejected sizes"
    (secondary,) = [label for label in finding.labels if not label.primary]
    assert (secondary.span.line, secondary.span.column, secondary.span.text) == (
        2,
        35,
        "W in 16..256",
    )
    assert finding.message == (
        "model Net rejects sizes in the declared range: 120 of 241 for H (first 17), 120 of 241 "
        "for W (first 17)"
    )
    assert finding.notes == (
        "accepted: H, W: multiples of 2",
        "rejected: H = 16, W = 17: cat along dim 1 needs equal sizes in the other dims, but dim 3 "
        "is 17 in input #0 and 16 in input #1 (net.arch:5:12) [E204]",
        "rejected: H = 17, W = 16: cat along dim 1 needs equal sizes in the other dims, but dim 2 "
        "is 17 in input #0 and 16 in input #1 (net.arch:5:12) [E204]",
    )
    assert (
        finding.help == "declare the sizes that work: `H in 16..256 step 2`, `W in 16..256 step 2`"
    )


def test_e209_gone_once_the_range_has_the_step():
    fixed = E209_SPEC.replace(
        "H in 16..256, W in 16..256", "H in 16..256 step 2, W in 16..256 step 2"
    )
    result = check_text(fixed, "net.arch")
    assert result.diagnostics == []
    assert result.model().sizes.describe() == "H, W: any size from 16 to 256 in steps of 2"


def test_e209_only_for_declared_symbols():
    # The default range (1..1024) is no promise: rejected sizes there are no error.
    result = check_text(E209_SPEC.replace("H in 16..256, W in 16..256", "H, W"), "net.arch")
    assert result.diagnostics == []
    assert result.model().sizes.describe() == "H, W: multiples of 2"


W009_SPEC = """\
model Net {
    input x: [N, 1, H, W]
    h = x -> Conv2d(1, 8, 3) -> MaxPool2d(2)
    return h -> flatten(1) -> Linear(8 * 13 * 13, 10)
}
"""


def test_w009_flatten_linear_pins_the_size():
    result = check_text(W009_SPEC, "net.arch")
    (finding,) = result.diagnostics
    assert (finding.code, finding.severity) == ("W009", diag.Severity.WARNING)
    assert (finding.primary.span.line, finding.primary.span.column) == (4, 31)
    assert finding.primary.span.text == "Linear(8 * 13 * 13, 10)"
    assert finding.primary.message == "fixes the input size"
    assert finding.message == (
        "Linear with in_features=1352 works only at the input sizes where the flattened features "
        "equal 1352: (H, W) in {(4, 340), (4, 341), (5, 340), (5, 341), (28, 28), (28, 29), "
        "(29, 28), (29, 29), … (12 in all)}"
    )
    assert finding.notes == ("the incoming features are −8·⌊H/2⌋ + 8·⌊H/2⌋·⌊W/2⌋ − 8·⌊W/2⌋ + 8",)
    assert finding.help == (
        "pool to a fixed size before flattening, e.g. `-> AdaptiveAvgPool2d((13, 13))` before the "
        "flatten at line 4, so any input size works"
    )
    assert result.ok  # a warning: the model works, at those sizes


def test_w009_gone_with_an_adaptive_pool():
    pooled = W009_SPEC.replace("-> flatten(1)", "-> AdaptiveAvgPool2d((13, 13)) -> flatten(1)")
    result = check_text(pooled, "net.arch")
    assert result.diagnostics == []
    assert result.model().sizes.describe() == "H, W: at least 4"


# ---------------------------------------------------------------- known bugs


@pytest.mark.parametrize("head", ["Linear(?, 10)", "LayerNorm(?)"])
def test_a_count_inferred_from_a_symbolic_size_is_an_error(head):
    """A layer's weight cannot change size with the input: `?` must resolve to a number (E210),
    so nothing checks clean that then fails to compile."""
    spec = (
        "model Net {\n    input x: [N, 1, H in 8..64, W in 8..64]\n"
        f"    return x -> Conv2d(1, 8, 3) -> flatten(1) -> {head}\n}}\n"
    )
    result = check_text(spec, "net.arch")
    assert [d.code for d in result.diagnostics] == ["E210"]
    assert "depends on the input size" in result.diagnostics[0].message
    with pytest.raises(SpecError):
        compile_source(spec)


def test_upsample_by_an_integer_factor_on_symbolic_sizes():
    report = sizes_of("x -> Upsample(scale_factor=2)")
    assert report.describe() == "H, W: any size from 1 to 64"


# ---------------------------------------------------------------- long ranges (issue 15)

LONG_INPUT = (ROOT / "tests" / "data" / "sizes" / "long_wave.arch").read_text(encoding="utf-8")


def test_a_length_over_100000_values_is_analysed_in_seconds():
    """Two minutes of CPU before (a set rebuilt per rejected size, a Python step per size and
    period); the budget is 2 s, the bound here leaves room for a loaded machine."""
    started = time.perf_counter()
    result = check_text(LONG_INPUT, "wave.arch")
    elapsed = time.perf_counter() - started
    assert result.model().sizes.describe() == "L: at least 41"
    assert [d.code for d in result.diagnostics] == ["E209"]
    assert elapsed < 10, elapsed


def _period_by_walking(chosen: set[int], count: int) -> tuple[int, int]:
    """The reference for `_period`: each period's start found by walking down one size at a
    time (the implementation before issue 15)."""
    best = (count, 1)
    for period in range(1, max(2, min(count // 4, MAX_PERIOD)) + 1):
        start = count - period
        while start - 1 >= 0 and ((start - 1) in chosen) == ((start - 1 + period) in chosen):
            start -= 1
        if count - start >= 2 * period and start < best[0]:
            best = (start, period)
        if best[0] == 0:
            break
    return best[1], best[0]


@given(st.sets(st.integers(0, 300), min_size=1), st.integers(1, 16), st.integers(0, 40))
@settings(max_examples=300, deadline=None)
def test_period_search_matches_walking_one_size_at_a_time(noise, period, start):
    """Random sets, and periodic ones with a noisy head, against the step-by-step search."""
    periodic = {i for i in range(start, 320) if i % period == 0}
    for chosen in (noise, periodic | {i for i in noise if i < start}):
        count = max(chosen) + 1
        assert _period(chosen, count) == _period_by_walking(chosen, count)


def _period_by_scanning(bits: int, count: int, longest: int) -> tuple[int, int]:
    """The reference for `_period_of_bits`'s shortcuts: every period compared in full."""
    best = (count, 1)
    for period in range(1, max(2, min(count // 4, longest)) + 1):
        mismatches = (bits ^ (bits >> period)) & ((1 << max(count - period, 0)) - 1)
        start = mismatches.bit_length()
        if count - start >= 2 * period and start < best[0]:
            best = (start, period)
        if best[0] == 0:
            break
    return best[1], best[0]


@pytest.mark.parametrize("seed", range(20))
def test_period_shortcuts_match_scanning_every_period(seed, monkeypatch):
    """Eventually periodic sets with noise below the pattern, flipped bits and constant tops,
    with short period limits too: the skipped and windowed periods never change the answer."""
    import archspec.shapes.sizes as sizes

    rng = random.Random(seed)
    for _ in range(200):
        count = rng.randint(1, 400)
        period = rng.randint(1, 40)
        pattern = [rng.random() < 0.5 for _ in range(period)]
        start = rng.randint(0, count)
        flags = [rng.random() < 0.5 if i < start else pattern[i % period] for i in range(count)]
        if rng.random() < 0.3:
            top, value = rng.randint(0, count), rng.random() < 0.5
            flags[count - top :] = [value] * top
        for _ in range(rng.choice([0, 0, 1, 3])):
            flags[rng.randrange(count)] ^= True
        bits = sum(1 << i for i, flag in enumerate(flags) if flag)
        checked = count if rng.random() < 0.5 else max(bits.bit_length(), 1)
        longest = rng.choice([3, 8, 20, 256])
        monkeypatch.setattr(sizes, "MAX_PERIOD", longest)
        assert sizes._period_of_bits(bits, checked) == _period_by_scanning(bits, checked, longest)
