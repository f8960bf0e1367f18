"""The language server under a real LSP client: Neovim's built-in one, headless
(tests/data/neovim/init.lua). It opens a spec, waits for the diagnostics, asks for a hover, a
definition and completions, formats the buffer, and writes what it got as JSON.

Needs `nvim` (Debian's neovim package, 0.7.2; `make test` installs it) and the lsp extra."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

pytest.importorskip("pygls", reason="the lsp extra (pygls) is not installed")

from archspec.tools.fmt import format_text  # noqa: E402

NVIM = shutil.which("nvim")
INIT = ROOT / "tests" / "data" / "neovim" / "init.lua"
# Unformatted (the `h =` line) and wrong: Linear receives 8×26×26 = 5408 features, not 100.
SPEC = """model Net {
    input x: [N, 1, 28, 28]
  h = x -> conv: Conv2d(1, 8, 3)->flatten(1)
    return h -> Linear(100, 10)
}
"""


def position(text: str, needle: str, shift: int = 0) -> dict:
    offset = text.index(needle) + shift
    line = text.count("\n", 0, offset)
    return {"line": line, "character": offset - (text.rfind("\n", 0, offset) + 1)}


@pytest.mark.skipif(NVIM is None, reason="nvim is not installed (apt-get install neovim)")
def test_neovim_client_gets_diagnostics_hover_definition_completion_and_formatting(
    tmp_path: Path,
):
    spec = tmp_path / "net.arch"
    spec.write_text(SPEC, encoding="utf-8")
    out = tmp_path / "results.json"
    env = {
        **os.environ,
        "ARCHSPEC_NVIM_SPEC": str(spec),
        "ARCHSPEC_NVIM_OUT": str(out),
        "ARCHSPEC_NVIM_SERVER": json.dumps([sys.executable, "-m", "archspec.tools.lsp"]),
        "ARCHSPEC_NVIM_POSITIONS": json.dumps(
            {
                "hover": position(SPEC, "Conv2d"),
                "definition": position(SPEC, "return h", 7),
                "completion": position(SPEC, "Linear(", 7),
            }
        ),
        # Neovim's own state (shada, logs) stays in the test's folder.
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    completed = subprocess.run(
        [NVIM, "--headless", "-n", "-i", "NONE", "-u", str(INIT)],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
    )
    assert out.exists(), completed.stderr.decode("utf-8", "replace")[-2000:]
    results = json.loads(out.read_text(encoding="utf-8"))
    assert "error" not in results, results["error"]

    (error,) = results["diagnostics"]
    assert error["code"] == "E202" and error["severity"] == 1  # vim.diagnostic.severity.ERROR
    assert (error["line"], error["col"]) == (3, 23)  # the `100`
    assert error["message"].startswith("Linear expects in_features=100, but receives 5408")

    hover = results["hover"]["contents"]["value"]
    assert hover.startswith("**Conv2d**")
    assert "input: [N, 1, 28, 28]" in hover and "output: [N, 8, 26, 26]" in hover

    definition = results["definition"]
    assert definition["uri"] == spec.as_uri()
    assert definition["range"]["start"] == {"line": 2, "character": 2}  # `h =`

    labels = results["completion"]
    assert "in_features=" in labels and "bias=" in labels and "Conv2d" in labels

    assert results["formatted"] == format_text(SPEC)
    assert (
        results["formatted"].splitlines()[2] == "    h = x -> conv: Conv2d(1, 8, 3) -> flatten(1)"
    )
