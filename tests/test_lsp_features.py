"""The language server's editing features as plain functions: completion, document symbols,
inlay hints, references, code actions, formatting, and hover on arrows and layer declarations."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT

pytest.importorskip("pygls", reason="the lsp extra (pygls) is not installed")

from lsprotocol import types as lsp  # noqa: E402
from pygls.workspace import PositionCodec  # noqa: E402

from archspec.core import diagnostic as diag  # noqa: E402
from archspec.driver import check_text  # noqa: E402
from archspec.elaborate.loader import Loader  # noqa: E402
from archspec.tools import lsp_features as features  # noqa: E402
from archspec.tools.lsp import diagnostics_for, hover_text, imported_files  # noqa: E402

CODEC = PositionCodec()
SHARED = """model M {
    input x: [N, 8, 16, 16]
    conv: Conv2d(8, 8, 3, padding=1)
    h = x -> conv -> relu()
    return h -> conv
}
"""
BLOCKS = """block Widen(c, factor=2) {
    input x
    param scale: [c * factor, 1, 1] = ones()
    return x -> conv: Conv2d(c, c * factor, 1) -> mul(scale)
}
"""
MAIN = """from "blocks.arch" import Widen

model Net {
    input x: [N, 4, 8, 8]
    h = x -> Widen(4)
    return h -> Widen(8, factor=3)
}
"""


def labels(items) -> list[str]:
    return [item.label for item in items]


# --- completion -----------------------------------------------------------------------------------


def test_completion_offers_ops_with_snippets_and_torch_defaults():
    result = check_text(SHARED, "m.arch")
    items = {
        i.label: i for i in features.completions(SHARED, SHARED.index("h ="), result, "m.arch")
    }
    conv = items["Conv2d"]
    assert conv.insert_text == "Conv2d(${1:in_channels}, ${2:out_channels}, ${3:kernel_size})$0"
    assert conv.insert_text_format == lsp.InsertTextFormat.Snippet
    assert "stride=1" in conv.detail and "padding_mode='zeros'" in conv.detail
    assert "torch's defaults: `stride=1`" in conv.documentation.value
    assert items["flatten"].insert_text == "flatten()$0"  # its input comes through the pipe
    assert items["cat"].insert_text == "cat(${1:tensors})$0"
    assert items["Sequential"].kind == lsp.CompletionItemKind.Class
    assert items["model"].kind == lsp.CompletionItemKind.Keyword
    # The names of the definition at the cursor: its input, layer and values.
    assert {"x", "conv", "h"} <= set(items)
    assert items["conv"].kind == lsp.CompletionItemKind.Field


def test_completion_inside_a_call_offers_the_keywords_not_given_yet():
    text = SHARED.replace("return h -> conv", "return h -> Conv2d(8, 4, 3, padding=1, ")
    result = check_text(SHARED, "m.arch")  # the last analysis: a keystroke behind
    items = features.completions(text, text.index("padding=1, ") + 11, result, "m.arch")
    keywords = [label for label in labels(items) if label.endswith("=")]
    # in_channels, out_channels and kernel_size are given by position, padding by keyword.
    assert keywords == ["stride=", "dilation=", "groups=", "bias=", "padding_mode="]
    stride = next(i for i in items if i.label == "stride=")
    assert stride.insert_text == "stride=${1:1}" and "torch's default" in stride.detail
    assert labels(items).index("stride=") < labels(items).index("Conv2d")  # keywords first


def test_completion_offers_imported_blocks_and_their_keywords(tmp_path: Path):
    (tmp_path / "blocks.arch").write_text(BLOCKS, encoding="utf-8")
    main = str(tmp_path / "main.arch")
    result = check_text(MAIN, main)
    assert result.ok, result.diagnostics
    text = MAIN.replace("Widen(8, factor=3)", "Widen(8, ")
    items = {i.label: i for i in features.completions(text, text.index("Widen(8, ") + 9, result,
                                                          main)}  # fmt: skip
    assert items["Widen"].insert_text == "Widen(${1:c})$0"
    assert items["Widen"].detail == "block Widen(c, factor=2)"
    assert "factor=" in items and "c=" not in items  # c is given by position
    assert "Net" not in items  # a model is not called


def test_completion_for_a_layer_applied_offers_its_forward_keywords():
    text = (
        "model M {\n    input x: [N, 4, 16]\n    attn: MultiheadAttention(16, 2, batch_first=True)"
        "\n    y, _ = attn(x, x, x, \n}\n"
    )
    context = features.call_context(text, text.index("x, x, x, ") + 9)
    assert context == features.CallContext("attn", set(), 3)
    result = check_text(text.replace("x, x, x, ", "x, x, x)"), "a.arch")
    items = labels(features.completions(text, text.index("x, x, x, ") + 9, result, "a.arch"))
    assert "need_weights=" in items and "attn_mask=" in items


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x -> Conv2d(3, 8, |", ("Conv2d", 2)),
        ("cat([a, b], |", ("cat", 1)),
        ("cat([a, |", None),  # inside the list: no keyword goes there
        ("Linear(f(1, 2), bias=|", ("Linear", 1)),
        ("model M {\n    |", None),
        ("x -> relu() |", None),
    ],
)
def test_call_context_reads_the_call_around_the_cursor(text, expected):
    offset = text.index("|")
    context = features.call_context(text.replace("|", ""), offset)
    assert (context and (context.name, context.positional)) == (expected and expected)


# --- document symbols, inlay hints ----------------------------------------------------------------


def test_document_symbols_list_definitions_and_their_members(tmp_path: Path):
    path = str(tmp_path / "blocks.arch")
    text = BLOCKS + "\n" + SHARED
    symbols = features.document_symbols(check_text(text, path), path, CODEC)
    assert [(s.name, s.kind, s.detail) for s in symbols] == [
        ("Widen", lsp.SymbolKind.Struct, "block"),
        ("M", lsp.SymbolKind.Class, "model"),
    ]
    widen = symbols[0]
    assert [(c.name, c.detail) for c in widen.children] == [
        ("c", "parameter"),
        ("factor", "parameter"),
        ("x", "input"),
        ("scale", "param [c * factor, 1, 1]"),
        ("conv", "Conv2d"),
    ]
    assert widen.selection_range.start == lsp.Position(line=0, character=6)
    assert widen.range.end.line == 4
    assert [c.name for c in symbols[1].children] == ["x", "conv"]


def test_inlay_hints_show_each_lines_shape_at_its_end():
    path = ROOT / "specs" / "seeds" / "mnist_cnn.arch"
    text = path.read_text(encoding="utf-8")
    hints = features.inlay_hints(check_text(text, str(path)), str(path), CODEC)
    lines = text.splitlines()
    shown = [(lines[h.position.line].strip(), h.label) for h in hints]
    assert shown[:4] == [
        ("Conv2d(1, 32, kernel_size=3, stride=1, padding=1),", "→ [N, 32, 28, 28]"),
        ("ReLU(),", "→ [N, 32, 28, 28]"),
        ("MaxPool2d(kernel_size=2, stride=2),", "→ [N, 32, 14, 14]"),
        (")", "→ [N, 32, 14, 14]"),  # the Sequential's output, where it ends
    ]
    fc = next(h for h in hints if "fc: Linear" in lines[h.position.line])
    assert fc.label == "→ [N, 10]"
    assert fc.position.character == len(lines[fc.position.line])  # at the line's end
    # Only the lines asked for.
    first = features.inlay_hints(check_text(text, str(path)), str(path), CODEC, range(0, 9))
    assert [h.position.line for h in first] == [8]


def test_inlay_hints_of_a_block_show_every_instance_shape(tmp_path: Path):
    (tmp_path / "blocks.arch").write_text(BLOCKS, encoding="utf-8")
    path = str(tmp_path / "both.arch")
    text = BLOCKS + "\n" + MAIN.split("\n", 2)[2]
    hints = features.inlay_hints(check_text(text, path), path, CODEC)
    body = next(h for h in hints if h.position.line == 3)
    assert body.label == "→ [N, 8, 8, 8] | [N, 24, 8, 8]"


# --- references -----------------------------------------------------------------------------------


def places(spans) -> list[tuple[str, int, int]]:
    return [(Path(s.source.path).name, *s.source.line_col(s.start)) for s in spans]


def test_references_of_a_layer_and_of_a_value():
    result = check_text(SHARED, "m.arch")
    conv = features.references(result, "m.arch", SHARED.index("-> conv") + 3)
    assert places(conv) == [("m.arch", 3, 5), ("m.arch", 4, 14), ("m.arch", 5, 17)]
    without = features.references(
        result, "m.arch", SHARED.index("-> conv") + 3, include_declaration=False
    )
    assert places(without) == [("m.arch", 4, 14), ("m.arch", 5, 17)]
    h = features.references(result, "m.arch", SHARED.index("return h") + 7)
    assert places(h) == [("m.arch", 4, 5), ("m.arch", 5, 12)]
    assert features.references(result, "m.arch", SHARED.index("relu")) == []


def test_references_of_a_block_cross_files(tmp_path: Path):
    (tmp_path / "blocks.arch").write_text(BLOCKS, encoding="utf-8")
    main = tmp_path / "main.arch"
    main.write_text(MAIN, encoding="utf-8")

    def workspace(name: str):
        paths = [tmp_path / "blocks.arch", main]
        return [Loader(diag.Reporter()).load_text(str(p), p.read_text()) for p in paths]

    result = check_text(MAIN, str(main))
    expected = [
        ("blocks.arch", 1, 7),  # the definition
        ("main.arch", 1, 27),  # the import
        ("main.arch", 5, 14),
        ("main.arch", 6, 17),
    ]
    at_call = features.references(result, str(main), MAIN.index("Widen(4)"), workspace)
    assert places(at_call) == expected
    at_import = features.references(result, str(main), MAIN.index("Widen"), workspace)
    assert places(at_import) == expected
    blocks = check_text(BLOCKS, str(tmp_path / "blocks.arch"))
    at_definition = features.references(blocks, str(tmp_path / "blocks.arch"), 7, workspace)
    assert places(at_definition) == expected


# --- code actions, formatting ---------------------------------------------------------------------


def test_code_actions_offer_fixes_and_label_unsafe_ones():
    path = ROOT / "examples" / "seed000_convnet.arch"
    text = path.read_text(encoding="utf-8")
    result = check_text(text, str(path))
    findings = diagnostics_for(result, str(path), CODEC)
    error = next(f for f in findings if f.code == "E202")
    actions = features.code_actions(result, findings, text, str(path), CODEC, error.range)
    (action,) = actions  # the unsafe fix; no safe one to apply for the whole file
    assert action.title == "set in_features=576 (unsafe: may change what the spec means)"
    assert action.kind == lsp.CodeActionKind.QuickFix and action.is_preferred is False
    assert action.diagnostics == [error]
    (edit,) = action.edit.changes[path.as_uri()]
    assert edit.new_text == "576" and edit.range == error.range
    elsewhere = lsp.Range(lsp.Position(0, 0), lsp.Position(0, 1))
    assert features.code_actions(result, findings, text, str(path), CODEC, elsewhere) == []


def test_code_actions_prefer_safe_fixes_and_fix_all_applies_them():
    text = "model Net {\n    input x: [N, 8, 4, 4]\n    return x  # archspec: ignore[W001]\n}\n"
    result = check_text(text, "s.arch")
    findings = diagnostics_for(result, "s.arch", CODEC)
    (finding,) = findings
    actions = features.code_actions(result, findings, text, "s.arch", CODEC, finding.range)
    quick, fix_all = actions
    assert quick.title == "remove the unused suppression comment" and quick.is_preferred
    assert fix_all.kind == features.FIX_ALL_KIND and fix_all.title == "archspec: apply 1 safe fix"
    (edit,) = next(iter(fix_all.edit.changes.values()))
    assert edit.new_text == "model Net {\n    input x: [N, 8, 4, 4]\n    return x\n}\n"
    only = features.code_actions(
        result, findings, text, "s.arch", CODEC, finding.range, [lsp.CodeActionKind.QuickFix]
    )
    assert only == [quick]


def test_formatting_is_one_edit_of_fmts_layout():
    text = "model M {\ninput x: [N, 3]\n  return x->Linear(3,4)\n}"
    (edit,) = features.format_edits(text, "f.arch", CODEC)
    assert edit.new_text == "model M {\n    input x: [N, 3]\n    return x -> Linear(3, 4)\n}\n"
    assert edit.range.start == lsp.Position(0, 0) and edit.range.end == lsp.Position(3, 1)
    assert features.format_edits(edit.new_text, "f.arch", CODEC) == []
    assert features.format_edits("model M {\n    input x\n", "f.arch", CODEC) is None


# --- hover on arrows and declarations, dependencies -----------------------------------------------


def test_hover_on_an_arrow_shows_the_shape_it_passes_on(tmp_path: Path):
    result = check_text(SHARED, "m.arch")
    first = hover_text(result, "m.arch", SHARED.index("->"))
    assert first == "**->** passes on\n- `[N, 8, 16, 16]`"
    assert hover_text(result, "m.arch", SHARED.index("->") + 1) == first  # either character
    (tmp_path / "blocks.arch").write_text(BLOCKS, encoding="utf-8")
    path = str(tmp_path / "both.arch")
    text = BLOCKS + "\n" + MAIN.split("\n", 2)[2]
    both = check_text(text, path)
    body = hover_text(both, path, text.index("-> mul"))
    # The block body's arrow, in each instance (automatic names: widen, widen_1).
    assert body == "**->** passes on\n- `[N, 8, 8, 8]` (`widen`)\n- `[N, 24, 8, 8]` (`widen_1`)"


def test_hover_on_a_layer_declaration_lists_its_applications():
    result = check_text(SHARED, "m.arch")
    value = hover_text(result, "m.arch", SHARED.index("Conv2d"))
    assert value.startswith("**Conv2d** — 2 applications")
    assert "parameters: 584" in value and "parameters: shared with its first application" in value


def test_imported_files_are_the_dependencies_to_recheck(tmp_path: Path):
    (tmp_path / "blocks.arch").write_text(BLOCKS, encoding="utf-8")
    (tmp_path / "middle.arch").write_text(
        'from "blocks.arch" import Widen\n\nblock Twice(c) {\n    input x\n'
        "    return x -> Widen(c) -> Widen(c * 2)\n}\n",
        encoding="utf-8",
    )
    main = str(tmp_path / "main.arch")
    text = 'from "middle.arch" import Twice\n\nmodel M {\n    input x: [N, 2, 4, 4]\n' + (
        "    return x -> Twice(2)\n}\n"
    )
    result = check_text(text, main)
    assert result.ok
    assert imported_files(result) == {
        str((tmp_path / "middle.arch").resolve()),
        str((tmp_path / "blocks.arch").resolve()),
    }


CONTAINERS = """extern Grow(c, factor=2) = "p:Grow" (x: [N, c, H, W]) -> [N, c * factor, H, W]

model Parts {\r
    input x: [N, 4, 8, 8]\r
    a, b = x -> chunk(2, dim=1)\r
    return a -> body: Sequential(stem: Conv2d(2, 4, 1), ReLU()) -> Grow(4)\r
}\r
"""


def test_symbols_and_hints_of_containers_externs_and_several_outputs():
    result = check_text(CONTAINERS, "parts.arch")
    assert result.ok, result.diagnostics
    symbols = features.document_symbols(result, "parts.arch", CODEC)
    assert [(s.name, s.kind) for s in symbols] == [
        ("Grow", lsp.SymbolKind.Interface),
        ("Parts", lsp.SymbolKind.Class),
    ]
    assert symbols[0].detail == "extern p:Grow"
    assert [(c.name, c.detail) for c in symbols[1].children][-2:] == [
        ("body", "Sequential"),
        ("stem", "Conv2d"),
    ]
    hints = {h.position.line: h for h in features.inlay_hints(result, "parts.arch", CODEC)}
    assert hints[4].label == "→ ([N, 2, 8, 8], [N, 2, 8, 8])"  # chunk's two outputs
    assert hints[5].label == "→ [N, 8, 8, 8]"
    line = CONTAINERS.split("\n")[5]
    assert hints[5].position.character == len(line) - 1  # before the \r
    assert features.document_symbols(check_text("model M {", "x.arch"), "x.arch", CODEC) == []


def test_completion_of_a_block_body_and_of_functions():
    result = check_text(BLOCKS, "w.arch")
    inside = BLOCKS.index("return")
    names = {i.label: i.kind for i in features.completions(BLOCKS, inside, result, "w.arch")}
    assert names["c"] == names["factor"] == lsp.CompletionItemKind.TypeParameter
    assert names["scale"] == lsp.CompletionItemKind.Field
    text = "x -> flatten(1, "
    keywords = labels(features.completions(text, len(text), None, "f.arch"))
    assert [k for k in keywords if k.endswith("=")] == ["end_dim="]  # start_dim is given
    text = "x -> unknown_call("
    assert not [k for k in labels(features.completions(text, len(text), None, "f.arch"))
                if k.endswith("=")]  # fmt: skip
