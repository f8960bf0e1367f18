"""archspec's benchmark: `make bench` (not part of `make test`).

Measures, each as the median of repeated runs with min–max, and side by side in one run so the
comparisons are ratios on the same machine:

1. whole-process `archspec check` of resnet50 and of all of specs/, against the floor (a process
   that only imports lark and networkx) and the torch route (import torch + torchvision, build the
   model on the meta device, one forward; and torchinfo's summary);
2. in-process check of resnet50 and densenet121, split by stage;
3. scaling: synthetic chains and branchy graphs of 1k, 10k and 100k layers (time, peak memory);
   limits: blocks nested 100 to 2,000 deep, import chains of 10 and 100 files, a block applied
   1k and 10k times, a 10 MB file (time and memory per unit);
4. `compile` time, and the compiled resnet50's forward against torchvision's (batch 8, CPU, eval,
   the same weights, 2 threads; `--forward-only` runs just this);
5. start-up: `archspec --version` against `python -c pass`;
6. worst cases (issue 15): specs written to exhaust time or memory, each one `archspec` process
   under a timeout and a 4 GiB address-space limit (time, peak memory, how it ended);
   `--worst-cases-only` runs just these;
7. the language server (issue 20): re-check after one keystroke in resnet50, and a hover sent
   right after 50 quick edits of unet.arch; `--lsp-only` runs just these.

Writes results.md, results.json and scaling.png under --out (default build/bench).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
ARCHSPEC = [PY, "-m", "archspec"]
RESNET50 = "specs/torchvision/resnet50.arch"
# The transformers, whose check must stay within resnet50's budget (1.5× the floor).
TRANSFORMERS = ("vit_b_16", "swin_t")
DENSENET121 = "specs/torchvision/densenet121.arch"


def stats(samples: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
        "runs": len(samples),
    }


# Users run with bytecode caches: measure that way even where the shell disables them.
BENCH_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run_process(command: list[str], repeat: int, env=None) -> tuple[dict, int]:
    """Wall time of a fresh process (median of `repeat`, after one warm-up run that fills the
    bytecode and Lark caches), and its peak RSS in KiB."""
    env = env or BENCH_ENV
    subprocess.run(command, cwd=ROOT, env=env, capture_output=True)
    samples, peak = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        completed = subprocess.run(
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        samples.append(time.perf_counter() - start)
        if completed.returncode not in (0, 1):
            raise RuntimeError(f"{command} failed: {completed.stderr.decode()[-2000:]}")
        peak = max(peak, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return stats(samples), peak


TORCH_ROUTE = """
import torch, torchvision
with torch.device("meta"):
    model = torchvision.models.{name}(weights=None{extra})
    model.eval()
    model(torch.empty(1, 3, 224, 224))
"""
TORCHINFO_ROUTE = """
import torch, torchvision, torchinfo
model = torchvision.models.{name}(weights=None{extra})
torchinfo.summary(model, input_size=(1, 3, 224, 224), verbose=0)
"""
TORCHVISION = {
    "alexnet": "", "vgg16": "", "vgg16_bn": "", "resnet18": "", "resnet50": "",
    "googlenet": ", aux_logits=False, init_weights=False", "densenet121": "",
    "mobilenet_v2": "", "squeezenet1_0": "",
}  # fmt: skip


def whole_process(repeat: int) -> dict:
    results = {}
    results["python -c pass"] = run_process([PY, "-c", "pass"], repeat)[0]
    results["floor: import lark, networkx"] = run_process(
        [PY, "-c", "import lark, networkx"], repeat
    )[0]
    results["archspec check resnet50"] = run_process([*ARCHSPEC, "check", RESNET50], repeat)[0]
    for name in TRANSFORMERS:
        spec = f"specs/torchvision/{name}.arch"
        results[f"archspec check {name}"] = run_process([*ARCHSPEC, "check", spec], repeat)[0]
    results["archspec check specs/"] = run_process([*ARCHSPEC, "check", "specs/"], repeat)[0]
    few = max(3, repeat // 3)
    route = TORCH_ROUTE.format(name="resnet50", extra="")
    results["torch route resnet50 (meta forward)"] = run_process([PY, "-c", route], few)[0]
    route = TORCHINFO_ROUTE.format(name="resnet50", extra="")
    results["torchinfo route resnet50"] = run_process([PY, "-c", route], few)[0]
    every = "\n".join(
        TORCH_ROUTE.format(name=name, extra=extra).replace("import torch, torchvision\n", "")
        for name, extra in TORCHVISION.items()
    )
    results["torch route, all torchvision specs"] = run_process(
        [PY, "-c", "import torch, torchvision\n" + every], few
    )[0]
    results["archspec --version"] = run_process([*ARCHSPEC, "--version"], repeat)[0]
    return results


def stages(path: str, repeat: int) -> dict:
    """In-process check split by stage: parse, graph, shape inference, diagnostics."""
    from archspec.core import diagnostic as diag
    from archspec.core.source import SourceFile
    from archspec.diagnostics.formats import render_text
    from archspec.diagnostics.lint import lint
    from archspec.elaborate.elaborator import Elaborator
    from archspec.elaborate.loader import Loader
    from archspec.shapes.infer import infer
    from archspec.syntax.parser import parse_module

    text = (ROOT / path).read_text()
    timings: dict[str, list[float]] = {"parse": [], "graph": [], "shape inference": [],
                                       "diagnostics": [], "total": []}  # fmt: skip
    for _ in range(repeat):
        reporter = diag.Reporter()
        t0 = time.perf_counter()
        source = SourceFile(str(ROOT / path), text)
        parse_module(source)  # what the loader runs: the AST built while parsing
        t1 = time.perf_counter()
        loader = Loader(reporter)
        loaded = loader.load_source(source)  # parses again; subtract the parse time measured
        elaborator = Elaborator(loaded.definitions, reporter)
        models = [elaborator.elaborate_model(d) for d in loaded.local if d.kind == "model"]
        t2 = time.perf_counter()
        inferences = [infer(model, reporter) for model in models]
        t3 = time.perf_counter()
        for model, inference in zip(models, inferences):
            lint(model, inference, reporter)
        rendered = [render_text(d) for d in diag.sorted_diagnostics(reporter.diagnostics)]
        del rendered
        t4 = time.perf_counter()
        parse_time = t1 - t0
        timings["parse"].append(parse_time)
        timings["graph"].append(max(0.0, t2 - t1 - parse_time))
        timings["shape inference"].append(t3 - t2)
        timings["diagnostics"].append(t4 - t3)
        timings["total"].append(t4 - t0 - parse_time)
    return {name: stats(values) for name, values in timings.items()}


def synthetic(kind: str, layers: int) -> str:
    lines = ["model Synthetic {", "    input x: [N, 8, 16, 16]", "    h = x"]
    if kind == "chain":
        for i in range(layers):
            lines.append(f"    h = h -> c{i}: Conv2d(8, 8, 3, padding=1)")
    else:  # branchy: two convolutions concatenated, plus a residual; 4 nodes per step
        for i in range(layers // 4):
            lines.append(f"    a = h -> a{i}: Conv2d(8, 4, 1)")
            lines.append(f"    b = h -> b{i}: Conv2d(8, 4, 3, padding=1)")
            lines.append("    h = cat([a, b], 1) + h")
    lines += ["    return h", "}", ""]
    return "\n".join(lines)


def scaling(sizes: list[int]) -> dict:
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as folder:
        for kind in ("chain", "branchy"):
            for layers in sizes:
                path = Path(folder) / f"{kind}_{layers}.arch"
                path.write_text(synthetic(kind, layers))
                repeat = 5 if layers <= 1_000 else 3 if layers <= 10_000 else 1
                code = (
                    "import resource, sys, time\n"
                    "from archspec.driver import check_file\n"
                    "t = time.perf_counter(); r = check_file(sys.argv[1])\n"
                    "assert r.ok, [d.message for d in r.diagnostics][:3]\n"
                    "print(time.perf_counter() - t, "
                    "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
                )
                samples, peaks = [], []
                for _ in range(repeat):
                    out = subprocess.run(
                        [PY, "-c", code, str(path)], cwd=ROOT, capture_output=True, text=True
                    )
                    if out.returncode:
                        raise RuntimeError(out.stderr[-2000:])
                    seconds, peak = out.stdout.split()
                    samples.append(float(seconds))
                    peaks.append(int(peak))
                result = stats(samples)
                result["peak_mib"] = max(peaks) / 1024
                result["us_per_layer"] = result["median"] / layers * 1e6
                result["kib_per_layer"] = max(peaks) / layers
                results[f"{kind} {layers}"] = result
    return results


LONG_INPUT = ROOT / "tests" / "data" / "sizes" / "long_wave.arch"  # shared with tests/test_sizes.py
DEEP_INPUT = ROOT / "tests" / "data" / "sizes" / "deep_wave.arch"


def long_input_sizes(repeat: int) -> dict:
    """`archspec sizes` on 1-D models whose length ranges over 100,000 values (issue 15: two
    minutes before, the budget is 2 s), and over a million through nine strided stages (the
    guards' period is 4,608 sizes: solved in closed form, not size by size)."""
    results = {}
    for label, spec in (
        ("archspec sizes, L in 1..100000", LONG_INPUT),
        ("archspec sizes, 9 stages, L in 1..1000000", DEEP_INPUT),
    ):
        timing, peak = run_process([*ARCHSPEC, "sizes", str(spec)], repeat)
        results[label] = {**timing, "peak_mib": peak / 1024}
    return results


def nested_blocks(folder: Path, depth: int) -> Path:
    """Blocks B0 ... B{depth-1}, each a layer and the next block: `depth` nested instances."""
    blocks = [
        f"block B{i}(c) {{\n    input x\n    return x -> Conv2d(c, c, 1) -> B{i + 1}(c)\n}}"
        for i in range(depth - 1)
    ]
    blocks.append(f"block B{depth - 1}(c) {{\n    input x\n    return x -> Conv2d(c, c, 1)\n}}")
    model = "model Nested {\n    input x: [N, 4, 8, 8]\n    return x -> outer: B0(4)\n}\n"
    path = folder / f"nested_{depth}.arch"
    path.write_text("\n\n".join(blocks) + "\n\n" + model)
    return path


def import_chain(folder: Path, files: int) -> Path:
    """chain_0.arch imports chain_1.arch ... chain_{files-1}.arch, a block from each."""
    chain = folder / f"chain_{files}"
    chain.mkdir()
    (chain / "archspec.toml").write_text("")  # the project: every file of the chain is inside
    for i in range(files):
        head = f'from "chain_{i + 1}.arch" import B{i + 1}\n\n' if i + 1 < files else ""
        inner = f" -> B{i + 1}()" if i + 1 < files else ""
        body = f"    input x\n    return x -> Linear(8, 8){inner}\n"
        (chain / f"chain_{i}.arch").write_text(f"{head}block B{i} {{\n{body}}}\n")
    path = chain / "main.arch"
    path.write_text('from "chain_0.arch" import B0\n\n'
                    "model Chain {\n    input x: [N, 8]\n    return x -> B0()\n}\n")  # fmt: skip
    return path


def many_instances(folder: Path, count: int) -> Path:
    """One block applied `count` times in a row, each instance its own submodule."""
    lines = ["block Cell(c) {", "    input x", "    return x -> fc: Linear(c, c) -> relu()", "}",
             "", "model Many {", "    input x: [N, 8]", "    h = x"]  # fmt: skip
    lines += [f"    h = h -> cell{i}: Cell(8)" for i in range(count)]
    path = folder / f"instances_{count}.arch"
    path.write_text("\n".join([*lines, "    return h", "}", ""]))
    return path


def big_file(folder: Path, megabytes: int) -> Path:
    """A ResNet-style block and model in `megabytes` MB of text, nearly all of it comments."""
    comment = "    # " + "a design note that explains the next layer, " * 2 + "\n"
    notes = comment * (megabytes * 2**20 // len(comment) // 2)  # twice: in the block and model
    text = ("block Basic(c) {\n    input x\n" + notes
            + "    out = x -> conv1: Conv2d(c, c, 3, padding=1) -> bn1: BatchNorm2d(c) -> relu()\n"
            "    return out + x -> relu()\n}\n\n"
            "model Big {\n    input x: [N, 16, 32, 32]\n" + notes
            + "    return x -> b1: Basic(16) -> b2: Basic(16)\n}\n")  # fmt: skip
    path = folder / f"big_{megabytes}mb.arch"
    path.write_text(text)
    return path


CHECK_IN_PROCESS = (
    "import resource, sys, time\n"
    "from archspec.driver import check_file\n"
    "t = time.perf_counter(); r = check_file(sys.argv[1])\n"
    "assert r.ok, [d.message for d in r.diagnostics][:3]\n"
    "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
)


def _checked(path: Path, repeat: int) -> tuple[list[float], int]:
    """Check times of `path` in fresh processes (after imports), and the largest peak RSS (KiB)."""
    samples, peak = [], 0
    for _ in range(repeat):
        out = subprocess.run([PY, "-c", CHECK_IN_PROCESS, str(path)], cwd=ROOT,
                             capture_output=True, text=True)  # fmt: skip
        if out.returncode:
            raise RuntimeError(out.stderr[-2000:])
        seconds, kib = out.stdout.split()
        samples.append(float(seconds))
        peak = max(peak, int(kib))
    return samples, peak


def limits() -> dict:
    """The size and depth limits (issue 7): time and memory per unit, the memory above what
    checking a one-layer spec takes. Nesting is not linear in memory: every module's dotted path
    (its state_dict key) grows with its depth."""
    cases = [
        ("block nesting depth 100", "level", 100, nested_blocks, 3),
        ("block nesting depth 1000", "level", 1_000, nested_blocks, 3),
        ("block nesting depth 2000 (the limit)", "level", 2_000, nested_blocks, 1),
        ("import chain of 10 files", "file", 10, import_chain, 3),
        ("import chain of 100 files", "file", 100, import_chain, 3),
        ("a block applied 1000 times", "instance", 1_000, many_instances, 3),
        ("a block applied 10000 times", "instance", 10_000, many_instances, 1),
        ("a 10 MB file (comments)", "MB", 10, big_file, 3),
    ]
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        _, baseline = _checked(nested_blocks(folder, 1), 3)
        for label, unit, count, write, repeat in cases:
            samples, peak = _checked(write(folder, count), repeat)
            result = stats(samples)
            result["peak_mib"] = peak / 1024
            result[f"us_per_{unit}"] = result["median"] / count * 1e6
            result[f"extra_kib_per_{unit}"] = max(0, peak - baseline) / count
            results[label] = result
    return results


def doubling_blocks(folder: Path) -> Path:
    """Forty blocks that each apply the next one twice, the last one empty: 2^40 applications."""
    levels = 40
    blocks = [f"block B{i} {{\n    input x\n    return x -> B{i + 1}() -> B{i + 1}()\n}}"
              for i in range(levels - 1)]  # fmt: skip
    blocks.append(f"block B{levels - 1} {{\n    input x\n    return x\n}}")
    model = "model M {\n    input x: [N, 4]\n    return x -> B0()\n}\n"
    return _spec(folder, "doubling_blocks.arch", "\n".join(blocks) + "\n" + model)


def doubling_list(folder: Path) -> Path:
    """`l = l + l` a hundred times: a list of 2^100 items."""
    loop = "    l = [1]\n    for i in range(100) {\n        l = l + l\n    }\n"
    return _spec(folder, "doubling_list.arch", _model(loop + "    return x\n"))


def shared_lists_compared(folder: Path) -> Path:
    """`==` between two lists built as `l = [l, l]` forty times: 2^40 leaves below each."""
    loop = ("    a = [1]\n    b = [1]\n    for i in range(40) {\n"
            "        a = [a, a]\n        b = [b, b]\n    }\n")  # fmt: skip
    body = loop + "    same = a == b\n    return x -> Linear(4, 4, bias=same)\n"
    return _spec(folder, "shared_lists.arch", _model(body))


def long_pipeline(folder: Path) -> Path:
    """One pipeline of 1 MB: 100,000 stages."""
    stages = " -> ".join(["relu()"] * 100_000)
    return _spec(folder, "long_pipeline.arch", _model(f"    return x -> {stages}\n"))


def many_keyword_arguments(folder: Path) -> Path:
    """20,000 lines, each a keyword argument that W008 reads (`bias=True` is torch's default)."""
    lines = "".join("    h = h -> Linear(4, 4, bias=True)\n" for _ in range(20_000))
    return _spec(folder, "keywords.arch", _model("    h = x\n" + lines + "    return h\n"))


def deep_parentheses(folder: Path) -> Path:
    """500 nested parentheses around one argument (the checker accepts them)."""
    argument = "(" * 500 + "4" + ")" * 500
    return _spec(folder, "parentheses.arch", _model(f"    return x -> Linear(4, {argument})\n"))


def _model(body: str) -> str:
    return "model M {\n    input x: [N, 4]\n" + body + "}\n"


def _spec(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


WORST_CASES = [  # label, the spec, the archspec command run on it
    ("40 blocks, each applying the next twice", doubling_blocks, ["check"]),
    ("l = l + l, 100 times", doubling_list, ["check"]),
    ("== on lists shared 2^40 times", shared_lists_compared, ["check"]),
    ("a 1 MB pipeline (100k stages)", long_pipeline, ["check"]),
    ("W008 over 20k keyword arguments", many_keyword_arguments, ["check", "--select", "W008"]),
    ("fmt of 500 nested parentheses", deep_parentheses, ["fmt", "--check"]),
]
WORST_CASE_MEMORY = 4 * 2**30  # the address space each case may take (RLIMIT_AS)


def worst_cases(timeout: float) -> dict:
    """Specs written to exhaust time or memory (issue 15): each is run once as a fresh
    `archspec` process, stopped after `timeout` seconds or at WORST_CASE_MEMORY, with its time,
    peak memory, exit status and the codes it reported."""
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        for label, write, command in WORST_CASES:
            path = write(folder)
            results[label] = _bounded_run([*ARCHSPEC, *command, str(path)], timeout)
    return results


def _bounded_run(command: list[str], timeout: float) -> dict:
    """Run `command` under a time and memory limit; its wall time, its own peak RSS (from
    wait4, so a killed process is measured too) and how it ended."""

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (WORST_CASE_MEMORY, WORST_CASE_MEMORY))

    start = time.perf_counter()
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(command, cwd=ROOT, env=BENCH_ENV, stdout=output,
                                   stderr=subprocess.STDOUT, preexec_fn=limit_memory)  # fmt: skip
        timed_out = False
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - start > timeout:
                process.kill()
                timed_out = True
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.02)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        output.seek(0)
        text = output.read().decode("utf-8", "replace")
    codes = sorted(set(re.findall(r"\b[EW]\d{3}\b", text)))
    if timed_out:
        outcome = f"killed after {timeout:.0f} s"
    elif "MemoryError" in text or "out of memory" in text:
        outcome = "out of memory"
    elif "Traceback" in text or "internal error" in text:
        outcome = "crash: " + text.strip().splitlines()[-1][:80]
    else:
        outcome = f"exit {process.returncode}" + (f", {' '.join(codes)}" if codes else "")
    return {"median": seconds, "min": seconds, "max": seconds, "runs": 1,
            "peak_mib": usage.ru_maxrss / 1024, "outcome": outcome}  # fmt: skip


def compile_and_forward(repeat: int) -> dict:
    import archspec

    results = {}
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        archspec.compile_source(str(ROOT / RESNET50))
        samples.append(time.perf_counter() - start)
    results["compile resnet50 (in-process, check + codegen)"] = stats(samples)
    results["archspec compile resnet50 (whole process)"] = run_process(
        [*ARCHSPEC, "compile", RESNET50], max(3, repeat // 2)
    )[0]
    results.update(forward_against_torchvision(repeat))
    return results


FORWARD_THREADS = 2  # fixed, so a run on a busier or bigger machine compares like with like


def forward_against_torchvision(repeat: int) -> dict:
    """The generated resnet50 (its parametrized Bottleneck class) against torchvision's, same
    weights, batch 8, CPU, eval, FORWARD_THREADS threads: each the median of `repeat` runs,
    interleaved so that drift hits both alike."""
    import torch
    import torchvision

    import archspec

    results = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(FORWARD_THREADS)
    torch.manual_seed(0)
    reference = torchvision.models.resnet50(weights=None).eval()
    ours = archspec.build(str(ROOT / RESNET50)).eval()
    ours.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(8, 3, 224, 224)
    ours_times, theirs_times = [], []
    with torch.no_grad():
        for model in (ours, reference):  # warm-up
            model(x)
        for _ in range(repeat):  # interleaved, so drift hits both alike
            start = time.perf_counter()
            ours(x)
            ours_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            reference(x)
            theirs_times.append(time.perf_counter() - start)
    torch.set_num_threads(threads)
    results["forward compiled resnet50, batch 8"] = stats(ours_times)
    results["forward torchvision resnet50, batch 8"] = stats(theirs_times)
    return results


class LspClient:
    """A minimal LSP client over a server process's stdin and stdout (Content-Length framing),
    for the language server's latencies (section 7)."""

    def __init__(self, command: list[str]) -> None:
        pipe = subprocess.PIPE
        self.process = subprocess.Popen(command, cwd=ROOT, env=BENCH_ENV, stdin=pipe, stdout=pipe,
                                        stderr=subprocess.DEVNULL)  # fmt: skip
        self.next_id = 0

    def send(self, method: str, params, request: bool = False) -> int | None:
        message = {"jsonrpc": "2.0", "method": method, "params": params}
        if request:
            self.next_id += 1
            message["id"] = self.next_id
        body = json.dumps(message).encode()
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()
        return message.get("id")

    def receive(self) -> dict:
        length = 0
        while line := self.process.stdout.readline().strip():
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        if not length:
            raise RuntimeError("the language server closed its output")
        return json.loads(self.process.stdout.read(length))

    def wait(self, matches) -> dict:
        while not matches(message := self.receive()):
            pass
        return message

    def request(self, method: str, params) -> dict:
        request_id = self.send(method, params, request=True)
        return self.wait(lambda m: m.get("id") == request_id and "method" not in m)

    def published(self, uri: str, version: int) -> dict:
        def matches(message: dict) -> bool:
            params = message.get("params") or {}
            return (message.get("method") == "textDocument/publishDiagnostics"
                    and params["uri"] == uri and params.get("version") == version)  # fmt: skip

        return self.wait(matches)

    def close(self) -> None:
        self.request("shutdown", None)
        self.send("exit", None)
        self.process.wait(timeout=30)


LSP_SERVER = [PY, "-m", "archspec.tools.lsp"]
UNET = "specs/segmentation/unet.arch"


def _lsp_open(client: LspClient, path: str) -> tuple[str, str]:
    uri = (ROOT / path).as_uri()
    text = (ROOT / path).read_text()
    client.request("initialize", {"processId": None, "rootUri": ROOT.as_uri(), "capabilities": {}})
    client.send("initialized", {})
    client.send("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "arch",
                                                          "version": 1, "text": text}})  # fmt: skip
    client.published(uri, 1)
    return uri, text


def _keystrokes(client: LspClient, uri: str, text: str, count: int, first_version: int):
    """Send `count` edits (a blank typed at the end, then taken away, in turn), each the full
    text; yield each one's version as soon as it is sent."""
    for version in range(first_version, first_version + count):
        edited = text + " " * (1 + version % 2)  # always a text other than the last one
        client.send("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                               "contentChanges": [{"text": edited}]})  # fmt: skip
        yield version


def lsp_latency(repeat: int, server: list[str] | None = None) -> dict:
    """The language server (issue 20): (a) re-check after one keystroke in resnet50 — the time
    from the edit to its diagnostics, with no debounce, so the figure is the server's work; (b)
    the answer to a hover sent right after 50 quick edits of unet.arch (a slow spec: about 0.3
    s a check), with the server's default debounce."""
    server = server or LSP_SERVER
    results: dict[str, dict] = {}
    client = LspClient([*server, "--debounce-ms", "0"] if server is LSP_SERVER else server)
    uri, text = _lsp_open(client, RESNET50)
    samples = []
    for version in _keystrokes(client, uri, text, 1 + repeat * 5, 2):
        started = time.perf_counter()
        client.published(uri, version)
        samples.append(time.perf_counter() - started)
    client.close()
    results["re-check after a keystroke, resnet50 (edit -> diagnostics)"] = stats(samples[1:])
    hovers = []
    for _ in range(max(1, repeat // 3)):
        client = LspClient(server)
        uri, text = _lsp_open(client, UNET)
        for _version in _keystrokes(client, uri, text, 50, 2):
            pass
        line = text.splitlines().index(next(s for s in text.splitlines() if "Down(" in s))
        position = {"line": line, "character": text.splitlines()[line].index("Down(")}
        started = time.perf_counter()
        reply = client.request("textDocument/hover", {"textDocument": {"uri": uri},
                                                      "position": position})  # fmt: skip
        hovers.append(time.perf_counter() - started)
        if not reply.get("result"):
            raise RuntimeError(f"no hover after the edits: {reply}")
        client.close()
    results["hover right after 50 quick edits, unet (request -> answer)"] = stats(hovers)
    return results


def plot(scaling_results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4), dpi=120)
    for kind, marker in (("chain", "o"), ("branchy", "s")):
        rows = sorted(
            (int(k.split()[1]), v) for k, v in scaling_results.items() if k.startswith(kind)
        )
        sizes = [size for size, _ in rows]
        left.plot(sizes, [v["median"] for _, v in rows], marker=marker, color="black",
                  linestyle="-" if kind == "chain" else "--", label=kind)  # fmt: skip
        right.plot(sizes, [v["peak_mib"] for _, v in rows], marker=marker, color="black",
                   linestyle="-" if kind == "chain" else "--", label=kind)  # fmt: skip
    for axes, label in ((left, "check time (s)"), (right, "peak memory (MiB)")):
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xlabel("layers")
        axes.set_ylabel(label)
        axes.grid(alpha=0.3, which="both")
        axes.legend()
    figure.suptitle("archspec check: scaling with spec size")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


IMPORTED_TIMM = ROOT / "build/imported/timm"  # written by `make import-report`


def importer(repeat: int) -> dict:
    """Issue 18's budgets: `archspec import` of resnet50, whole process (<= 10 s), and one
    `archspec check` of every imported timm spec (<= 10 s; skipped until make import-report
    has written them)."""
    results = {}
    out = ROOT / "build/bench/imported_resnet50.arch"
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [*ARCHSPEC, "import", "torchvision.models:resnet50", "-o", str(out)]
    results["archspec import resnet50"] = run_process(command, max(3, repeat // 3))[0]
    specs = sorted(IMPORTED_TIMM.glob("*.arch")) if IMPORTED_TIMM.is_dir() else []
    if specs:
        # The files by name: a folder search skips build/, which .gitignore lists.
        row = run_process([*ARCHSPEC, "check", *map(str, specs)], max(3, repeat // 3))[0]
        results[f"archspec check imported timm specs ({len(specs)} files)"] = row
    return results


def markdown(results: dict) -> str:
    lines = [f"# archspec benchmark ({results['machine']})", ""]
    for section, rows in results["sections"].items():
        lines += [f"## {section}", "", "| measurement | median | min | max | runs | extra |",
                  "|---|---:|---:|---:|---:|---|"]  # fmt: skip
        for name, value in rows.items():
            extra = ", ".join(
                f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}"
                for k, v in value.items()
                if k not in ("median", "min", "max", "runs")
            )
            cells = [_fmt(value.get(k)) for k in ("median", "min", "max")]
            lines.append(f"| {name} | {' | '.join(cells)} | {value.get('runs', '')} | {extra} |")
        lines.append("")
    lines += ["## Ratios", ""] + [f"- {k}: {v:.2f}" for k, v in results["ratios"].items()]
    return "\n".join(lines) + "\n"


def _machine() -> str:
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}")  # fmt: skip


def _fmt(value) -> str:
    if value is None:
        return ""
    return f"{value * 1000:.1f} ms" if value < 10 else f"{value:.2f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="archspec benchmarks")
    parser.add_argument("--out", default="build/bench")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--skip-torch", action="store_true", help="skip sections needing torch")
    parser.add_argument("--worst-case-timeout", type=float, default=60,
                        help="seconds each worst case may run")  # fmt: skip
    parser.add_argument("--lsp-only", action="store_true",
                        help="run only the language server's latencies, print them")  # fmt: skip
    parser.add_argument(
        "--worst-cases-only",
        action="store_true",
        help="run only the worst cases (issue 15), print them, write nothing",
    )
    parser.add_argument(
        "--forward-only",
        action="store_true",
        help="run only the generated resnet50's forward against torchvision's, print it",
    )
    args = parser.parse_args(argv)
    if args.forward_only:
        forward = forward_against_torchvision(args.repeat)
        ratio = (forward["forward compiled resnet50, batch 8"]["median"]
                 / forward["forward torchvision resnet50, batch 8"]["median"])  # fmt: skip
        ratios = {"forward compiled / torchvision (resnet50, batch 8)": ratio}
        only = {"machine": _machine(), "sections": {"Forward": forward}, "ratios": ratios}
        print(markdown(only))
        return 0
    if args.worst_cases_only:
        only = {"machine": _machine(), "sections": {"Worst cases": worst_cases(
            args.worst_case_timeout)}, "ratios": {}}  # fmt: skip
        print(markdown(only))
        return 0
    if args.lsp_only:
        only = {"machine": _machine(), "sections": {"Language server": lsp_latency(
            args.repeat)}, "ratios": {}}  # fmt: skip
        print(markdown(only))
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    sections: dict[str, dict] = {}
    print("whole-process runs ...", flush=True)
    sections["Whole process"] = whole_process(args.repeat) if not args.skip_torch else {}
    print("in-process stages ...", flush=True)
    sections["In-process check, resnet50"] = stages(RESNET50, args.repeat * 3)
    sections["In-process check, densenet121"] = stages(DENSENET121, args.repeat * 3)
    print("scaling ...", flush=True)
    sections["Scaling"] = scaling(sizes)
    print("limits ...", flush=True)
    sections["Limits"] = limits()
    print("sizes of a long input ...", flush=True)
    sections["Sizes, long 1-D input"] = long_input_sizes(args.repeat)
    print("worst cases ...", flush=True)
    sections["Worst cases"] = worst_cases(args.worst_case_timeout)
    print("language server ...", flush=True)
    sections["Language server"] = lsp_latency(args.repeat)
    if not args.skip_torch:
        print("importer ...", flush=True)
        sections["Importer"] = importer(args.repeat)
        print("compile and forward ...", flush=True)
        sections["Compile and forward"] = compile_and_forward(args.repeat)
    ratios = {}
    whole = sections["Whole process"]
    if whole:
        check = whole["archspec check resnet50"]["median"]
        ratios["torch route / archspec check (resnet50)"] = (
            whole["torch route resnet50 (meta forward)"]["median"] / check
        )
        ratios["torchinfo route / archspec check (resnet50)"] = (
            whole["torchinfo route resnet50"]["median"] / check
        )
        floor = whole["floor: import lark, networkx"]["median"]
        ratios["archspec check / floor (resnet50)"] = check / floor
        for name in TRANSFORMERS:
            ratios[f"archspec check / floor ({name})"] = (
                whole[f"archspec check {name}"]["median"] / floor
            )
        ratios["torch route all / archspec check specs/"] = (
            whole["torch route, all torchvision specs"]["median"]
            / whole["archspec check specs/"]["median"]
        )
        ratios["archspec --version / python -c pass"] = (
            whole["archspec --version"]["median"] / whole["python -c pass"]["median"]
        )
    if "Compile and forward" in sections:
        forward = sections["Compile and forward"]
        ratios["forward compiled / torchvision (resnet50, batch 8)"] = (
            forward["forward compiled resnet50, batch 8"]["median"]
            / forward["forward torchvision resnet50, batch 8"]["median"]
        )
    results = {
        "machine": _machine(),
        "sections": sections,
        "ratios": ratios,
    }
    (out / "results.json").write_text(json.dumps(results, indent=2))
    (out / "results.md").write_text(markdown(results))
    plot(sections["Scaling"], out / "scaling.png")
    print(markdown(results))
    print(f"written: {out}/results.md, results.json, scaling.png")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
