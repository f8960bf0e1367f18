"""archspec/outputs/onnx.py on small specs, measured by coverage (the sweep over every shipped
spec is in test_codegen_export.py): the example inputs, the dynamic batch, the exported file run
by onnxruntime, and each way `compile --to onnx` refuses, with no file left behind."""

from __future__ import annotations

import sys

import pytest

torch = pytest.importorskip("torch")
onnxruntime = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

import archspec  # noqa: E402
from archspec.cli import main  # noqa: E402
from archspec.outputs.onnx import dynamic_batch, example_inputs  # noqa: E402

pytestmark = pytest.mark.torch

SMALL = """\
model Small(num_classes=3) {
    input x: [N, 2, H in 8..32, W in 8..32]
    return x -> conv: Conv2d(2, 4, 3, padding=1) -> ReLU() -> AdaptiveAvgPool2d(1)
             -> flatten(1) -> fc: Linear(4, num_classes)
}
"""

MIXED = """\
model Mixed {
    input ids: [N, 5] int64
    input mask: [N, 5] bool
    input fixed: [1, 5, 4]
    h = ids -> embed: Embedding(3, 4)
    return h * (mask -> unsqueeze(-1) -> to(float32)) + fixed
}
"""


def _write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_example_inputs_take_the_specs_sizes_and_dtypes(tmp_path):
    checked = archspec.load(_write(tmp_path, "mixed.arch", MIXED)).model()
    ids, mask, fixed = example_inputs(checked, batch=3)
    assert ids.shape == (3, 5) and ids.dtype == torch.int64
    assert int(ids.min()) >= 0 and int(ids.max()) <= 2  # rows of any embedding table
    assert mask.dtype == torch.bool
    assert fixed.shape == (1, 5, 4) and fixed.dtype == torch.float32
    # deterministic: the CLI and a test build the same example
    assert torch.equal(ids, example_inputs(checked, batch=3)[0])


def test_the_batch_is_dynamic_where_the_spec_leaves_it_free(tmp_path):
    checked = archspec.load(_write(tmp_path, "mixed.arch", MIXED)).model()
    ids, mask, fixed = dynamic_batch(checked)
    assert list(ids) == [0] and list(mask) == [0]
    assert ids[0] is mask[0]  # one shared batch dimension
    assert fixed is None  # a stated batch of 1 stays 1
    small = archspec.load(_write(tmp_path, "small.arch", SMALL)).model()
    (x,) = dynamic_batch(small)
    assert list(x) == [0]  # H and W are input sizes, not the batch


def test_the_onnx_file_runs_in_onnxruntime_at_another_batch(tmp_path):
    spec = _write(tmp_path, "small.arch", SMALL)
    target = tmp_path / "small.onnx"
    torch.manual_seed(0)
    assert main(["compile", spec, "--to", "onnx", "-o", str(target)]) == 0
    torch.manual_seed(0)  # the CLI builds as build() does: the same weights
    model = archspec.build(spec).eval()
    (x,) = example_inputs(archspec.load(spec).model(), batch=5)
    session = onnxruntime.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    assert [arg.name for arg in session.get_inputs()] == ["x"]
    (output,) = session.run(None, {"x": x.numpy()})
    with torch.no_grad():
        expected = model(x)
    assert output.shape == (5, 3)
    torch.testing.assert_close(torch.from_numpy(output), expected, rtol=1e-4, atol=1e-4)


def test_onnx_needs_an_output_file(tmp_path, capsys):
    spec = _write(tmp_path, "small.arch", SMALL)
    assert main(["compile", spec, "--to", "onnx"]) == 2
    assert "--to onnx writes a file: give -o FILE.onnx" in capsys.readouterr().err


def test_onnx_holds_one_model(tmp_path, capsys):
    spec = _write(tmp_path, "two.arch", SMALL + "\n" + SMALL.replace("Small", "Other"))
    target = tmp_path / "two.onnx"
    assert main(["compile", spec, "--to", "onnx", "-o", str(target)]) == 2
    assert "an ONNX file holds one model" in capsys.readouterr().err
    assert not target.exists()


def test_a_missing_onnxscript_names_the_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # import raises ImportError
    spec = _write(tmp_path, "small.arch", SMALL)
    target = tmp_path / "small.onnx"
    assert main(["compile", spec, "--to", "onnx", "-o", str(target)]) == 2
    err = capsys.readouterr().err
    assert "needs the onnx extra (onnxscript is missing)" in err
    assert "pip install 'archspec-nn[onnx]'" in err
    assert not target.exists()


def test_an_exporter_failure_is_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch):
    def failing(*args, **kwargs):
        raise RuntimeError("unsupported operator aten::frobnicate\nwith a long traceback")

    monkeypatch.setattr(torch.onnx, "export", failing)
    spec = _write(tmp_path, "small.arch", SMALL)
    target = tmp_path / "small.onnx"
    assert main(["compile", spec, "--to", "onnx", "-o", str(target)]) == 2
    err = capsys.readouterr().err
    assert "torch.onnx.export failed: unsupported operator aten::frobnicate" in err
    assert "traceback" not in err
    assert not target.exists()
