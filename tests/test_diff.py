"""`archspec diff`: matching layers by name and position, totals, renderings, the command line
(files and git revisions) and golden outputs for pairs of specs (tests/data/diff/<case>/)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import GOLDEN, ROOT, commit_everything, git

from archspec.cli import main
from archspec.driver import check_text
from archspec.outputs import diff
from archspec.tools import revisions

DATA = Path("tests/data/diff")
CASES = sorted(path.name for path in (ROOT / DATA).iterdir() if path.is_dir())


def difference(old: str, new: str, model: str | None = None) -> diff.ArchDiff:
    old_result, new_result = check_text(old, "old.arch"), check_text(new, "new.arch")
    assert old_result.ok and new_result.ok, old_result.diagnostics + new_result.diagnostics
    return diff.diff_results(old_result, new_result, model=model)


def spec(*lines: str) -> str:
    """A model M whose body is `lines`."""
    return "model M {\n" + "".join(f"    {line}\n" for line in lines) + "}\n"


def layers(result: diff.ArchDiff) -> list[tuple[str, str, str | None]]:
    """(status, name, old name) of every reported layer, in report order."""
    (model,) = result.models
    return [(layer.status, layer.name, layer.old_name) for layer in model.layers]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


CNN = """
model CNN {
    input x: [N, 1, 28, 28]
    out = x -> layer1: Sequential(
        Conv2d(1, 32, kernel_size=3, padding=1),
        ReLU(),
        MaxPool2d(2),
    )
    out = out -> conv2: Conv2d(32, 64, kernel_size=3, padding=1) -> relu() -> max_pool2d(2)
    return out -> flatten(1) -> fc: Linear(?, 10)
}
"""


# ---------------------------------------------------------------- matching


def test_identical_specs_have_no_changes():
    result = difference(CNN, CNN)
    assert not result.changed
    assert result.models[0].unchanged_layers == 8
    assert "no architectural changes" in diff.render_text(result)
    assert "No architectural changes." in diff.render_markdown(result)


def test_renamed_layer_is_matched_by_position():
    result = difference(CNN, CNN.replace("fc: Linear", "head: Linear"))
    assert layers(result) == [("renamed", "head", "fc")]
    (layer,) = result.models[0].layers
    assert layer.old_shape == layer.new_shape == "[N, 10]"
    assert "renamed fc → head" in diff.render_text(result)


def test_inserted_layer_shifts_the_positions_after_it():
    new = CNN.replace("ReLU(),", "BatchNorm2d(32),\n        ReLU(),")
    result = difference(CNN, new)
    assert layers(result) == [
        ("added", "layer1.1", None),
        ("renamed", "layer1.2", "layer1.1"),
        ("renamed", "layer1.3", "layer1.2"),
    ]
    assert result.models[0].layers[0].call == "BatchNorm2d(32)"
    assert result.models[0].new_params - result.models[0].old_params == 64


def test_sequential_indices_count_after_equal_layers():
    # BatchNorm after every convolution shifts every index: additions and renames, not
    # convolutions "changed" into each other because they share an index and an op.
    convs = [("Conv2d(3, 8, 3, padding=1)", 8), ("Conv2d(8, 16, 3)", 16), ("Conv2d(16, 16, 3)", 16)]
    old_items = [item for conv, _ in convs for item in (conv, "ReLU()")]
    new_items = [item for conv, n in convs for item in (conv, f"BatchNorm2d({n})", "ReLU()")]

    def net(items: list[str]) -> str:
        return spec("input x: [N, 3, 32, 32]", f"return x -> f: Sequential({', '.join(items)})")

    result = difference(net(old_items), net(new_items))
    statuses = [status for status, _, _ in layers(result)]
    assert statuses.count("added") == 3 and "changed" not in statuses and "removed" not in statuses
    assert ("renamed", "f.5", "f.3") in layers(result)  # the second ReLU


def test_equal_alignments_keep_names():
    # [C, R, C, R, M] -> [C, R, M]: the second convolution and ReLU went, not the first ReLU.
    case = DATA / "dropout_and_removed_layer"
    old = (ROOT / case / "old.arch").read_text(encoding="utf-8")
    new = (ROOT / case / "new.arch").read_text(encoding="utf-8")
    removed = [name for status, name, _ in layers(difference(old, new)) if status == "removed"]
    assert removed == ["features.2", "features.3"]


def test_large_gaps_fall_back_to_difflib(monkeypatch):
    monkeypatch.setattr(diff, "MAX_ALIGNMENT_CELLS", 0)
    new = CNN.replace("ReLU(),", "BatchNorm2d(32),\n        ReLU(),")
    assert [status for status, _, _ in layers(difference(CNN, new))] == [
        "added",
        "renamed",
        "renamed",
    ]


def test_inserted_function_keeps_the_others_matched():
    # Function ids count per name (relu, relu#1): inserting one shifts them, the diff does not.
    old = spec("input x: [N, 8]", "return x -> a: Linear(8, 8) -> b: Linear(8, 4) -> relu()")
    new = old.replace("a: Linear(8, 8) ->", "a: Linear(8, 8) -> relu() ->")
    assert layers(difference(old, new)) == [("added", "relu", None)]


def test_changed_kernel_keeps_the_shape():
    new = CNN.replace("kernel_size=3, padding=1) -> relu()", "kernel_size=5, padding=2) -> relu()")
    result = difference(CNN, new)
    assert layers(result) == [("changed", "conv2", None)]
    (layer,) = result.models[0].layers
    assert [(a.name, a.before, a.after) for a in layer.args] == [
        ("kernel_size", "3", "5"),
        ("padding", "1", "2"),
    ]
    assert layer.old_shape == layer.new_shape == "[N, 64, 14, 14]"
    assert (layer.old_params, layer.new_params) == (18_496, 51_264)


def test_changed_channels_propagate_downstream():
    new = CNN.replace("Conv2d(32, 64,", "Conv2d(32, 128,")
    result = difference(CNN, new)
    assert layers(result) == [
        ("changed", "conv2", None),
        ("changed", "relu", None),
        ("changed", "max_pool2d", None),
        ("changed", "flatten", None),
        ("changed", "fc", None),
    ]
    by_name = {layer.name: layer for layer in result.models[0].layers}
    assert by_name["relu"].args == [] and by_name["relu"].new_shape == "[N, 128, 14, 14]"
    # `?` is shown as the number it stands for.
    fc_args = [(a.name, a.before, a.after) for a in by_name["fc"].args]
    assert fc_args == [("in_features", "3136", "6272")]
    assert result.models[0].outputs == []  # still [N, 10]


def test_same_name_with_another_op_is_removed_and_added():
    new = CNN.replace("conv2: Conv2d(32, 64, kernel_size=3, padding=1)", "conv2: Identity()")
    new = new.replace("fc: Linear(?, 10)", "fc: Linear(?, 10)")
    statuses = [(s, n) for s, n, _ in layers(difference(CNN, new))]
    assert ("removed", "conv2") in statuses and ("added", "conv2") in statuses


def test_removed_layers_stay_at_their_old_position():
    old = spec(
        "input x: [N, 8]", "return x -> a: Linear(8, 8) -> b: Linear(8, 8) -> c: Linear(8, 2)"
    )
    new = spec(
        "input x: [N, 8]", "return x -> a: Linear(8, 8) -> d: Linear(8, 16) -> c: Linear(16, 2)"
    )
    assert layers(difference(old, new)) == [
        ("removed", "b", None),
        ("added", "d", None),
        ("changed", "c", None),
    ]


def test_shared_layer_applications_are_matched_by_position():
    old = spec(
        "input x: [N, 8]",
        "act: ReLU()",
        "return x -> a: Linear(8, 8) -> act -> b: Linear(8, 8) -> act",
    )
    new = old.replace("a: Linear(8, 8) -> act", "a: Linear(8, 8) -> act -> c: Linear(8, 8) -> act")
    result = difference(old, new)
    assert layers(result) == [("added", "c", None), ("added", "act#2", None)]
    assert result.models[0].layers[1].shared_with == "act"
    assert result.models[0].layers[1].new_params is None  # counted at its first application
    assert "shared" in diff.render_text(result)


def test_models_matched_by_name_added_and_removed():
    a = "model A {\n    input x: [N, 4]\n    return x -> fc: Linear(4, 2)\n}\n"
    b = "model B {\n    input x: [N, 4]\n    return x -> fc: Linear(4, 3)\n}\n"
    c = "model C {\n    input x: [N, 5]\n    return x -> fc: Linear(5, 2)\n}\n"
    result = difference(a + b, a + c)
    assert [(m.name, m.status) for m in result.models] == [
        ("A", "unchanged"),
        ("B", "removed"),
        ("C", "added"),
    ]
    assert result.models[2].new_params == 12 and result.models[2].old_params is None
    text = diff.render_text(result)
    assert "model A: no changes" in text
    assert "model B: removed" in text and "model C: added" in text
    assert difference(a + b, a + c, model="A").changed is False
    with pytest.raises(LookupError):
        difference(a, a, model="Z")


def test_a_one_model_file_may_rename_its_model():
    a = "model A {\n    input x: [N, 4]\n    return x -> fc: Linear(4, 2)\n}\n"
    result = difference(a, a.replace("model A", "model Net"))
    assert [(m.name, m.old_name, m.status) for m in result.models] == [("Net", "A", "renamed")]
    assert result.changed
    assert "model A → Net (renamed): 1 unchanged" in diff.render_text(result)


def test_inputs_and_outputs_shape_changes():
    old = spec("input x: [N, 3, 32, 32]", "return x -> flatten(1) -> fc: Linear(?, 10)")
    new = spec("input x: [N, 3, 64, 64]", "return x -> flatten(1) -> fc: Linear(?, 100)")
    model = difference(old, new).models[0]
    assert [(c.name, c.before, c.after) for c in model.inputs] == [
        ("x", "[N, 3, 32, 32]", "[N, 3, 64, 64]")
    ]
    assert [(c.name, c.before, c.after) for c in model.outputs] == [
        ("output", "[N, 10]", "[N, 100]")
    ]


def test_totals_have_signed_deltas_and_percentages():
    result = difference(CNN, CNN.replace("Conv2d(32, 64,", "Conv2d(32, 128,"))
    text = diff.render_text(result)
    assert "  params     50,186 →   100,042  +49,856 (+99.3%)\n" in text
    markdown = diff.render_markdown(result)
    assert "| params | 50,186 | 100,042 | +49,856 (+99.3%) |" in markdown
    smaller = diff.render_text(difference(CNN.replace("Conv2d(32, 64,", "Conv2d(32, 128,"), CNN))
    assert "-49,856 (-49.8%)" in smaller
    assert diff._delta(138_357_544, 138_365_992) == "+8,448 (+0.0061%)"  # BatchNorm in VGG-16


def test_symbolic_counts_are_shown_not_summed():
    old = "model S {\n    input x: [N, T, 16]\n    return x -> fc: Linear(16, 8)\n}\n"
    result = difference(old, old.replace("Linear(16, 8)", "Linear(16, 32)"))
    assert "136·T → 544·T" in diff.render_text(result)
    assert "Δ 408·T" in diff.render_text(result)
    assert json.loads(diff.render_json(result))["models"][0]["new_macs"] == "544·T"


def test_json_is_plain_data():
    result = difference(CNN, CNN.replace("fc: Linear", "head: Linear"))
    data = json.loads(diff.render_json(result))
    assert data["changed"] is True
    (layer,) = data["models"][0]["layers"]
    assert layer["status"] == "renamed" and layer["old_name"] == "fc"
    assert layer["old_params"] == 31_370


def test_the_diff_is_deterministic():
    new = CNN.replace("Conv2d(32, 64,", "Conv2d(32, 128,").replace("ReLU(),", "GELU(),")
    first = diff.render_text(difference(CNN, new))
    assert all(diff.render_text(difference(CNN, new)) == first for _ in range(3))


# ---------------------------------------------------------------- golden pairs of specs


@pytest.mark.parametrize("case", CASES)
def test_diff_golden(case, golden, capsys):
    old, new = str(DATA / case / "old.arch"), str(DATA / case / "new.arch")
    code, text, err = run(capsys, "diff", old, new)
    assert err == ""
    assert code == (0 if case == "identical" else 1)
    golden(GOLDEN / "diff" / f"{case}.txt", text)
    code, markdown, _ = run(capsys, "diff", "--format", "markdown", old, new)
    golden(GOLDEN / "diff" / f"{case}.md", markdown)


def test_at_least_five_golden_pairs():
    assert len(CASES) >= 5
    for case in CASES:
        assert (GOLDEN / "diff" / f"{case}.txt").exists()


def test_goldens_have_no_trailing_spaces():
    for path in sorted((GOLDEN / "diff").iterdir()):
        lines = path.read_text(encoding="utf-8").splitlines()
        assert all(line == line.rstrip() for line in lines), path


# ---------------------------------------------------------------- the command line


def test_cli_exit_codes(capsys):
    widened = [str(DATA / "widened_cnn" / name) for name in ("old.arch", "new.arch")]
    assert run(capsys, "diff", *widened)[0] == 1
    assert run(capsys, "diff", widened[0], widened[0])[0] == 0
    code, out, _ = run(capsys, "diff", "--format", "json", *widened)
    assert code == 1 and json.loads(out)["changed"] is True


def test_cli_spec_with_errors_prints_diagnostics_and_exits_2(capsys, tmp_path):
    bad = tmp_path / "bad.arch"
    bad.write_text(CNN.replace("Linear(?, 10)", "Linear(100, 10)"), encoding="utf-8")
    good = tmp_path / "good.arch"
    good.write_text(CNN, encoding="utf-8")
    code, out, err = run(capsys, "diff", str(good), str(bad))
    assert code == 2 and out == ""
    assert "error[E202]" in err
    assert f"archspec: cannot diff: {bad} has errors (see above)" in err
    assert "Traceback" not in err


def test_cli_budget_findings_do_not_stop_a_diff(capsys, tmp_path):
    # A diff is how a reviewer sees what blew the budget.
    spec = "# archspec: budget params=10\n" + CNN
    (tmp_path / "new.arch").write_text(spec, encoding="utf-8")
    (tmp_path / "old.arch").write_text(CNN, encoding="utf-8")
    assert run(capsys, "diff", str(tmp_path / "old.arch"), str(tmp_path / "new.arch"))[0] == 0


def test_cli_usage_errors(capsys):
    old = str(DATA / "renamed_layer" / "old.arch")
    code, _, err = run(capsys, "diff", old)
    assert code == 2 and "give OLD and NEW" in err
    code, _, err = run(capsys, "diff", "--rev", "HEAD", old, old)
    assert code == 2 and "with --rev give one PATH" in err
    code, _, err = run(capsys, "diff", old, "missing.arch")
    assert code == 2 and err == "archspec: missing.arch: no such file\n"
    code, _, err = run(capsys, "diff", old, "tests/data")
    assert code == 2 and "is a folder" in err
    code, _, err = run(capsys, "diff", "--model", "Nope", old, old)
    assert code == 2 and err == "archspec: neither side defines a model 'Nope'\n"


def test_cli_writes_the_output_file(capsys, tmp_path):
    case = DATA / "renamed_layer"
    target = tmp_path / "comment.md"
    argv = ["diff", "--format", "markdown", "-o", str(target)]
    code, out, _ = run(capsys, *argv, str(case / "old.arch"), str(case / "new.arch"))
    assert code == 1 and out == ""
    assert target.read_text(encoding="utf-8").startswith("## Architecture diff")
    argv[-1] = str(tmp_path / "no" / "comment.md")  # a folder that does not exist
    code, _, _ = run(capsys, *argv, str(case / "old.arch"), str(case / "new.arch"))
    assert code == 2 and not (tmp_path / "no").exists()


# ---------------------------------------------------------------- git revisions

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


@pytest.fixture
def repository(tmp_path, monkeypatch):
    """A git repository with specs/model.arch importing specs/blocks.arch, one commit made."""
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "blocks.arch").write_text(
        "block Head(n) {\n    input x\n    return x -> fc: Linear(?, n)\n}\n", encoding="utf-8"
    )
    (specs / "model.arch").write_text(
        'from "blocks.arch" import Head\n\n'
        + CNN.replace("-> fc: Linear(?, 10)", "-> head: Head(10)"),
        encoding="utf-8",
    )
    commit_everything(tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@needs_git
def test_git_revision_against_the_working_tree(capsys, repository):
    model = repository / "specs" / "model.arch"
    assert run(capsys, "diff", "--rev", "HEAD", "specs/model.arch")[0] == 0
    model.write_text(model.read_text().replace("Conv2d(32, 64,", "Conv2d(32, 96,"))
    code, out, err = run(capsys, "diff", "HEAD:specs/model.arch", "specs/model.arch")
    assert (code, err) == (1, "")
    assert out.startswith("archspec diff HEAD:specs/model.arch → specs/model.arch\n")
    assert "~ head.fc" in out and "in_features: 3136 → 4704" in out  # the import resolved
    assert run(capsys, "diff", "--rev", "HEAD", "specs/model.arch")[1] == out


@needs_git
def test_git_paths_are_relative_to_the_current_folder(capsys, repository, monkeypatch):
    monkeypatch.chdir(repository / "specs")
    assert run(capsys, "diff", "HEAD:model.arch", "model.arch")[0] == 0


@needs_git
def test_git_errors_are_one_line(capsys, repository):
    code, out, err = run(capsys, "diff", "HEAD~3:specs/model.arch", "specs/model.arch")
    assert code == 2 and out == ""
    assert err.startswith("archspec: cannot read HEAD~3:specs/model.arch from git: ")
    assert err.count("\n") == 1
    code, _, err = run(capsys, "diff", "--rev", "HEAD", "specs/gone.arch")
    assert code == 2 and "does not exist in 'HEAD'" in err


@needs_git
def test_git_revision_with_errors_is_named_by_revision(capsys, repository):
    model = repository / "specs" / "model.arch"
    good = model.read_text()
    model.write_text(good.replace("Conv2d(32, 64,", "Conv2d(31, 64,"))
    git(repository, "commit", "-q", "-am", "broken")
    model.write_text(good)
    code, _, err = run(capsys, "diff", "HEAD:specs/model.arch", "specs/model.arch")
    assert code == 2
    assert "--> HEAD:specs/model.arch:" in err and "error[E201]" in err
    assert err.endswith("archspec: cannot diff: HEAD:specs/model.arch has errors (see above)\n")


def test_missing_git_is_a_clear_error(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no git on it
    mnist = "specs/seeds/mnist_cnn.arch"
    code, _, err = run(capsys, "diff", f"HEAD:{mnist}", mnist)
    assert code == 2
    assert err == f"archspec: cannot read HEAD:{mnist}: git is not installed\n"


def test_parse_ref():
    assert revisions.parse_ref("specs/seeds/mnist_cnn.arch") == revisions.SpecRef(
        "specs/seeds/mnist_cnn.arch"
    )
    assert revisions.parse_ref("HEAD~1:a/b.arch") == revisions.SpecRef("a/b.arch", "HEAD~1")
    assert revisions.parse_ref("v1.0:x.arch").label == "v1.0:x.arch"
    with pytest.raises(revisions.SpecReadError):
        revisions.parse_ref(":x.arch")
