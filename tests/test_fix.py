"""`archspec check --fix` and `--fix --diff`: safe fixes for W007 and W008, unsafe ones (applied
only with --unsafe-fixes) for E201/E202."""

from __future__ import annotations

import pytest

from archspec.cli import main

SPEC = """\
# a header comment that must survive
model Net {
    input x: [N, 1, 28, 28]   # archspec: ignore[E202]
    h = x -> Conv2d(1, 8, 3,   stride=1) -> ReLU()  # keep me
    return h -> flatten(1) -> Linear(8 * 6 * 6, 10)  # archspec: ignore[W002, W003] why
}
"""


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def write(tmp_path, text: str = SPEC):
    path = tmp_path / "net.arch"
    path.write_bytes(text.encode("utf-8"))
    return path


def test_markers_in_full_and_concise(tmp_path, capsys):
    path = write(tmp_path)
    _, full, _ = run(capsys, "check", str(path))
    assert "error[E202] [~]: Linear expects in_features=288" in full
    assert "= unsafe fix: set in_features=5408 (--fix --unsafe-fixes)" in full
    assert "= fix: remove the unused suppression comment (--fix)" in full
    _, concise, _ = run(capsys, "check", "--output-format", "concise", str(path))
    assert ": E202 [~] Linear" in concise and ": W007 [*] " in concise
    assert "([*] 2 fixable with --fix, [~] 1 more with --fix --unsafe-fixes)" in concise


def test_fix_then_check_is_clean_and_keeps_the_rest(tmp_path, capsys):
    path = write(tmp_path)
    code, out, err = run(
        capsys, "check", "--fix", "--unsafe-fixes", "--extend-select", "W008", str(path)
    )
    assert code == 0 and out == "checked 1 file: no problems\n"
    assert "fixed 4 findings in 1 file" in err
    assert path.read_text() == (
        "# a header comment that must survive\n"
        "model Net {\n"
        "    input x: [N, 1, 28, 28]\n"
        "    h = x -> Conv2d(1, 8, 3) -> ReLU()  # keep me\n"
        "    return h -> flatten(1) -> Linear(5408, 10)\n"
        "}\n"
    )
    assert run(capsys, "check", "--extend-select", "W008", str(path))[0] == 0


def test_w008_is_off_by_default(tmp_path, capsys):
    path = write(
        tmp_path, "model Net {\n    input x: [N, 4]\n    return x -> ReLU(inplace=False)\n}\n"
    )
    assert run(capsys, "check", str(path))[0] == 0
    assert run(capsys, "check", "--select", "W", str(path))[0] == 0  # a prefix does not opt in
    _, out, _ = run(capsys, "check", "--select", "W008", "--output-format", "concise", str(path))
    assert "W008 [*] ReLU's inplace=False is torch's default" in out


@pytest.mark.parametrize(
    ("call", "fixed"),
    [
        ("Conv2d(1, 8, 3, stride=1)", "Conv2d(1, 8, 3)"),
        ("Conv2d(1, 8, 3, padding=0, stride=2)", "Conv2d(1, 8, 3, stride=2)"),
        ("Conv2d(1, 8, 3,\n        stride=1,\n    )", "Conv2d(1, 8, 3,\n    )"),
        ("Conv2d(1, 8, 3,\n        stride=1\n    )", "Conv2d(1, 8, 3\n    )"),
    ],
)
def test_redundant_argument_removal(tmp_path, capsys, call, fixed):
    template = "model Net {{\n    input x: [N, 1, 28, 28]\n    return x -> {}  # c\n}}\n"
    path = write(tmp_path, template.format(call))
    assert run(capsys, "check", "--fix", "--select", "W008", str(path))[0] == 0
    assert path.read_text() == template.format(fixed)


def test_unused_suppression_on_its_own_line_goes_with_its_line(tmp_path, capsys):
    text = "model Net {\n    input x: [N, 4]\n    # archspec: ignore[W001]\n    return x\n}\n"
    path = write(tmp_path, text)
    run(capsys, "check", "--fix", str(path))
    assert path.read_text() == "model Net {\n    input x: [N, 4]\n    return x\n}\n"


def test_unused_codes_are_removed_from_the_list(tmp_path, capsys):
    line = "    return x -> Linear(3, 2)  # archspec: ignore[E202, W002] why\n"
    text = "model Net {\n    input x: [N, 4]\n" + line + "}\n"
    path = write(tmp_path, text)
    assert run(capsys, "check", "--fix", str(path))[0] == 0
    assert path.read_text() == text.replace("[E202, W002]", "[E202]")


def test_diff_writes_nothing(tmp_path, capsys):
    path = write(tmp_path)
    before = path.read_bytes()
    code, out, err = run(capsys, "check", "--fix", "--unsafe-fixes", "--diff", str(path))
    assert code == 1 and path.read_bytes() == before
    assert out.startswith(f"--- {path} (original)\n+++ {path} (fixed)\n")
    assert "-    return h -> flatten(1) -> Linear(8 * 6 * 6, 10)" in out
    assert "would fix" in err


def test_diff_needs_fix(tmp_path, capsys):
    assert run(capsys, "check", "--diff", str(write(tmp_path)))[0] == 2


def test_syntax_error_file_is_untouched(tmp_path, capsys):
    text = "model Net {\n    input x: [N, 4]   # archspec: ignore[E202]\n    return x ->\n}\n"
    path = write(tmp_path, text)
    code, _, _ = run(capsys, "check", "--fix", str(path))
    assert code == 1 and path.read_text() == text


def test_crlf_and_bom_kept(tmp_path, capsys):
    text = "\ufeffmodel Net {\r\n    input x: [N, 4]\r\n    return x -> Linear(3, 2)\r\n}\r\n"
    path = write(tmp_path, text)
    assert run(capsys, "check", "--fix", str(path))[0] == 1
    assert path.read_bytes() == text.encode("utf-8")  # the only fix is unsafe
    assert run(capsys, "check", "--fix", "--unsafe-fixes", str(path))[0] == 0
    assert path.read_bytes() == text.replace("Linear(3,", "Linear(4,").encode("utf-8")


def test_disagreeing_instances_are_not_fixable(tmp_path, capsys):
    text = (
        "block B(c) {\n    input x: [N, c]\n    return x -> Linear(3, 2)\n}\n"
        "model Net {\n    input x: [N, 4]\n    input y: [N, 5]\n"
        "    return x -> B(4), y -> B(5)\n}\n"
    )
    path = write(tmp_path, text)
    code, out, _ = run(capsys, "check", "--output-format", "concise", str(path))
    assert code == 1 and "E202 " in out and "[*]" not in out
    run(capsys, "check", "--fix", str(path))
    assert path.read_text() == text


def test_named_argument_is_not_replaced(tmp_path, capsys):
    text = "model Net(k = 3) {\n    input x: [N, 4]\n    return x -> Linear(k, 2)\n}\n"
    path = write(tmp_path, text)
    _, out, _ = run(capsys, "check", "--output-format", "concise", str(path))
    assert "E202 " in out and "[*]" not in out


def test_json_carries_the_fix(tmp_path, capsys):
    import json

    _, raw, _ = run(capsys, "check", "--output-format", "json", str(write(tmp_path)))
    fixes = [d["fix"] for d in json.loads(raw)["diagnostics"] if d["code"] == "E202"]
    assert fixes[0]["edits"][0]["replacement"] == "5408"
    assert fixes[0]["applicability"] == "unsafe"
