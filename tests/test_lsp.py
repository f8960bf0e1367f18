"""The language server: driven over stdio as an editor would, plus its position and hover logic."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT

pytest.importorskip("pygls", reason="the lsp extra (pygls) is not installed")

from lsprotocol import types as lsp  # noqa: E402
from pygls.uris import from_fs_path  # noqa: E402

from archspec.driver import check_text  # noqa: E402
from archspec.tools.lsp import diagnostics_for, hover_text, offset_at  # noqa: E402

BROKEN = ROOT / "examples" / "seed000_convnet.arch"
GOOD = ROOT / "specs" / "seeds" / "mnist_cnn.arch"
TIMEOUT = 20.0


class Client:
    """A minimal LSP client: Content-Length framing over the server's stdin and stdout."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "archspec.tools.lsp"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=ROOT,
        )
        self.messages: queue.Queue = queue.Queue()
        self.next_id = 0
        self.stderr: list[bytes] = []  # drained, so a chatty server cannot block on a full pipe
        self.log: list[dict] = []  # every message waited through, matched or not
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(
            target=lambda: self.stderr.extend(self.process.stderr), daemon=True
        ).start()

    def _read(self) -> None:
        stream = self.process.stdout
        while True:
            headers = {}
            while True:
                line = stream.readline()
                if not line:
                    return
                line = line.strip()
                if not line:
                    break
                name, _, value = line.decode("ascii").partition(":")
                headers[name.strip().lower()] = value.strip()
            body = stream.read(int(headers["content-length"]))
            self.messages.put(json.loads(body))

    def send(self, payload: dict) -> None:
        body = json.dumps({"jsonrpc": "2.0", **payload}).encode("utf-8")
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def notify(self, method: str, params: dict) -> None:
        self.send({"method": method, "params": params})

    def request(self, method: str, params: dict) -> dict:
        self.next_id += 1
        request_id = self.next_id
        self.send({"id": request_id, "method": method, "params": params})
        reply = self.wait(lambda m: m.get("id") == request_id and "method" not in m)
        assert "error" not in reply, reply
        return reply["result"]

    def wait(self, matches, timeout: float = TIMEOUT) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                log = b"".join(self.stderr).decode("utf-8", "replace")[-2000:]
                raise AssertionError(f"the language server did not answer in time; stderr:\n{log}")
            try:
                message = self.messages.get(timeout=left)
            except queue.Empty:
                continue
            self.log.append(message)
            if matches(message):
                return message

    def diagnostics(self, uri: str, version: int) -> list[dict]:
        message = self.wait(
            lambda m: (
                m.get("method") == "textDocument/publishDiagnostics"
                and m["params"]["uri"] == uri
                and m["params"].get("version") == version
            )
        )
        return message["params"]["diagnostics"]

    def close(self) -> int:
        try:
            self.request("shutdown", None)
            self.notify("exit", None)
            return self.process.wait(timeout=10)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(timeout=10)
            for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
                stream.close()


@pytest.fixture(scope="module")
def server():
    client = Client()
    result = client.request(
        "initialize",
        {"processId": None, "rootUri": from_fs_path(str(ROOT)), "capabilities": {}},
    )
    client.notify("initialized", {})
    client.capabilities = result["capabilities"]
    yield client
    assert client.close() == 0


def test_initialize_announces_sync_and_hover(server):
    capabilities = server.capabilities
    sync = capabilities["textDocumentSync"]
    change = sync["change"] if isinstance(sync, dict) else sync
    assert change == 1  # full text on every change
    if isinstance(sync, dict):
        assert sync["openClose"] is True
    assert capabilities["hoverProvider"] is True


def test_diagnostics_follow_open_and_change(server):
    uri = from_fs_path(str(BROKEN))
    text = BROKEN.read_text(encoding="utf-8")
    server.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": uri, "languageId": "arch", "version": 1, "text": text}},
    )
    diagnostics = {d["code"]: d for d in server.diagnostics(uri, 1)}
    assert set(diagnostics) == {"E202", "W001"}
    error = diagnostics["E202"]
    # archspec's 19:30 (1-based), the `7 * 7 * 64` argument, is LSP's line 18, characters 29-39.
    assert error["range"] == {
        "start": {"line": 18, "character": 29},
        "end": {"line": 18, "character": 39},
    }
    assert error["severity"] == 1 and error["source"] == "archspec"
    assert error["message"].startswith("Linear expects in_features=3136, but receives 576")
    assert "if they are right, set in_features=576 (64×3×3)" in error["message"]
    (related,) = error["relatedInformation"]
    assert related["message"] == "produces [N, 576]"
    assert related["location"]["uri"] == uri
    assert related["location"]["range"]["start"] == {"line": 17, "character": 40}
    assert diagnostics["W001"]["severity"] == 2
    assert diagnostics["W001"]["range"]["start"] == {"line": 10, "character": 40}

    fixed = text.replace("7 * 7 * 64", "?").replace("stride=5", "stride=2")
    server.notify(
        "textDocument/didChange",
        {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": fixed}]},
    )
    assert server.diagnostics(uri, 2) == []

    server.notify("textDocument/didSave", {"textDocument": {"uri": uri}})
    message = server.wait(
        lambda m: m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri
    )
    assert message["params"]["diagnostics"] == []


def test_hover_shows_shapes_parameters_and_macs(server):
    uri = from_fs_path(str(GOOD))
    text = GOOD.read_text(encoding="utf-8")
    server.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": uri, "languageId": "arch", "version": 1, "text": text}},
    )
    assert server.diagnostics(uri, 1) == []
    lines = text.splitlines()
    line = next(i for i, s in enumerate(lines) if "Linear(" in s)
    position = {"line": line, "character": lines[line].index("Linear(")}
    hover = server.request(
        "textDocument/hover", {"textDocument": {"uri": uri}, "position": position}
    )
    value = hover["contents"]["value"]
    assert hover["contents"]["kind"] == "markdown"
    assert value.startswith("**Linear**")
    assert "input: [N, 3136]" in value
    assert "output: [N, 10]" in value
    assert "parameters: 31,370" in value  # 3136 × 10 + 10
    assert "MACs: " in value

    comment = next(i for i, s in enumerate(lines) if s.lstrip().startswith("#"))
    nothing = server.request(
        "textDocument/hover",
        {"textDocument": {"uri": uri}, "position": {"line": comment, "character": 2}},
    )
    assert nothing is None


def open_document(server, path: Path, text: str | None = None) -> tuple[str, str]:
    uri = from_fs_path(str(path))
    text = path.read_text(encoding="utf-8") if text is None else text
    server.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": uri, "languageId": "arch", "version": 1, "text": text}},
    )
    return uri, text


def change(server, uri: str, version: int, text: str) -> None:
    server.notify(
        "textDocument/didChange",
        {"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]},
    )


def test_initialize_announces_the_editing_features(server):
    capabilities = server.capabilities
    for feature in ("definitionProvider", "referencesProvider", "documentSymbolProvider",
                    "documentFormattingProvider", "inlayHintProvider"):  # fmt: skip
        assert capabilities[feature], feature
    assert "(" in capabilities["completionProvider"]["triggerCharacters"]
    kinds = capabilities["codeActionProvider"]["codeActionKinds"]
    assert kinds == ["quickfix", "source.fixAll.archspec"]


def test_quick_edits_of_a_slow_spec_are_debounced_and_never_block_a_hover(server):
    """unet.arch takes about 0.3 s a check: 30 edits checked one by one held a hover up for
    that many checks (about 12 s for 50). Now the edits inside the debounce are never checked,
    only the last one's diagnostics are published, and the hover waits for one check."""
    path = ROOT / "specs" / "segmentation" / "unet.arch"
    opened = time.monotonic()
    uri, text = open_document(server, path)
    assert server.diagnostics(uri, 1) == []
    one_check = time.monotonic() - opened  # on this machine, now (coverage slows it down)
    for version in range(2, 32):
        change(server, uri, version, text + " " * (version % 2))
    line = next(i for i, s in enumerate(text.splitlines()) if "Down(" in s)
    position = {"line": line, "character": text.splitlines()[line].index("Down(")}
    started = time.monotonic()
    hover = server.request(
        "textDocument/hover", {"textDocument": {"uri": uri}, "position": position}
    )
    waited = time.monotonic() - started
    assert hover["contents"]["value"].startswith("**Down**")
    # At most the check of the current text, and one stale check still running; the old server
    # checked all 30 versions first.
    assert waited < 3 * one_check + 1, f"the hover waited {waited:.1f} s, a check {one_check:.1f}"

    def published() -> list[int]:
        return [
            m["params"]["version"]
            for m in server.log
            if m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri
        ]

    if 31 not in published():
        assert server.diagnostics(uri, 31) == []
    # The old server published all 31 versions; the edits now arrive inside one debounce (a
    # loaded machine may let one pause through).
    assert published()[0] == 1 and published()[-1] == 31 and len(published()) <= 3


def test_saving_an_imported_file_rechecks_the_files_importing_it(server, tmp_path: Path):
    blocks = tmp_path / "blocks.arch"
    blocks.write_text("block B(c) {\n    input x\n    return x -> Conv2d(c, 8, 1)\n}\n")
    (tmp_path / "archspec.toml").write_text("")
    main = tmp_path / "main.arch"
    main.write_text(
        'from "blocks.arch" import B\n\nmodel M {\n    input x: [N, 3, 4, 4]\n'
        "    return x -> B(3)\n}\n"
    )
    main_uri, _ = open_document(server, main)
    assert server.diagnostics(main_uri, 1) == []
    blocks_uri, blocks_text = open_document(server, blocks)
    assert server.diagnostics(blocks_uri, 1) == []
    broken = blocks_text.replace("Conv2d(c, 8, 1)", "Conv2d(c + 1, 8, 1)")
    change(server, blocks_uri, 2, broken)
    assert server.diagnostics(blocks_uri, 2) == []  # fine on its own: c is not known
    blocks.write_text(broken)
    server.notify("textDocument/didSave", {"textDocument": {"uri": blocks_uri}})
    (error,) = server.diagnostics(main_uri, 1)
    assert error["code"] == "E201" and "blocks.arch:3:24" in error["message"]


def test_references_watched_files_and_close_across_files(server, tmp_path: Path):
    blocks = tmp_path / "widen_blocks.arch"
    blocks.write_text("block Widen(c) {\n    input x\n    return x -> Conv2d(c, 2 * c, 1)\n}\n")
    (tmp_path / "archspec.toml").write_text("")
    main = tmp_path / "net.arch"
    main.write_text(
        'from "widen_blocks.arch" import Widen\n\nmodel M {\n    input x: [N, 3, 4, 4]\n'
        "    return x -> Widen(3) -> Widen(6)\n}\n"
    )
    uri, text = open_document(server, main)
    assert server.diagnostics(uri, 1) == []
    references = server.request(
        "textDocument/references",
        {"textDocument": {"uri": uri}, "position": {"line": 4, "character": 16},
         "context": {"includeDeclaration": True}},
    )  # fmt: skip
    found = sorted((Path(r["uri"]).name, r["range"]["start"]["line"]) for r in references)
    assert found == [("net.arch", 0), ("net.arch", 4), ("net.arch", 4), ("widen_blocks.arch", 0)]
    # The imported file changes on disk, not in the editor: the client's file watcher says so.
    blocks.write_text(blocks.read_text().replace("Conv2d(c,", "Conv2d(c + 1,"))
    server.notify(
        "workspace/didChangeWatchedFiles",
        {"changes": [{"uri": from_fs_path(str(blocks)), "type": 2}]},
    )
    assert {d["code"] for d in server.diagnostics(uri, 1)} == {"E201"}
    server.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    cleared = server.wait(
        lambda m: m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri
    )
    assert cleared["params"]["diagnostics"] == []
    missing = from_fs_path(str(tmp_path / "missing.arch"))
    position = {"line": 0, "character": 0}
    assert server.request("textDocument/hover", {"textDocument": {"uri": missing},
                                                 "position": position}) is None  # fmt: skip


def test_editing_requests_over_the_wire(server):
    path = ROOT / "examples" / "seed000_convnet.arch"
    uri, text = open_document(server, path)
    findings = server.diagnostics(uri, 1)
    document = {"textDocument": {"uri": uri}}
    error = next(d for d in findings if d["code"] == "E202")
    actions = server.request(
        "textDocument/codeAction",
        {**document, "range": error["range"], "context": {"diagnostics": [error]}},
    )
    assert [a["title"] for a in actions] == [
        "set in_features=576 (unsafe: may change what the spec means)"
    ]
    symbols = server.request("textDocument/documentSymbol", document)
    assert [s["name"] for s in symbols] == ["ConvNet"]
    whole = {"start": {"line": 0, "character": 0}, "end": {"line": 40, "character": 0}}
    hints = server.request("textDocument/inlayHint", {**document, "range": whole})
    assert hints and all(h["label"].startswith("→ [") for h in hints)
    lines = text.splitlines()
    line = next(i for i, s in enumerate(lines) if "Linear(" in s)
    at = {"line": line, "character": lines[line].index("Linear(") + 3}
    items = server.request("textDocument/completion", {**document, "position": at})["items"]
    assert "Linear" in [item["label"] for item in items]
    edits = server.request("textDocument/formatting", {**document, "options": {
        "tabSize": 4, "insertSpaces": True}})  # fmt: skip
    assert edits is not None and all(e["newText"].endswith("}\n") for e in edits)
    returned = lines.index("    return out")
    references = server.request(
        "textDocument/references",
        {**document, "position": {"line": returned, "character": 12},
         "context": {"includeDeclaration": True}},
    )  # fmt: skip
    # The `out` returned: bound by the fc line, read by the return.
    assert [(r["uri"], r["range"]["start"]) for r in references] == [
        (uri, {"line": returned - 1, "character": 4}),
        (uri, {"line": returned, "character": 11}),
    ]


# --- the same logic in-process: positions, imported blocks, block instances ---


def test_positions_count_utf16_units():
    text = (
        "model M {  # 😀 wide\n    input x: [N, 3, 8, 8]\n    return x -> Conv2d(4, 8, 3)  # é\n}\n"
    )
    # On line 0, "😀" is one code point but two UTF-16 units: "w" of "wide" is at unit 16.
    assert offset_at(text, lsp.Position(line=0, character=16)) == text.index("wide")
    assert offset_at(text, lsp.Position(line=1, character=4)) == text.index("input")
    result = check_text(text.replace("model M {  # 😀 wide", "model M { #😀"), "u.arch")
    (finding,) = diagnostics_for(result, "u.arch")
    assert finding.code == "E201"
    assert finding.range.start == lsp.Position(line=2, character=23)  # the `4`

    emoji = 'model M {\n    input x: [N, 3, 8, 8]\n    return x -> Linear("😀", 8)\n}\n'
    (finding,) = diagnostics_for(check_text(emoji, "e.arch"), "e.arch")
    start = finding.range.start.character
    assert finding.range.end.character - start == 4  # three code points, four UTF-16 units


def test_finding_in_an_imported_block_points_at_the_instance(tmp_path: Path):
    (tmp_path / "blocks.arch").write_text(
        "block Bad(c) {\n    input x\n    return x -> Conv2d(c + 1, 8, 3)\n}\n", encoding="utf-8"
    )
    main = tmp_path / "main.arch"
    text = (
        'from "blocks.arch" import Bad\n\nmodel M {\n    input x: [N, 3, 8, 8]\n'
        "    return x -> b: Bad(3)\n}\n"
    )
    main.write_text(text, encoding="utf-8")
    (finding,) = diagnostics_for(check_text(text, str(main)), str(main))
    assert finding.code == "E201"
    assert finding.range.start == lsp.Position(line=4, character=19)  # `Bad(3)`
    assert "blocks.arch:3:24" in finding.message
    places = {info.location.uri: info.location.range.start for info in finding.related_information}
    assert places[from_fs_path(str(tmp_path / "blocks.arch"))] == lsp.Position(line=2, character=23)


def test_hover_on_a_block_instance_lists_each_application():
    path = ROOT / "specs" / "seeds" / "resnet18_cifar10.arch"
    text = path.read_text(encoding="utf-8")
    result = check_text(text, str(path))
    value = hover_text(result, str(path), text.index("BasicBlock(64 if"))
    assert value.startswith("**BasicBlock** — 2 applications")
    assert "`layer2.0`" in value and "`layer2.1`" in value
    assert "input: [N, 64, 32, 32]" in value and "output: [N, 128, 16, 16]" in value
    # Only layer2.0 carries the 1×1 downsample: 230,144 vs 295,424 parameters.
    assert "parameters: 230,144" in value and "parameters: 295,424" in value


def test_hover_on_a_shared_layer_counts_its_weights_once():
    text = (
        "model M {\n    input x: [N, 8, 16, 16]\n    conv: Conv2d(8, 8, 3, padding=1)\n"
        "    h = x -> conv -> relu()\n    return h -> conv\n}\n"
    )
    result = check_text(text, "shared.arch")
    assert result.ok
    first = hover_text(result, "shared.arch", text.index("-> conv") + 3)
    second = hover_text(result, "shared.arch", text.rindex("-> conv") + 3)
    assert first.startswith("**Conv2d**") and second.startswith("**Conv2d**")
    assert "parameters: 584" in first  # 8 × 8 × 3 × 3 + 8
    assert "parameters: shared with its first application" in second
    assert "input: [N, 8, 16, 16]" in second and "output: [N, 8, 16, 16]" in second
    assert hover_text(result, "shared.arch", text.index("model")) is None
    assert hover_text(result, "shared.arch", text.index("input")) is None


def test_the_debounce_comes_from_the_client_or_the_command_line():
    from archspec.tools.lsp import DEBOUNCE_SECONDS, _debounce_option, build_server

    def option(value):
        capabilities = lsp.ClientCapabilities()
        return _debounce_option(lsp.InitializeParams(capabilities, initialization_options=value))

    assert option({"debounceMs": 250}) == 0.25
    assert option({"debounceMs": -5}) == 0.0
    assert option({"debounceMs": "fast"}) is None and option(None) is None
    assert build_server().debounce == DEBOUNCE_SECONDS and build_server(0.5).debounce == 0.5
