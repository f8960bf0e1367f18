"""archspec's standard library: block files shipped in archspec/std/, imported as "std/NAME.arch"
from any project (docs/language.md, "The standard library").

Every spec here lives in a temporary folder outside the repository, with its own project marker,
so a relative import of the repository's specs would be E111: only the std prefix reaches them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tomllib
from conftest import ROOT

import archspec
from archspec.elaborate.loader import STD_FOLDER, import_target, shown_path, std_library_names

STD = Path(STD_FOLDER)

# Each library and the spec file of the repository that holds the same text.
SOURCES = {
    "resnet": "specs/torchvision/resnet_blocks.arch",
    "segmentation": "specs/torchvision/segmentation_blocks.arch",
    "unet": "specs/segmentation/unet_blocks.arch",
}

BLOCKS = {
    "resnet": {"BasicBlock", "Bottleneck"},
    "segmentation": {"Bottleneck", "ResNet50Backbone"},
    "unet": {"DoubleConv", "Down", "Up", "OutConv"},
}


def _docs_example() -> str:
    """The arch block after the `std-library-example` marker in docs/language.md."""
    text = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- std-library-example -->\n```arch\n(.*?)```", text, re.S)
    assert found, "docs/language.md lost its standard library example"
    return found.group(1)


def _project(tmp_path: Path, text: str, name: str = "net.arch") -> Path:
    """A spec in a project of its own (an archspec.toml marks the folder) outside the repository."""
    (tmp_path / "archspec.toml").write_text("", encoding="utf-8")
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _codes(result) -> list[str]:
    return [finding.code for finding in result.diagnostics]


def test_names_are_the_shipped_files():
    assert std_library_names() == sorted(SOURCES)


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_library_matches_its_spec_file(name):
    """One text, two places: the std file is what specs/ import relatively and the docs quote."""
    assert (STD / f"{name}.arch").read_bytes() == (ROOT / SOURCES[name]).read_bytes()


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_every_block_imports_clean_from_outside_the_repository(tmp_path, name):
    blocks = ", ".join(sorted(BLOCKS[name]))
    path = _project(tmp_path, f'from "std/{name}.arch" import {blocks}\n')
    result = archspec.check(str(path))
    assert result.diagnostics == []


def test_docs_example_checks_and_compiles(tmp_path):
    path = _project(tmp_path, _docs_example())
    result = archspec.check(str(path))
    assert result.diagnostics == []
    source = archspec.compile_source(str(path))
    assert "from std/resnet.arch:10" in source  # BasicBlock's line in the library
    assert str(STD) not in source  # generated code does not name the install folder


def test_unknown_library_is_e106_with_the_closest_name(tmp_path):
    path = _project(tmp_path, 'from "std/resnt.arch" import BasicBlock\n')
    result = archspec.check(str(path))
    assert _codes(result) == ["E106"]
    finding = result.diagnostics[0]
    assert "std/resnt.arch" in finding.message
    assert finding.help == "did you mean 'std/resnet.arch'?"
    assert any("std/unet.arch" in note for note in finding.notes)


@pytest.mark.parametrize(
    "path", ["std/resnet", "std/../../etc/passwd.arch", "std/resnet.arch/../unet.arch"]
)
def test_std_paths_name_libraries_only(tmp_path, path):
    spec = _project(tmp_path, f'from "{path}" import BasicBlock\n')
    assert _codes(archspec.check(str(spec))) == ["E106"]


def test_escaping_the_project_is_still_e111(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (tmp_path / "x.arch").write_text("block B {\n    input x\n    return x\n}\n", encoding="utf-8")
    path = _project(project, 'from "../x.arch" import B\n')
    assert _codes(archspec.check(str(path))) == ["E111"]


def test_own_std_folder_is_reached_with_dot_slash(tmp_path):
    (tmp_path / "std").mkdir()
    (tmp_path / "std" / "mine.arch").write_text(
        "block Mine {\n    input x\n    return x\n}\n", encoding="utf-8"
    )
    good = _project(tmp_path, 'from "./std/mine.arch" import Mine\n')
    assert archspec.check(str(good)).diagnostics == []
    taken = _project(tmp_path, 'from "std/mine.arch" import Mine\n', "taken.arch")
    assert _codes(archspec.check(str(taken))) == ["E106"]


def test_loader_and_language_server_share_the_resolver(tmp_path):
    importing = str(tmp_path / "net.arch")
    assert import_target(importing, "std/resnet.arch") == str(STD / "resnet.arch")
    assert import_target(importing, "std/nothing.arch") is None
    assert import_target(importing, "blocks.arch") == str(tmp_path / "blocks.arch")
    assert shown_path(str(STD / "unet.arch")) == "std/unet.arch"
    lsp = (ROOT / "archspec" / "tools" / "lsp.py").read_text(encoding="utf-8")
    assert "import_target(" in lsp


def test_language_server_points_at_the_std_import(tmp_path):
    pytest.importorskip("pygls")
    from archspec.tools.lsp import diagnostics_for

    text = (
        'from "std/resnet.arch" import BasicBlock\n\n'
        "model Net {\n    input x: [N, 64, 8, 8]\n    return x -> BasicBlock(64, 64)\n}\n"
    )
    path = _project(tmp_path, text)
    result = archspec.check(str(path))
    assert result.diagnostics == []
    assert diagnostics_for(result, str(path)) == []


def test_std_files_are_package_data():
    """A pip-installed archspec has the libraries: pyproject lists them as package data."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["archspec"]
    package = ROOT / "archspec"
    listed = {p.relative_to(package) for pattern in patterns for p in package.glob(pattern)}
    shipped = {p.relative_to(package) for p in STD.glob("*.arch")}
    assert shipped and shipped <= listed
    assert STD.parent == package


# ---------------------------------------------------------------- against torchvision


def test_compiled_blocks_equal_torchvision(tmp_path):
    torch = pytest.importorskip("torch")
    resnet = pytest.importorskip("torchvision.models.resnet")

    path = _project(tmp_path, _docs_example())
    model = archspec.build(str(path)).eval()

    torch.manual_seed(0)
    # torchvision's ResNet._make_layer passes these shortcuts in; the spec's blocks decide them.
    widen = torch.nn.Sequential(resnet.conv1x1(64, 128, stride=2), torch.nn.BatchNorm2d(128))
    expand = torch.nn.Sequential(resnet.conv1x1(128, 512), torch.nn.BatchNorm2d(512))
    reference = torch.nn.Module()
    reference.first = resnet.BasicBlock(64, 128, stride=2, downsample=widen)
    reference.second = resnet.Bottleneck(128, 128, downsample=expand)
    reference.eval()
    with torch.no_grad():  # BatchNorm statistics other than 0 and 1, so they are compared too
        for module in reference.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)

    state = reference.state_dict()
    model.load_state_dict(state, strict=True)
    assert list(model.state_dict()) == list(state)

    x = torch.randn(2, 64, 56, 56)
    with torch.no_grad():
        expected = reference.second(reference.first(x))
        actual = model(x)
    assert actual.shape == (2, 512, 28, 28)
    torch.testing.assert_close(actual, expected)
