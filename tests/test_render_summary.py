"""Diagrams and summaries: DOT goldens, SVG where `dot` exists, totals and MACs against torch and
torchinfo, receptive fields against hand-computed cases."""

from __future__ import annotations

import shutil

import pytest
from conftest import GOLDEN, model_specs

import archspec
from archspec.cli import main
from archspec.outputs.render import RenderError, render, to_dot
from archspec.outputs.summary import render_markdown, render_text, summarize
from archspec.shapes.ties import tied_parameters

DOT_CASES = {
    "mnist_cnn": ("specs/seeds/mnist_cnn.arch", None),
    "inception_net": ("specs/seeds/inception_net.arch", None),
    "inception_net_depth1": ("specs/seeds/inception_net.arch", 1),
    "seed000_errors": ("examples/seed000_convnet.arch", None),
}


@pytest.mark.parametrize("case", sorted(DOT_CASES))
def test_dot_golden(case, golden):
    path, depth = DOT_CASES[case]
    result = archspec.check(path)
    golden(GOLDEN / "dot" / f"{case}.dot", to_dot(result.model(), result.diagnostics, depth))


def test_errors_are_drawn_in_red_with_their_code():
    result = archspec.check("examples/seed000_convnet.arch")
    dot = to_dot(result.model(), result.diagnostics)
    start = dot.index("\tfc1 [")
    fc1 = dot[start : dot.index("]", start)]
    assert "E202" in fc1 and "#c0392b" in fc1
    start = dot.index("\tfc2 [")
    assert "#c0392b" not in dot[start : dot.index("]", start)]


def test_depth_collapses_blocks_into_one_node():
    result = archspec.check("specs/seeds/resnet18_imagenet.arch")
    full = to_dot(result.model())
    collapsed = to_dot(result.model(), depth=1)
    assert "cluster_layer1_0" in full and "cluster_layer1" in full
    assert "cluster_" not in collapsed
    assert '"layer1 (module)"' in collapsed and "port" not in collapsed
    assert collapsed.count("->") < full.count("->")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_svg_and_png_render(tmp_path):
    assert main(["graph", "specs/seeds/mnist_cnn.arch", "-o", str(tmp_path / "m.svg")]) == 0
    svg = (tmp_path / "m.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "N×32×14×14" in svg
    assert main(["graph", "specs/seeds/mnist_cnn.arch", "-o", str(tmp_path / "m.png")]) == 0
    assert (tmp_path / "m.png").read_bytes().startswith(b"\x89PNG")
    # A spec with errors is still drawn, and the exit code still reports the errors.
    assert main(["graph", "examples/seed000_convnet.arch", "-o", str(tmp_path / "e.svg")]) == 1
    assert "E202" in (tmp_path / "e.svg").read_text()


def test_missing_dot_is_a_clear_error(monkeypatch):
    import graphviz

    def missing(*args, **kwargs):
        raise graphviz.ExecutableNotFound(("dot",))

    monkeypatch.setattr(graphviz.Source, "pipe", missing)
    with pytest.raises(RenderError, match="apt-get install graphviz"):
        render("digraph {}", "svg")


def test_receptive_fields_by_hand():
    result = archspec.check_text(
        "model RF {\n input x: [N, 1, 32, 32]\n"
        " a = x -> Conv2d(1, 4, 3) -> Conv2d(4, 4, 3)\n"
        " b = x -> Conv2d(1, 4, 3) -> MaxPool2d(2, stride=2) -> Conv2d(4, 4, 3)\n"
        " return a, b\n}\n"
    )
    rows = {row.name: row.receptive_field for row in summarize(result.model()).rows}
    assert rows["conv2d_1"] == "5"  # two 3×3 convolutions
    assert rows["conv2d_3"] == "8"  # 3, then a stride-2 pool (4, jump 2), then 4 + 2×2


def test_summary_totals_and_activation_memory():
    model = archspec.check("specs/seeds/mnist_cnn.arch").model()
    summary = summarize(model, batch=100)
    assert summary.total_params == 50186 == sum(r.params or 0 for r in summary.rows if r.depth == 0)
    # outputs of every op, batch 100, float32
    values = (32 * 28 * 28 * 2 + 32 * 14 * 14 + 64 * 14 * 14 * 2 + 64 * 7 * 7 + 3136 + 10) * 100
    assert summary.activation_bytes == values * 4
    assert "| `[N, 10]` |" in render_markdown(summary).replace("fc | Linear | ", "")


def test_summary_cli_formats(capsys):
    assert main(["summary", "specs/seeds/mnist_cnn.arch", "--format", "json", "--batch", "2"]) == 0
    import json

    payload = json.loads(capsys.readouterr().out)
    assert payload[0]["total_params"] == 50186 and payload[0]["batch"] == 2
    assert main(["summary", "examples/seed000_convnet.arch"]) == 1


# Layers whose MACs torchinfo counts by another convention than archspec's (docs/language.md,
# "What summary counts"): normalisations and PReLU (it counts their parameters once per sample,
# archspec one per output value), transposed convolutions (it counts output positions, stride^d
# too many), Linear on more than [N, F] (it leaves out the positions) and Embedding (its table).
# test_counts_torch.py checks those against torch itself.
def _torchinfo_convention(module, output_size) -> bool:
    from torch import nn
    from torch.nn.modules.batchnorm import _BatchNorm
    from torch.nn.modules.conv import _ConvTransposeNd
    from torch.nn.modules.instancenorm import _InstanceNorm

    norms = (_BatchNorm, _InstanceNorm, nn.GroupNorm, nn.LayerNorm, nn.PReLU)
    # torchinfo counts an Embedding's whole table as its MACs; a lookup multiplies nothing (0,
    # as fvcore counts it).
    if isinstance(module, (*norms, _ConvTransposeNd, nn.Embedding)):
        return False
    return not isinstance(module, (nn.Linear, nn.Bilinear)) or len(output_size) == 2


@pytest.mark.torch
@pytest.mark.parametrize("path", model_specs())
def test_macs_equal_torchinfo_layer_by_layer(path):
    if path == "specs/sequence/transformer.arch":  # two inputs; torch's Transformer inside
        pytest.skip("torchinfo gets one input here (tests/test_transformer_layers.py counts it)")
    torch = pytest.importorskip("torch")
    torchinfo = pytest.importorskip("torchinfo")
    from torch_harness import build_checked, concrete, random_input, smallest_sizes

    model, checked, _ = build_checked(path)
    if checked.summary().unknown_macs:  # examples/se_net.arch: externs that declare none
        pytest.skip("externs without declared MACs: archspec's total is the known part")
    sizes = smallest_sizes(checked)
    first = checked.graph.node(checked.graph.inputs[0])
    example = random_input(concrete(first.declared_shape, 1, sizes), first.declared_dtype)
    info = torchinfo.summary(model, input_data=[example], verbose=0, depth=20)
    ours = {}
    for node in checked.graph.nodes():
        if node.returns_none:  # an output torch returns as None (need_weights=False)
            continue
        if node.kind == "op" and node.module is not None and node.mode != "train":
            evaluation = checked.inference.evaluations[node.id]  # torchinfo runs in eval mode
            macs = concrete((evaluation.macs,), 1, sizes)[0]
            ours[node.module] = ours.get(node.module, 0) + macs
    theirs, other_convention = {}, set()
    names = {id(module): name for name, module in model.named_modules()}
    for layer in info.summary_list:
        name = names.get(id(layer.module))
        if name and not list(layer.module.children()):
            theirs[name] = theirs.get(name, 0) + layer.macs
            if not _torchinfo_convention(layer.module, layer.output_size):
                other_convention.add(name)
    mismatches = {
        k: (ours.get(k), theirs[k])
        for k in theirs
        if k not in other_convention and ours.get(k, 0) != theirs[k]
    }
    assert mismatches == {}
    shift = sum(ours.get(k, 0) - theirs[k] for k in other_convention)
    # nn.MultiheadAttention calls F.multi_head_attention_forward with its out_proj's weights, so
    # torchinfo sees no leaf run inside it and counts nothing; archspec counts fvcore's MACs.
    shift += sum(ours.get(name, 0) for name in _attention_modules(model))
    assert info.total_mult_adds + shift == sum(ours.values())  # functions count no MACs
    # torchinfo counts a tied tensor under each of its names; archspec, as model.parameters(), once
    tied = tied_parameters(checked.graph, checked.inference.module_args)
    assert info.total_params == checked.parameter_count + tied
    assert checked.parameter_count == sum(p.numel() for p in model.parameters())
    del torch


def _attention_modules(model) -> list[str]:
    from torch import nn

    return [n for n, m in model.named_modules() if isinstance(m, nn.MultiheadAttention)]


@pytest.mark.torch
@pytest.mark.parametrize("path", [p for p in model_specs() if p.startswith("specs/torchvision/")])
def test_totals_read_as_torchinfo_prints_them(path):
    """The memory lines carry torchinfo's names, definitions and units (MB = 10^6 bytes): for
    every torchvision spec the printed numbers are torchinfo's, digit for digit."""
    pytest.importorskip("torch")
    torchinfo = pytest.importorskip("torchinfo")
    from torch_harness import build_checked, concrete

    model, checked, _ = build_checked(path)
    if _attention_modules(model):
        pytest.skip(
            "torchinfo sees no module run inside nn.MultiheadAttention and leaves its parameters "
            "and outputs out of these lines; archspec counts them (the MAC test shifts for it)"
        )
    summary = summarize(checked, batch=1)
    shape = concrete(checked.graph.node(checked.graph.inputs[0]).declared_shape, 1, summary.sizes)
    info = str(torchinfo.summary(model, input_size=shape, verbose=0, depth=20))
    ours = render_text(summary)
    for label in (
        "Input size",
        "Forward/backward pass size",
        "Params size",
        "Estimated Total Size",
    ):
        theirs = info.split(f"{label} (MB): ")[1].split("\n")[0]
        mine = ours.split(f"{label} (MB")[1].split(": ")[1].split("\n")[0]
        assert mine == theirs, f"{label}: archspec {mine} MB, torchinfo {theirs} MB"


def test_resnet50_params_size_is_in_decimal_megabytes():
    """The issue's case: 97.49 was MiB under an "MB" label; torchinfo says 102.23 MB."""
    text = render_text(summarize(archspec.check("specs/torchvision/resnet50.arch").model()))
    assert "Params size (MB): 102.23\n" in text
    assert "Total mult-adds (per sample): " in text and "MiB" not in text
