"""Op rules on symbolic sizes: the branches that only symbolic inputs reach (E210, exact
Upsample factors, a Linear whose count depends on the size)."""

from __future__ import annotations

import pytest

from archspec.driver import check_text


def findings(body: str, shape: str = "[N, 4, H in 1..64, W in 1..64]"):
    result = check_text(f"model Net {{\n    input x: {shape}\n    return {body}\n}}\n", "net.arch")
    return result, [(d.code, d.message) for d in result.diagnostics]


def test_upsample_by_a_binary_fraction_is_exact():
    result, found = findings("x -> Upsample(scale_factor=0.5)", "[N, 4, H in 2..64, W in 2..64]")
    assert found == []
    assert str(result.model().inference.shapes[result.model().graph.outputs[0]][2]) == "⌊H/2⌋"


def test_upsample_that_shrinks_a_size_to_nothing_rejects_it():
    result, found = findings("x -> Upsample(scale_factor=0.5)")
    assert found[0][0] == "E209"
    report = result.model().sizes
    assert report.accepted["H"][0] == 2
    assert report.rejections[0].diagnostic.code == "E203"


def test_upsample_by_a_factor_with_no_exact_size_is_e210():
    _, found = findings("x -> Upsample(scale_factor=0.1)")
    assert found == [
        (
            "E210",
            "Upsample scale_factor=0.1 on the symbolic height H has no exact size",
        )
    ]


@pytest.mark.parametrize(
    ("head", "shown"),
    [("Linear(?, 10)", "4·H·W"), ("LayerNorm(?)", "4·H·W")],
)
def test_a_count_read_off_a_symbolic_size_is_e210(head, shown):
    _, found = findings(f"x -> flatten(1) -> {head}")
    assert found == [
        (
            "E210",
            f"{head.split('(')[0]} cannot infer "
            f"{'in_features' if head.startswith('Linear') else 'normalized_shape'}: the input "
            f"gives {shown}, which depends on the input size",
        )
    ]


def test_an_explicit_count_that_depends_on_the_size():
    # 4·H·W is never 101: no size works, and the finding shows the expression.
    _, found = findings("x -> flatten(1) -> Linear(101, 10)", "[N, 4, H, W]")
    assert found[0][0] == "E202"
    assert found[0][1] == (
        "Linear expects in_features=101, but receives 4·H·W, which depends on the input size"
    )


def test_a_symbolic_channel_count_is_e210():
    _, found = findings("x -> Conv2d(?, 8, 3)", "[N, C, 8, 8]")
    assert found[0][0] == "E210"
