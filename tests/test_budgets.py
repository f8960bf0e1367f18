"""Budgets as gates: limits from the configuration and from `# archspec: budget` comments (E301),
unreadable comments (E302), SI values, and the configuration's errors."""

from __future__ import annotations

import pytest
from conftest import GOLDEN

from archspec.cli import main
from archspec.diagnostics.budgets import BudgetError, Limit, parse_budget_value
from archspec.diagnostics.config import ConfigError, parse_config

MLP = """\
{pragma}model MLP {{
    input x: [N, 64]
    h = x -> fc1: Linear(64, 256) -> ReLU()
    h = h -> fc2: Linear(256, 256) -> ReLU()
    return h -> head: Linear(256, 10)
}}
"""  # parameters: 16,640 + 65,792 + 2,570 = 85,002


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def spec(tmp_path, pragma: str = "", config: str | None = None):
    path = tmp_path / "mlp.arch"
    path.write_text(MLP.format(pragma=pragma), encoding="utf-8")
    if config is not None:
        (tmp_path / "archspec.toml").write_text(config, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("key", "text", "value"),
    [
        ("params", "30M", 30_000_000),
        ("params", 1234, 1234),
        ("macs", "4.5G", 4_500_000_000),
        ("macs", "2k", 2000),
        ("activations", "200MB", 200_000_000),
        ("activations", "200MiB", 200 * 2**20),
        ("activations", "1.5KiB", 1536),
        ("activations", "512", 512),
        ("batch", "8", 8),
    ],
)
def test_si_values(key, text, value):
    parsed = parse_budget_value(key, text)
    assert (parsed.value if isinstance(parsed, Limit) else parsed) == value


@pytest.mark.parametrize(
    ("key", "text"),
    [("params", "1.5"), ("params", "30MB"), ("params", "lots"), ("batch", "0"), ("macs", "0")],
)
def test_bad_values(key, text):
    with pytest.raises(BudgetError):
        parse_budget_value(key, text)


def test_under_budget_reports_nothing(tmp_path, capsys):
    path = spec(tmp_path, "# archspec: budget params=100K macs=1M activations=8KB\n")
    assert run(capsys, "check", path) == (0, "checked 1 file: no problems\n", "")


def test_pragma_over_budget_message_golden(tmp_path, capsys, golden, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec(tmp_path, "# archspec: budget params=80K macs=50K\n")
    code, out, _ = run(capsys, "check", "mlp.arch")
    assert code == 1
    assert "model MLP has 85,002 parameters, over its budget of 80K by 5,002 (+6.3%)" in out
    golden(GOLDEN / "budgets" / "pragma.txt", out)


def test_pragma_inside_the_model(tmp_path, capsys):
    path = tmp_path / "inside.arch"
    text = MLP.format(pragma="").replace("{\n", "{  # archspec: budget params=10K\n", 1)
    path.write_text(text, encoding="utf-8")
    code, out, _ = run(capsys, "check", "--output-format", "concise", str(path))
    assert code == 1 and "E301 model MLP has 85,002 parameters, over its budget of 10K" in out


def test_config_budget_and_contributors(tmp_path, capsys, golden, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec(tmp_path, config='[budgets.MLP]\nactivations = "2KiB"\nbatch = 2\n')
    code, out, _ = run(capsys, "check", "mlp.arch")
    assert code == 1
    assert "bytes of activations at batch 2, over its budget of 2KiB" in out
    assert "the budget comes from archspec.toml [budgets.MLP]" in out
    golden(GOLDEN / "budgets" / "config.txt", out)


def test_tighter_limit_wins(tmp_path, capsys):
    path = spec(
        tmp_path, "# archspec: budget params=80K\n", config="[budgets.MLP]\nparams = 50000\n"
    )
    code, out, _ = run(capsys, "check", "--output-format", "concise", path)
    assert code == 1
    assert out.count("E301") == 1 and "over its budget of 50000 by 35,002" in out


def test_pyproject_budgets_table(tmp_path):
    text = '[tool.archspec.budgets.ResNet50]\nparams = "30M"\nmacs = "4.5G"\n'
    config = parse_config(str(tmp_path / "pyproject.toml"), text)
    budget = config.budget_for("ResNet50")
    assert budget.params.value == 30_000_000 and budget.macs.value == 4_500_000_000
    assert config.budget_for("Other") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[tool.archspec.budgets.Net]\nparam = "3M"\n', "unknown key 'param'"),
        ('[tool.archspec.budgets.Net]\nparams = "3Q"\n', "unknown unit 'Q'"),
        ("[tool.archspec.budgets.Net]\nparams = 1.5\n", "must be a number or a string"),
        ("[tool.archspec.budgets.Net]\nbatch = 0\n", "'batch' must be a whole number"),
        ('[tool.archspec]\nbudgets = "big"\n', "'budgets' must be a table"),
    ],
)
def test_config_errors(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(str(tmp_path / "pyproject.toml"), text)


def test_config_error_suggests_and_exits_2(tmp_path, capsys):
    path = spec(tmp_path, config='[budgets.MLP]\nparms = "3M"\n')
    code, _, err = run(capsys, "check", path)
    assert code == 2 and "unknown key 'parms'" in err and "did you mean 'params'?" in err


@pytest.mark.parametrize(
    ("pragma", "message"),
    [
        ("# archspec: budget parms=1M\n", "did you mean 'params'?"),
        ("# archspec: budget params=lots\n", "'params' must be a number"),
        ("# archspec: budget\n", "names no limit"),
        ("# archspec: budget params=1M\n\n", "belongs to no model"),
    ],
)
def test_bad_pragma_is_e302(tmp_path, capsys, pragma, message):
    path = spec(tmp_path, pragma)
    code, out, _ = run(capsys, "check", "--output-format", "concise", path)
    assert code == 1 and "E302" in out and message in out


def test_budget_can_be_suppressed(tmp_path, capsys):
    path = tmp_path / "net.arch"
    text = MLP.format(pragma="# archspec: budget params=1K\n")
    path.write_text(text.replace("model MLP {", "model MLP {  # archspec: ignore[E301]"))
    assert run(capsys, "check", str(path))[0] == 0
