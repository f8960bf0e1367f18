"""`tie a.weight = b.weight`: one tensor under two names (a language model's output layer and its
token embedding). Checked after inference (archspec.shapes.ties), counted once, compiled to
`self.a.weight = self.b.weight` so that torch shares the tensor exactly as the spec says."""

from __future__ import annotations

import textwrap

import pytest
from conftest import ROOT

import archspec
from archspec.tools.fmt import format_text


def _check(body: str, blocks: str = ""):
    text = textwrap.dedent(blocks) + "model M {\n" + textwrap.indent(textwrap.dedent(body), "    ")
    return archspec.check_text(text + "}\n", "ties.arch")


def _errors(result) -> list[tuple[str, str]]:
    return [(d.code, d.message) for d in result.diagnostics if d.severity.value == "error"]


HEAD = """
    input tokens: [N, 8] int64
    wte: Embedding(100, 16)
"""


def test_a_tie_of_equal_shapes_checks_and_is_counted_once():
    result = _check(
        HEAD
        + """
        head: Linear(16, 100, bias=False)
        tie head.weight = wte.weight
        return tokens -> wte -> head
    """
    )
    assert result.diagnostics == []
    model = result.model()
    assert model.parameter_count == 100 * 16  # not 2 × 1,600
    summary = model.summary()
    rows = {row.name: row.params for row in summary.rows}
    assert rows == {"wte": 1600, "head": 0}  # the shared tensor in its owner's row
    assert summary.total_params == 1600
    assert summary.ties == [("head.weight = wte.weight", 1600)]
    assert "Tied: head.weight = wte.weight (1,600 params, counted once)" in str(summary)


def test_a_tie_reads_inferred_arguments():
    """`Linear(?, 100)` learns its in_features from its input: the tie is judged after that."""
    result = _check(
        HEAD
        + """
        head: Linear(?, 100, bias=False)
        tie head.weight = wte.weight
        return tokens -> wte -> Linear(16, 32) -> head
    """
    )
    assert _errors(result) == [
        ("E211", "tied parameters differ in shape: head.weight is [100, 32], wte.weight is "
                 "[100, 16]"),
    ]  # fmt: skip
    error = result.diagnostics[0]
    assert error.help == "build the layers so that head.weight is [100, 16]"
    assert [label.message for label in error.labels] == ["[100, 32]", "[100, 16]"]


@pytest.mark.parametrize(
    ("statements", "expected"),
    [
        (
            "head: Linear(16, 100, bias=False)\ntie head.bias = wte.weight",
            ("E211", "Linear 'head' has no parameter 'bias' (bias=False)"),
        ),
        (
            "head: Linear(16, 100)\ntie head.wieght = wte.weight",
            ("E211", "Linear 'head' has no parameter 'wieght'"),
        ),
        (
            "head: Linear(16, 100)\ntie head.weight = head.weight",
            ("E211", "'head.weight' is tied to itself"),
        ),
        (
            "head: Linear(16, 100)\nhead2: Linear(16, 100)\n"
            "tie head.weight = wte.weight\ntie head.weight = head2.weight",
            ("E211", "'head.weight' is already tied"),
        ),
        (
            "head: Linear(16, 100)\nhead2: Linear(16, 100)\n"
            "tie head.weight = wte.weight\ntie head2.weight = head.weight",
            ("E211", "'head.weight' is itself tied to another parameter"),
        ),
        (
            "head: Linear(16, 100)\nhead2: Linear(16, 100)\n"
            "tie head2.weight = wte.weight\ntie wte.weight = head.weight",
            ("E211", "'wte.weight' already lends its tensor to another tie"),
        ),
        (
            "head: Linear(16, 100)\ntie hed.weight = wte.weight",
            ("E102", "no layer or block named 'hed' here"),
        ),
        (
            "rnn: LSTM(16, 16)\ntie rnn.weight_ih_l0 = wte.weight",
            ("E211", "archspec does not know the parameters of LSTM, so it cannot tie them"),
        ),
    ],
    ids=["no-bias", "misspelt", "itself", "twice", "chain", "lender", "unknown-layer", "lstm"],
)
def test_refused_ties(statements: str, expected: tuple[str, str]):
    result = _check(HEAD + statements + "\nreturn tokens -> wte\n")
    assert _errors(result) == [expected]


def test_a_misspelt_parameter_is_suggested():
    result = _check(
        HEAD + "head: Linear(16, 100)\ntie head.wieght = wte.weight\nreturn tokens -> wte\n"
    )
    (error,) = result.diagnostics
    assert error.notes == ("its parameters: weight, bias",)
    assert error.help == "name one of its parameters (did you mean 'weight'?)"


def test_a_tie_names_a_layer_not_a_block():
    result = _check(
        HEAD + "x = tokens -> enc: Enc()\ntie enc.weight = wte.weight\nreturn x\n",
        blocks="block Enc() {\n    input t\n    return t -> wte: Embedding(100, 16)\n}\n",
    )
    assert _errors(result) == [
        ("E108", "'enc' is a block instance, not a layer: a tie names a layer's parameter"),
    ]


def test_a_function_cannot_tie():
    result = archspec.check_text(
        "def f(a) {\n    tie x.weight = y.weight\n    return a\n}\n"
        "model M {\n    input x: [N, 4]\n    return x -> Linear(4, f(2))\n}\n",
        "ties.arch",
    )
    assert _errors(result) == [
        ("E108", "a function computes plain values; it cannot declare a tie")
    ]


def test_a_symbolic_model_reports_ties_too():
    result = archspec.check_text(
        "model M {\n    input x: [N, 3, H, W]\n    a: Conv2d(3, 8, 3)\n    b: Conv2d(3, 8, 5)\n"
        "    tie b.weight = a.weight\n    return x -> a -> b\n}\n",
        "ties.arch",
    )
    assert ("E211", "tied parameters differ in shape: b.weight is [8, 3, 5, 5], a.weight is "
                    "[8, 3, 3, 3]") in _errors(result)  # fmt: skip


def test_fmt_writes_a_tie_plainly():
    text = "model M {\n    input x: [N, 4]\n    a: Linear(4, 4)\n    b: Linear(4, 4)\n" \
           "    tie   b . weight=a.weight   # shared\n    return x -> a -> b\n}\n"  # fmt: skip
    formatted = format_text(text)
    assert "    tie b.weight = a.weight  # shared\n" in formatted
    assert format_text(formatted) == formatted


def test_tie_is_a_reserved_word():
    result = archspec.check_text("model M {\n    input tie: [N, 4]\n    return tie\n}\n", "t.arch")
    assert [d.code for d in result.diagnostics] == ["E001"]


# ---------------------------------------------------------------- in torch

torch = pytest.importorskip("torch")


@pytest.mark.torch
def test_the_compiled_module_shares_one_tensor():
    spec = "specs/sequence/gpt.arch"
    model = archspec.build(spec)
    assert model.head.weight is model.embed.tok.weight
    assert "head.weight" in model.state_dict() and "embed.tok.weight" in model.state_dict()
    unique = sum(p.numel() for p in model.parameters())
    assert archspec.check(spec).model().parameter_count == unique
    state = {k: torch.randn_like(v) for k, v in model.state_dict().items()}
    state["head.weight"] = state["embed.tok.weight"]
    model.load_state_dict(state)
    assert model.head.weight is model.embed.tok.weight  # loading keeps the tie


@pytest.mark.torch
def test_a_tie_inside_a_block_ties_each_instance_its_own():
    text = textwrap.dedent("""
        block Pair(d) {
            input x
            a: Linear(d, d)
            b: Linear(d, d)
            tie b.weight = a.weight
            return x -> a -> b
        }

        model M {
            input x: [N, 4]
            return x -> p1: Pair(4) -> p2: Pair(4)
        }
    """)
    result = archspec.check_text(text, "pair.arch")
    assert result.diagnostics == []
    assert result.model().parameter_count == 2 * (16 + 4 + 4)
    model = archspec.build(text)
    assert model.p1.b.weight is model.p1.a.weight
    assert model.p2.b.weight is model.p2.a.weight
    assert model.p1.a.weight is not model.p2.a.weight
    assert sum(p.numel() for p in model.parameters()) == 2 * (16 + 4 + 4)


def test_hovering_a_tie_shows_the_shared_tensor():
    pytest.importorskip("pygls")
    from archspec.driver import check_text
    from archspec.tools.lsp import hover_text

    path = str(ROOT / "specs" / "sequence" / "gpt.arch")
    text = (ROOT / "specs" / "sequence" / "gpt.arch").read_text(encoding="utf-8")
    result = check_text(text, path)
    hover = hover_text(result, path, text.index("embed.tok.weight"))
    assert hover == (
        "**tie** — one tensor under two names\n"
        "- `head.weight` is `embed.tok.weight`, [256, 128]: 32,768 counted once"
    )
