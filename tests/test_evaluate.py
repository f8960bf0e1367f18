"""The expression evaluator on its own: no graph, no elaboration. A recording host stands in for the
Elaborator, so each test shows what the evaluator computes itself and what it hands over."""

from __future__ import annotations

import pytest

from archspec.core import diagnostic as diag
from archspec.core.dims import Sym
from archspec.core.source import SourceFile
from archspec.elaborate import evaluate
from archspec.elaborate.evaluate import Arguments, Evaluator, StepBudget, arithmetic
from archspec.elaborate.graph import ModuleInfo
from archspec.elaborate.scopes import Frame
from archspec.elaborate.values import POISON, Recipe, Tensor
from archspec.ops import INFER
from archspec.syntax import ast
from archspec.syntax.parser import parse_expression


class RecordingHost:
    """Answers every graph request with a marker and remembers what was asked."""

    def __init__(self):
        self.calls: list[tuple[str, Arguments]] = []
        self.stages: list[tuple[object, ast.Expr]] = []
        self.binops: list[tuple[str, object, object]] = []
        self.reads: list[Tensor] = []

    def call(self, frame, call, arguments):
        self.calls.append((call.func.id, arguments))
        return ("called", call.func.id)

    def apply_stage(self, frame, value, stage):
        self.stages.append((value, stage))
        return ("staged", value)

    def tensor_binop(self, frame, expr, left, right):
        self.binops.append((expr.op, left, right))
        return Tensor(f"{expr.op}-node")

    def read(self, tensor):
        self.reads.append(tensor)


def frame(values=None, layers=None) -> Frame:
    span = SourceFile("x.arch", "").span(0, 0)
    definition = ast.Definition("model", ast.Name("M", span), (), (), span)
    return Frame(
        definition,
        ModuleInfo("M", "", "model", span),
        dict(values or {}),
        layers or {},
        frozenset(),
    )


def evaluate_text(text: str, values=None, layers=None, budget=None, host=None):
    source = SourceFile("x.arch", text)
    expr = parse_expression(source, 0, len(text))
    evaluator = Evaluator(host or RecordingHost(), budget or StepBudget())
    return evaluator.eval(frame(values, layers), expr)


def failure(text: str, **kw) -> diag.Diagnostic:
    with pytest.raises(diag.ArchError) as raised:
        evaluate_text(text, **kw)
    return raised.value.diagnostic


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1 + 2 * 3", 7),
        ("7 // 2", 3),
        ("-7 % 3", 2),
        ("7 / 2", 3.5),
        ("2 ** 10", 1024),
        ("1 < 2 and 3 >= 3", True),
        ("0 or 5", 5),
        ("not 0", True),
        ("-(3)", -3),
        ("+3", 3),
        ("(1, 2) + (3,)", (1, 2, 3)),
        ("[0] * 3", [0, 0, 0]),
        ("[1, 2] == [1, 2]", True),
        ("'a' != 'b'", True),
        ("[i * i for i in range(4)]", [0, 1, 4, 9]),
        ("[1, 2, 3][-1]", 3),
        ("10 if 1 > 2 else 20", 20),
        ("len([1, 2, 3]) + max(4, 5) + min(1, 2) + abs(-1) + int(2.7) + round(2.5)", 14),
        ("range(2, 8, 3)", range(2, 8, 3)),
        ("True", True),
        ("None", None),
        ("?", INFER),
    ],
)
def test_plain_values(text, expected):
    assert evaluate_text(text) == expected


def test_names_read_the_frame_and_comprehension_variables_do_not_leak():
    assert evaluate_text("c * 2", values={"c": 16}) == 32
    values = {"i": "kept"}
    scope = frame(values)
    source = SourceFile("x.arch", "[i for i in range(2)]")
    expr = parse_expression(source, 0, len(source.text))
    assert Evaluator(RecordingHost(), StepBudget()).eval(scope, expr) == [0, 1]
    assert scope.values["i"] == "kept"


def test_symbolic_sizes():
    height = Sym.named("H")
    assert evaluate_text("H // 4 * 2 + 1", values={"H": height}) == height // 4 * 2 + 1
    assert evaluate_text("H % 8", values={"H": height}) == height % 8
    found = failure("H / 2", values={"H": height})
    assert found.code == "E108" and "on a symbolic size" in found.message


@pytest.mark.parametrize(
    "text, code, message",
    [
        ("undefined_name", "E102", "'undefined_name' is not defined"),
        ("1 / 0", "E105", "division by zero"),
        ("[1, 2][5]", "E105", "index 5 is out of range for 2 items"),
        ("[1][1.5]", "E108", "an index must be an integer, got the number 1.5"),
        ("3[0]", "E108", "cannot index the number 3"),
        ("-'a'", "E108", "cannot apply unary - to the string 'a'"),
        ("'a' - 1", "E108", "cannot compute the string 'a' - the number 1"),
        ("10 ** 1000", "E110", "this number is too large"),
        ("1e308 * 10", "E110", "this number is too large"),
        ("(-8) ** 0.5", "E108", "the result is not a real number"),
        ("[0] * 3000000", "E110", "list repetition is too large"),
        ("range(10 ** 7)", "E110", "range of 10000000 items is larger than archspec allows"),
        ("len(range(10 ** 70))", "E110", "range(): the number is too large"),
        ("range(1.5)", "E104", "range(): range() needs integers, got the number 1.5"),
        ("len(1)", "E104", "len(): object of type 'int' has no len()"),
        ("max(a=1)", "E104", "max() takes no keyword arguments"),
        ("[i for i in 3]", "E108", "cannot loop over the number 3"),
    ],
)
def test_errors_are_diagnostics_at_the_expression(text, code, message):
    found = failure(text)
    assert found.code == code
    assert found.message.startswith(message)


def test_size_bounds_belong_in_an_input_shape():
    span = SourceFile("x.arch", "W in 1..4").span(0, 9)
    one, four = ast.Constant(1, span), ast.Constant(4, span)
    bounded = ast.BoundedDim(ast.Name("W", span), one, four, None, span)
    with pytest.raises(diag.ArchError) as raised:
        Evaluator(RecordingHost(), StepBudget()).eval(frame(), bounded)
    assert raised.value.diagnostic.message.startswith("bounds such as `W in ...` belong")


def test_an_undefined_name_suggests_the_closest_one():
    found = failure("chanels", values={"channels": 3})
    assert found.help == "did you mean 'channels'?"


def test_a_layer_name_is_not_a_value():
    found = failure("conv", layers={"conv": object()})
    assert (found.code, found.message) == ("E108", "'conv' is a layer, not a value")


def test_poison_in_gives_poison_out_silently():
    for text in (
        "p + 1",
        "-p",
        "[1][p]",
        "p if True else 1",
        "[i for i in p]",
        "len(p)",
        "p and 1",
    ):
        assert evaluate_text(text, values={"p": POISON}) is POISON, text


def test_conditions_refuse_tensors():
    found = failure("1 if t else 2", values={"t": Tensor("x")})
    assert found.code == "E108" and found.message == "a condition needs a plain value, got a tensor"
    found = failure("not r", values={"r": Recipe("Conv2d", "layer", [], {}, {}, None)})
    assert found.message == "`not` needs a plain value, got a layer (Conv2d)"


def test_the_graph_is_the_hosts_business():
    host = RecordingHost()
    tensor = Tensor("x")
    result = evaluate_text("Conv2d(3, 8, kernel_size=k)", values={"k": 3}, host=host)
    assert result == ("called", "Conv2d")
    ((name, arguments),) = host.calls
    assert name == "Conv2d"
    assert arguments.positional == [3, 8] and arguments.keywords == {"kernel_size": 3}
    assert set(arguments.spans) == {"#0", "#1", "kernel_size", "=kernel_size"}
    assert evaluate_text("x -> relu() -> fc", values={"x": tensor}, host=host) == (
        "staged",
        ("staged", tensor),
    )
    assert [type(stage).__name__ for _, stage in host.stages] == ["Call", "LayerRef"]
    assert evaluate_text("x + x", values={"x": tensor}, host=host) == Tensor("+-node")
    assert host.binops == [("+", tensor, tensor)]
    assert host.reads == [tensor] * 3  # each name read of a tensor is reported


def test_builtins_stay_with_the_evaluator_and_refuse_a_piped_tensor():
    host = RecordingHost()
    assert evaluate_text("max(2, 3)", host=host) == 3 and host.calls == []
    source = SourceFile("x.arch", "max(2, 3)")
    call = parse_expression(source, 0, len(source.text))
    with pytest.raises(diag.ArchError) as raised:
        Evaluator(host, StepBudget()).call(frame(), call, piped=Tensor("x"))
    assert raised.value.diagnostic.message == "max() cannot take a tensor through `->`"
    found = failure("max(t, 1)", values={"t": Tensor("x")})
    assert found.message == "max() takes plain values, got a tensor"


def test_sequential_children_and_splats_are_collected():
    host = RecordingHost()
    evaluate_text("Sequential(a: ReLU(), *[1, 2])", host=host)
    (_, outer), (_, _inner) = host.calls[::-1]
    labels = [label.parts[0] if label else None for label, _, _ in outer.children]
    assert labels == ["a", None, None]
    assert outer.positional[1:] == [1, 2]
    found = failure("Sequential(*3)")
    assert found.message == "only a list can be spread with *, got the number 3"
    found = failure("f(a=1, a=2)")
    assert found.message == "argument 'a' is given twice"


def test_every_step_counts_against_one_budget_and_the_overrun_is_one_finding(monkeypatch):
    monkeypatch.setattr(evaluate, "MAX_STEPS", 30)
    budget = StepBudget()
    # 23 steps: 3 expressions (the comprehension, range(10), 10), 10 items, 10 times `i`.
    assert evaluate_text("[i for i in range(10)]", budget=budget) == list(range(10))
    assert budget.steps == 23
    with pytest.raises(diag.ArchError) as first:
        evaluate_text("[i for i in range(3)]", budget=budget)
    with pytest.raises(diag.ArchError) as second:
        evaluate_text("[0 for i in range(1)]", budget=budget)
    assert first.value.diagnostic is second.value.diagnostic
    assert first.value.diagnostic.message == "the model expands to more than 30 steps"


def test_arithmetic_keeps_python_semantics_for_plain_numbers():
    def binop(op):
        span = SourceFile("x.arch", "a op b").span(0, 6)
        return ast.BinOp(op, ast.Constant(0, span), ast.Constant(0, span), span)

    for op, left, right, expected in [
        ("//", -7, 2, -4),
        ("%", -7, 2, 1),
        ("/", 1, 4, 0.25),
        ("<=", 2, 2, True),
        ("==", 1, 1.0, True),
        ("+", [1], [2], [1, 2]),
    ]:
        assert arithmetic(binop(op), left, right) == expected
