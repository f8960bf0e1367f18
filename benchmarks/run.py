"""archspec's benchmark: `make bench` (not part of `make test`).

Measures, each as the median of repeated runs with min–max, and side by side in one run so the
comparisons are ratios on the same machine:

1. whole-process `archspec check` of resnet50 and of all of specs/, against the floor (a process
   that only imports lark and networkx) and the torch route (import torch + torchvision, build the
   model on the meta device, one forward; and torchinfo's summary);
2. in-process check of resnet50 and densenet121, split by stage;
3. scaling: synthetic chains and branchy graphs of 1k, 10k and 100k layers (time, peak memory);
4. `compile` time, and the compiled resnet50's forward against torchvision's (batch 8, CPU, eval,
   the same weights);
5. start-up: `archspec --version` against `python -c pass`.

Writes results.md, results.json and scaling.png under --out (default build/bench).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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
    from archspec import diagnostics as diag
    from archspec.elaborate import Elaborator
    from archspec.formats import render_text
    from archspec.infer import infer
    from archspec.lint import lint
    from archspec.loader import Loader
    from archspec.parser import parse_module
    from archspec.source import SourceFile

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


def compile_and_forward(repeat: int) -> dict:
    import torch
    import torchvision

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
    results["forward compiled resnet50, batch 8"] = stats(ours_times)
    results["forward torchvision resnet50, batch 8"] = stats(theirs_times)
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


def markdown(results: dict) -> str:
    lines = [f"# archspec benchmark ({results['machine']})", ""]
    for section, rows in results["sections"].items():
        lines += [f"## {section}", "", "| measurement | median | min | max | runs | extra |",
                  "|---|---:|---:|---:|---:|---|"]  # fmt: skip
        for name, value in rows.items():
            extra = ", ".join(
                f"{k}={v:.1f}"
                for k, v in value.items()
                if k not in ("median", "min", "max", "runs")
            )
            cells = [_fmt(value.get(k)) for k in ("median", "min", "max")]
            lines.append(f"| {name} | {' | '.join(cells)} | {value.get('runs', '')} | {extra} |")
        lines.append("")
    lines += ["## Ratios", ""] + [f"- {k}: {v:.2f}" for k, v in results["ratios"].items()]
    return "\n".join(lines) + "\n"


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
    args = parser.parse_args(argv)
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
    if not args.skip_torch:
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
        ratios["archspec check / floor (resnet50)"] = (
            check / whole["floor: import lark, networkx"]["median"]
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
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
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
