"""Messages follow the tensor's layout (issue 15): an image has a spatial size and takes a 1×1
Conv2d, a sequence ([N, C, L]) has a length and takes a kernel-1 Conv1d, a sequence of feature
vectors ([N, L, D]) and a feature vector ([N, D]) take a Linear. No image advice on a tensor that
is not an image; the image wording stays as it was (its goldens are unchanged)."""

from __future__ import annotations

import pytest

from archspec.core.dims import Sym
from archspec.driver import check_text
from archspec.ops.common import layout_of

IMAGE_WORDS = ("spatial", "Conv2d", "1×1", "H×W")


def findings(body: str, shape: str):
    text = f"model Net {{\n    input x: {shape}\n{body}\n}}\n"
    return check_text(text, "net.arch").diagnostics


RESIDUALS = [  # input shape, the residual body, the projection the help names
    ("[N, 4, 32, 32]", "    return (x -> Conv2d(4, 8, 3, stride=2, padding=1)) + x",
     "a 1×1 Conv2d with the same stride, plus BatchNorm"),
    ("[N, 4, 8, 8, 8]", "    return (x -> Conv3d(4, 8, 3, stride=2, padding=1)) + x",
     "a 1×1×1 Conv3d with the same stride, plus BatchNorm"),
    ("[N, 4, 64]", "    return (x -> Conv1d(4, 8, 3, stride=2, padding=1)) + x",
     "a kernel-1 Conv1d with the same stride, plus BatchNorm"),
    ("[N, 4, L in 8..64]", "    return (x -> Conv1d(4, 8, 3, padding=1)) + x",
     "a kernel-1 Conv1d with the same stride, plus BatchNorm"),
    ("[N, L, 16]", "    return (x -> Linear(16, 32)) + x",
     "a Linear from the shortcut's features to the block's"),
    ("[N, 16]", "    return (x -> Linear(16, 32)) + x",
     "a Linear from the shortcut's features to the block's"),
]  # fmt: skip


@pytest.mark.parametrize(("shape", "body", "projection"), RESIDUALS)
def test_a_residual_mismatch_names_the_projection_for_its_layout(shape, body, projection):
    (finding,) = [d for d in findings(body, shape) if d.code == "E205"]
    assert finding.help == (
        f"for a residual, project the shortcut to the block's output ({projection}) so both "
        "shapes match"
    )


@pytest.mark.parametrize(("shape", "body", "projection"), RESIDUALS[2:])
def test_no_image_advice_on_a_tensor_that_is_not_an_image(shape, body, projection):
    for finding in findings(body, shape):
        text = " ".join([finding.message, finding.help or "", *finding.notes])
        assert not any(word in text for word in IMAGE_WORDS), text


def test_a_shrinking_sequence_is_traced_by_its_length():
    body = (
        "    return x -> Conv1d(4, 4, 3, stride=2) -> Conv1d(4, 4, 3, stride=2) -> Conv1d(4, 4, 3)"
    )
    (finding,) = findings(body, "[N, 4, 9]")
    assert finding.code == "E203"
    assert "length along the way: 9 → 4 (conv1d) → 1 (conv1d_1)" in finding.notes


def test_a_shrinking_image_keeps_the_spatial_wording():
    body = (
        "    return x -> Conv2d(4, 4, 3, stride=2) -> Conv2d(4, 4, 3, stride=2) -> Conv2d(4, 4, 3)"
    )
    (finding,) = findings(body, "[N, 4, 9, 9]")
    assert "spatial size along the way: 9×9 → 4×4 (conv2d) → 1×1 (conv2d_1)" in finding.notes


def test_instance_norm_on_a_sequence_speaks_of_its_length():
    (finding,) = findings("    return x -> Conv1d(4, 4, 4) -> InstanceNorm1d(4)", "[N, 4, 4]")
    assert finding.help == "apply it before the length reaches 1, or use BatchNorm or LayerNorm"


@pytest.mark.parametrize(
    ("shape", "kind"),
    [
        ((Sym.named("N"), 8), "features"),
        ((Sym.named("N"), 8, 100), "sequence"),
        ((Sym.named("N"), 8, Sym.named("L")), "sequence"),
        ((Sym.named("N"), Sym.named("L"), 64), "tokens"),
        ((Sym.named("N"), Sym.named("T") // 2, 64), "tokens"),
        ((Sym.named("N"), 3, Sym.named("H"), Sym.named("W")), "image"),
        ((Sym.named("N"), 3, 8, 8, 8), "volume"),
    ],
)
def test_layout_from_rank_and_declared_names(shape, kind):
    assert layout_of(shape).kind == kind
