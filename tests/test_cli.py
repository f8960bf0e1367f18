"""`archspec check` as a user runs it: exit codes, files found, output formats, internal errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

import archspec
from archspec import driver
from archspec.cli import main
from archspec.core.diagnostic import CODES
from archspec.tools.files import collect_files

SEED_000 = "examples/seed000_convnet.arch"
GOOD = "model M {\n    input x: [N, 4]\n    return x -> Linear(4, 2)\n}\n"
BAD = "model M {\n    input x: [N, 4]\n    return x -> Linear(3, 2)\n}\n"
WARN = "model M {\n    input x: [N, 4]\n    input y: [N, 4]\n    return x -> Linear(4, 2)\n}\n"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- exit codes


def test_shipped_specs_have_no_errors(capsys):
    code, out, err = run(capsys, "check", "specs/")
    assert code == 0
    spec_count = len(list((ROOT / "specs").rglob("*.arch")))
    summary = out.strip().splitlines()[-1]
    assert re.fullmatch(
        rf"checked {spec_count} files: (no problems|0 errors, \d+ warnings?)", summary
    )
    assert "error[" not in out
    assert err == ""


def test_seed000_has_one_error_and_exit_1(capsys):
    code, out, _ = run(capsys, "check", SEED_000)
    assert code == 1
    assert "error[E202]" in out and "warning[W001]" in out
    last = out.strip().splitlines()[-1]
    assert last == "checked 1 file: 1 error, 1 warning ([~] 1 fixable with --fix --unsafe-fixes)"


def test_warnings_alone_exit_0(tmp_path, capsys):
    path = write(tmp_path, "warn.arch", WARN)
    code, out, _ = run(capsys, "check", str(path))
    assert code == 0
    assert "warning[W005]" in out


def test_missing_path_exits_2_and_the_other_files_are_still_checked(tmp_path, capsys):
    bad = write(tmp_path, "bad.arch", BAD)
    missing = tmp_path / "missing.arch"
    code, out, err = run(capsys, "check", str(missing), str(bad))
    assert code == 2
    assert f"{missing}: no such file or directory" in err
    assert "error[E202]" in out  # bad.arch was checked all the same
    assert "checked 1 file: 1 error, 0 warnings" in out


def test_folder_without_arch_files_exits_2(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, _, err = run(capsys, "check", str(tmp_path / "empty"))
    assert code == 2
    assert "no .arch files found" in err


def test_no_arguments_exit_2(capsys):
    code, out, _ = run(capsys)
    assert code == 2
    assert "usage: archspec" in out


def test_check_without_a_path_checks_the_current_folder(tmp_path, monkeypatch, capsys):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "bad.arch").write_text(
        "model M {\n    input x: [N, 4]\n    return x -> Linear(3, 2)\n}\n"
    )
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "check", "--output-format", "concise")
    assert code == 1
    assert out.startswith("sub/bad.arch:3:")  # as ruff shows it: no ./ in front


# ---------------------------------------------------------------- file discovery


def test_folders_are_searched_recursively_and_sorted(tmp_path, capsys):
    write(tmp_path, "b.arch", GOOD)
    write(tmp_path, "a/z.arch", GOOD)
    write(tmp_path, "a/deeper/y.arch", GOOD)
    write(tmp_path, "notes.txt", "not a spec")
    write(tmp_path, ".hidden/x.arch", BAD)  # hidden folders are skipped
    files, problems = collect_files([str(tmp_path)])
    assert problems == []
    assert files == sorted(files)
    relative = [Path(f).relative_to(tmp_path).as_posix() for f in files]
    assert relative == ["a/deeper/y.arch", "a/z.arch", "b.arch"]
    code, out, _ = run(capsys, "check", str(tmp_path))
    assert code == 0
    assert "checked 3 files: no problems" in out


def test_a_file_named_twice_is_checked_once(tmp_path, capsys):
    path = write(tmp_path, "bad.arch", BAD)
    code, out, _ = run(capsys, "check", str(path), str(tmp_path), str(path))
    assert code == 1
    assert out.count("error[E202]") == 1
    assert "checked 1 file:" in out


def test_diagnostics_of_several_files_come_sorted_by_file(tmp_path, capsys):
    write(tmp_path, "b.arch", BAD)
    write(tmp_path, "a.arch", BAD.replace("Linear(3, 2)", "Linear(5, 2)"))
    code, out, _ = run(capsys, "check", str(tmp_path))
    assert code == 1
    assert out.index("a.arch:3") < out.index("b.arch:3")


# ---------------------------------------------------------------- output formats


def test_text_format_points_at_line_and_column(tmp_path, capsys):
    path = write(tmp_path, "bad.arch", BAD)
    _, out, _ = run(capsys, "check", str(path))
    assert f"--> {path}:3:24" in out
    assert "3 |     return x -> Linear(3, 2)" in out
    assert "^ in_features" in out


def test_json_format(tmp_path, capsys):
    write(tmp_path, "bad.arch", BAD)
    write(tmp_path, "warn.arch", WARN)
    code, out, _ = run(capsys, "check", "--format", "json", str(tmp_path))
    assert code == 1
    payload = json.loads(out)
    assert payload["files"] == 2 and payload["errors"] == 1 and payload["warnings"] == 1
    by_code = {d["code"]: d for d in payload["diagnostics"]}
    assert set(by_code) == {"E202", "W005"}
    error = by_code["E202"]
    assert error["severity"] == "error" and error["rule"] == "feature-mismatch"
    location = error["location"]
    assert location["file"].endswith("bad.arch")
    assert (location["line"], location["column"]) == (3, 24)
    assert location["end_column"] > location["column"]
    assert any(label["primary"] for label in error["labels"])
    assert by_code["W005"]["severity"] == "warning"


def test_json_format_of_the_shipped_specs(capsys):
    code, out, _ = run(capsys, "check", "--format", "json", "specs")
    assert code == 0
    payload = json.loads(out)
    assert payload["errors"] == 0
    assert payload["warnings"] == len(payload["diagnostics"])
    assert all(d["severity"] == "warning" for d in payload["diagnostics"])


def test_json_and_text_agree(capsys):
    _, text, _ = run(capsys, "check", SEED_000)
    _, raw, _ = run(capsys, "check", "--format", "json", SEED_000)
    for diagnostic in json.loads(raw)["diagnostics"]:
        location = diagnostic["location"]
        fix = diagnostic["fix"]
        mark = "" if fix is None else " [*]" if fix["applicability"] == "safe" else " [~]"
        header = f"{diagnostic['severity']}[{diagnostic['code']}]{mark}: {diagnostic['message']}"
        assert header in text
        assert f"--> {location['file']}:{location['line']}:{location['column']}" in text


# ---------------------------------------------------------------- the module entry point


def test_python_dash_m_version():
    completed = subprocess.run(
        [sys.executable, "-m", "archspec", "--version"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert completed.returncode == 0
    assert completed.stdout.strip() == f"archspec {archspec.__version__}"


def test_python_dash_m_check_exit_code():
    completed = subprocess.run(
        [sys.executable, "-m", "archspec", "check", SEED_000],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert completed.returncode == 1
    assert "error[E202]" in completed.stdout
    assert "Traceback" not in completed.stderr


def test_output_does_not_depend_on_hash_randomisation():
    outputs = []
    for seed in ("1", "2"):
        completed = subprocess.run(
            [sys.executable, "-m", "archspec", "check", "tests/golden/diagnostics", SEED_000],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        assert completed.returncode == 1
        outputs.append(completed.stdout)
    assert outputs[0] == outputs[1]
    assert outputs[0].count("error[") >= 20


# ---------------------------------------------------------------- internal errors


def _explode(path, *args, **kwargs):
    raise RuntimeError("boom\nsecond line")


def test_internal_error_is_one_line_and_exit_2(monkeypatch, capsys):
    monkeypatch.setattr(driver, "check_file", _explode)
    code, out, err = run(capsys, "check", SEED_000)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert lines[0].startswith("archspec: internal error: RuntimeError: boom")
    assert "--debug" in err
    assert "Traceback" not in err


def test_debug_reraises_internal_errors(monkeypatch, capsys):
    monkeypatch.setattr(driver, "check_file", _explode)
    with pytest.raises(RuntimeError, match="boom"):
        main(["check", "--debug", SEED_000])


def test_unreadable_file_exits_2(tmp_path, monkeypatch, capsys):
    path = write(tmp_path, "spec.arch", GOOD)

    def refuse(name, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(name))

    monkeypatch.setattr(driver.Loader, "load_path", lambda self, p: refuse(p))
    code, _, err = run(capsys, "check", str(path))
    assert code == 2
    assert f"cannot read {path}: Permission denied" in err


def test_the_command_exits_quietly_when_its_reader_leaves():
    """archspec.cli.run ends with a hard exit after flushing: a closed pipe (`| head`) is no
    error and no traceback."""
    process = subprocess.Popen(
        [sys.executable, "-m", "archspec", "rule", "--markdown"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    process.stdout.close()  # before the command has written anything
    error = process.stderr.read()
    assert process.wait(timeout=60) == 0
    assert error == b""


def test_the_command_writes_all_its_output_before_exiting():
    out = subprocess.run(
        [sys.executable, "-m", "archspec", "rule", "--all"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0
    assert len(out.stdout.splitlines()) == len(CODES)
