"""examples/train_mnist.py: seed 002's loop on the compiled mnist_cnn.arch, offline."""

from __future__ import annotations

import struct
import sys

import pytest
from conftest import ROOT

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

sys.path.insert(0, str(ROOT / "examples"))
import train_mnist  # noqa: E402

pytestmark = pytest.mark.torch

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_short_run_on_the_shipped_digits_learns(tmp_path):
    plot = tmp_path / "loss.png"
    result = train_mnist.train(
        train_mnist.parse_args(["--epochs", "3", "--no-progress", "--plot", str(plot)])
    )
    losses = result["losses"]
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert result["accuracy"] > 0.5  # ten classes: chance is 0.1
    assert plot.read_bytes().startswith(PNG_MAGIC)


@pytest.mark.slow
def test_seed_recipe_reaches_97_percent_on_the_default_data(tmp_path):
    result = train_mnist.train(
        train_mnist.parse_args(["--no-progress", "--plot", str(tmp_path / "loss.png")])
    )
    assert result["accuracy"] >= 0.97


def _write_idx(path, array: torch.Tensor) -> None:
    dims = array.shape
    magic = 0x0800 | len(dims)
    with open(path, "wb") as handle:
        handle.write(struct.pack(">I", magic))
        handle.write(struct.pack(f">{len(dims)}I", *dims))
        handle.write(array.to(torch.uint8).numpy().tobytes())


def test_real_mnist_loading_code_reads_a_local_folder(tmp_path, capsys):
    """torchvision's MNIST reader on IDX files written here (the real format, made-up digits)."""
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    generator = torch.Generator().manual_seed(0)
    for prefix, count in (("train", 300), ("t10k", 100)):
        labels = torch.randint(0, 10, (count,), generator=generator)
        images = torch.zeros(count, 28, 28)
        for index, label in enumerate(labels):  # a bright bar whose row encodes the label
            images[index, 2 + 2 * int(label) : 4 + 2 * int(label), 4:24] = 255
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
        written_test_labels = labels
    train_set, test_set = train_mnist.mnist_datasets(str(tmp_path))
    assert (len(train_set), len(test_set)) == (300, 100)
    image, label = test_set[0]
    assert tuple(image.shape) == (1, 28, 28) and float(image.max()) == 1.0
    assert label == int(written_test_labels[0])
    result = train_mnist.train(
        train_mnist.parse_args(
            ["--data-dir", str(tmp_path), "--epochs", "2", "--no-progress",
             "--plot", str(tmp_path / "loss.png")]
        )
    )  # fmt: skip
    assert result["accuracy"] > 0.5  # ten classes: chance is 0.1
    assert "Accuracy:" in capsys.readouterr().out
