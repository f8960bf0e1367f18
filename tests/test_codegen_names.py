"""Hostile names never produce broken or unsafe code: rejected with E105, or mangled predictably."""

from __future__ import annotations

import ast
import builtins

import pytest

import archspec
from archspec.core.names import MODULE_ATTRIBUTES
from archspec.outputs.codegen import generate


def _spec(layer: str = "conv", value: str = "h", model: str = "Net") -> str:
    return (
        f"model {model} {{\n"
        "    input x: [N, 3, 8, 8]\n"
        f"    {value} = x -> {layer}: Conv2d(3, 4, 3)\n"
        f"    return {value}\n"
        "}\n"
    )


@pytest.mark.parametrize(
    "name", ["forward", "training", "to", "state_dict", "_modules", "__init__", "ｃｏｎｖ"]
)
def test_layer_names_that_cannot_be_attributes_are_rejected(name):
    result = archspec.check_text(_spec(layer=name))
    codes = [d.code for d in result.diagnostics]
    assert codes == ["E105"], codes


@pytest.mark.parametrize("name", ["self", "torch", "nn", "F", "list", "len", "match", "type"])
def test_value_names_are_mangled_predictably(name):
    result = archspec.check_text(_spec(value=name))
    assert result.ok
    source = generate(result)
    tree = ast.parse(source)
    forward = next(
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.name == "forward"
    )
    assigned = [
        t.id for node in ast.walk(forward) if isinstance(node, ast.Assign) for t in node.targets
    ]
    assert assigned == [f"{name}_"]


# (`int` is a conversion op now, `x -> int()`: a model cannot take its name, E103.)
@pytest.mark.parametrize("name", ["torch", "nn", "F", "OrderedDict", "dict"])
def test_model_names_that_shadow_imports_get_a_suffix(name):
    result = archspec.check_text(_spec(model=name))
    source = generate(result)
    classes = [n.name for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ClassDef)]
    assert classes == [f"{name}_"]


def test_non_ascii_names_compile_as_python_reads_them():
    result = archspec.check_text(_spec(layer="합성곱", value="출력"))
    assert result.ok
    source = generate(result)
    assert "self.합성곱 = nn.Conv2d(3, 4, 3)" in source
    compile(source, "net.py", "exec")


def test_strings_cannot_escape_their_literals_or_docstrings():
    payload = 'x\\"\\"\\" + __import__(\'os\').system(\'true\') + \\"\\"\\"'
    spec = (
        f'block B(tag="{payload}") {{\n    input x\n    return x -> relu()\n}}\n'
        "model Net {\n    input x: [N, 3, 8, 8]\n    return x -> B()\n}\n"
    )
    result = archspec.check_text(spec, 'odd"""name.arch')
    assert result.ok
    tree = ast.parse(generate(result))
    called = {
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    assert called <= {"B", "super"}  # nothing but the block class and super() is called by name
    assert not any(
        isinstance(node, ast.Import) and node.names[0].name == "os" for node in ast.walk(tree)
    )


def test_module_attribute_list_matches_torch():
    torch = pytest.importorskip("torch")
    public = {name for name in dir(torch.nn.Module) if not name.startswith("_")}
    public |= {name for name in vars(torch.nn.Module()) if not name.startswith("_")}
    assert public <= MODULE_ATTRIBUTES


def test_generated_source_only_names_known_globals():
    result = archspec.check("specs/seeds/inception_net.arch")
    tree = ast.parse(generate(result))
    classes = {n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
    allowed = classes | {"torch", "nn", "F", "OrderedDict", "super", "self"} | set(dir(builtins))
    loaded = {
        n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
    }
    params = {a.arg for n in ast.walk(tree) if isinstance(n, ast.arguments) for a in n.args}
    stored = {
        n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }
    assert loaded <= allowed | params | stored


def test_each_output_of_a_block_keeps_its_own_name():
    text = (
        "block B() {\n    input x: [N, 4]\n    return x -> relu(), x -> sigmoid()\n}\n"
        "model M() {\n    input x: [N, 4]\n    y, w = x -> blk: B()\n    return y + w\n}\n"
    )
    result = archspec.check_text(text)
    assert result.ok
    assert "y, w = self.blk(x)" in generate(result)
