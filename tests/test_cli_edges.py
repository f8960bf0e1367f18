"""The command's edges that test_cli.py leaves: `python -m archspec` run in-process."""

from __future__ import annotations

import os
import runpy
import sys

import pytest


def test_python_dash_m_runs_main_and_exits_with_its_code(monkeypatch, capsys):
    def hard_exit(code):  # archspec.cli.run ends with os._exit, which would end pytest too
        raise SystemExit(code)

    monkeypatch.setattr(os, "_exit", hard_exit)
    # The command as a process freezes its imports' objects out of garbage collection; here it
    # would freeze the test run's, so only record that it asks to.
    frozen = []
    monkeypatch.setattr("archspec.core.memory.freeze_startup", lambda: frozen.append(True))
    monkeypatch.setattr(sys, "argv", ["archspec", "check", "examples/seed000_convnet.arch"])
    monkeypatch.delitem(sys.modules, "archspec.__main__", raising=False)
    with pytest.raises(SystemExit) as stop:
        runpy.run_module("archspec", run_name="__main__")
    assert stop.value.code == 1  # seed 000's E202
    assert "error[E202]" in capsys.readouterr().out
    assert frozen == [True]
