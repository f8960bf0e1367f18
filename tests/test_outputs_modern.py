"""summary, graph and diff on the constructs of modern vision models: training-only layers,
dict returns, ops with several outputs, parameters and buffers."""

from __future__ import annotations

import re

from archspec.driver import check_text
from archspec.outputs.diff import diff_results, render_text
from archspec.outputs.render import to_dot
from archspec.outputs.summary import summarize

SPEC = """model Tokens {
    input x: [N, 8, 16]
    param class_token: [1, 1, 16] = zeros()
    buffer mask: [8, 8] = ones(), persistent=False
    x1, x2 = x -> chunk(2, dim=1)
    attn: MultiheadAttention(16, 2, batch_first=True)
    mixed, weights = attn(x1, x1, x1)
    h = x2 -> conv: Linear(16, 8)
    if training {
        aux = h -> head: Linear(8, 3)
        return {"out": mixed + class_token, "w": weights * 1.0, "aux": aux}
    }
    return {"out": mixed + class_token, "w": weights + mask[:4, :4]}
}
"""


def checked(text: str = SPEC):
    result = check_text(text, "tokens.arch")
    assert result.ok, result.diagnostics
    return result


def test_summary_marks_training_only_rows_and_keeps_them_out_of_the_macs():
    model = checked().model()
    summary = summarize(model)
    rows = {row.name: row for row in summary.rows}
    assert rows["head"].mode == "train" and rows["head"].macs == 4 * 8 * 3 + 4 * 3
    assert rows["conv"].mode is None
    assert summary.total_macs == model.mac_count  # the head's MACs left out
    assert summary.training_only_macs == rows["head"].macs
    assert summary.total_params == summary.training_only_params + 16 + 1088 + 136
    text = str(summary)
    head_line = next(line for line in text.splitlines() if line.startswith("head"))
    assert head_line.startswith("head (train only)")
    assert "Training-only layers (train only): 27 params (in the totals), 108 mult-adds" in text


def test_summary_shows_dict_keys_outputs_and_state():
    summary = summarize(checked().model())
    outputs = [(row.name, row.output_shape) for row in summary.rows if row.type == "output"]
    assert outputs == [  # in the graph's order: the eval return's nodes come first
        ("output 'out' (when not training)", "[N, 4, 16]"),
        ("output 'w' (when not training)", "[N, 4, 4]"),
        ("output 'out' (in training)", "[N, 4, 16]"),
        ("output 'w' (in training)", "[N, 4, 4]"),
        ("output 'aux' (in training)", "[N, 4, 3]"),
    ]
    rows = {row.name: row for row in summary.rows}
    assert (rows["class_token"].type, rows["class_token"].params) == ("Parameter", 16)
    assert (rows["mask"].type, rows["mask"].params) == ("Buffer", 0)
    text = str(summary)
    assert "output 'aux' (in training)" in text


def test_summary_names_each_output_of_a_multi_output_op():
    summary = summarize(checked().model())
    attn = [
        (row.output, row.output_shape, row.params) for row in summary.rows if row.name == "attn"
    ]
    assert attn == [(0, "[N, 4, 16]", 1088), (1, "[N, 4, 4]", 0)]
    text = str(summary)
    assert "MultiheadAttention[0]" in text and "MultiheadAttention[1]" in text
    assert "chunk[1]" in text
    assert summary.rows[0].output is None  # a one-output row is not numbered


def test_plain_models_get_no_output_rows():
    plain = "model M {\n    input x: [N, 4]\n    return x -> Linear(4, 2)\n}\n"
    summary = summarize(checked(plain).model())
    assert [row.type for row in summary.rows] == ["Linear"]
    assert "Training-only" not in str(summary)


def test_graph_draws_modes_state_keys_and_output_indices():
    result = checked()
    dot = to_dot(result.model(), result.diagnostics)
    head = re.search(r"^\thead \[(.*?)\]$", dot, re.S | re.M).group(1)
    assert "style=dashed" in head and "(train only)" in head
    conv = re.search(r"^\tconv \[(.*?)\]$", dot, re.S | re.M).group(1)
    assert "dashed" not in conv and "only" not in conv
    assert "dashed: runs in training only; dashed: runs in eval only" in dot  # the legend
    assert dot.count("shape=cylinder") == 2  # class_token and mask
    assert "output 'aux' (in training)" in dot
    assert 'label=" [1] N×4×4"' in dot  # the weights' edge names MultiheadAttention's output 1
    assert 'label=" [0] N×4×16"' in dot


def test_graph_without_modes_has_no_legend():
    plain = "model M {\n    input x: [N, 4]\n    return x -> Linear(4, 2)\n}\n"
    dot = to_dot(checked(plain).model())
    assert "dashed" not in dot and "cylinder" not in dot and "[0]" not in dot


def test_diff_reports_param_shape_dict_key_and_training_head():
    new_text = (
        SPEC.replace("param class_token: [1, 1, 16]", "param class_token: [1, 4, 16]")
        .replace('"aux": aux', '"logits": aux')
        .replace("head: Linear(8, 3)", "head: Linear(8, 5)")
    )
    diff = diff_results(checked(), checked(new_text), "old.arch", "new.arch")
    (model,) = diff.models
    layers = {layer.name: layer for layer in model.layers}
    token = layers["class_token"]
    assert (token.op, token.old_shape, token.new_shape) == ("Parameter", "[1, 1, 16]", "[1, 4, 16]")
    assert (token.old_params, token.new_params) == (16, 64)
    assert layers["head"].mode == "train"
    outputs = {(change.name, change.before, change.after) for change in model.outputs}
    assert outputs == {
        ("output 'aux' (in training)", "[N, 4, 3]", None),
        ("output 'logits' (in training)", None, "[N, 4, 5]"),
    }
    text = render_text(diff)
    assert "output 'logits' (in training)" in text and "removed" in text
    assert "out_features: 3 → 5, runs in training only" in text
    assert "~ class_token  Parameter  [1, 1, 16] → [1, 4, 16]" in text


def test_diff_of_an_added_buffer_shows_its_declaration():
    new_text = SPEC.replace(
        "    buffer mask", "    buffer bias: [4] = zeros()\n    buffer mask"
    ).replace("weights + mask[:4, :4]", "weights + mask[:4, :4] + bias")
    diff = diff_results(checked(), checked(new_text), "old.arch", "new.arch")
    (added,) = [layer for layer in diff.models[0].layers if layer.status == "added" and
                layer.op == "Buffer"]  # fmt: skip
    assert added.name == "bias" and added.call == "buffer bias: [4] = zeros()"
    assert added.new_params == 0
