"""Before and after, side by side: `make bench-compare BASE=<git revision>`.

Two benchmark runs minutes apart differ by more than most changes do on a shared machine (the
floor alone moved 12 % between two runs here). This script measures the working tree and a
baseline revision alternately, run by run, so that both see the same machine state, and prints
each figure's median for both and their ratio:

- whole process: the floor (a process that imports lark and networkx), `archspec check` of
  resnet50 and of specs/, `archspec compile` of resnet50, `archspec --version`;
- in-process `check_file` time and peak memory (each a fresh process, the clock around the check):
  resnet50, densenet121, synthetic chains and branchy graphs of 1k, 10k and 100k layers, and the
  limits of `run.py` (nested blocks, import chains, many instances, a 10 MB file).

The baseline is checked out with `git worktree add --detach` into a temporary folder (removed
afterwards) and run with the same interpreter, its own package first on the path. Writes
compare.md and compare.json under --out.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from run import (
    DENSENET121,
    RESNET50,
    big_file,
    import_chain,
    many_instances,
    nested_blocks,
    synthetic,
)

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")}
CHECK_IN_PROCESS = (
    "import resource, sys, time\n"
    "from archspec.driver import check_file\n"
    "t = time.perf_counter(); check_file(sys.argv[1]); elapsed = time.perf_counter() - t\n"
    "print(elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
)


class Tree:
    """A source tree to measure: its root goes first on the import path."""

    def __init__(self, name: str, root: Path):
        self.name, self.root = name, root
        self.env = {**ENV, "PYTHONPATH": str(root)}

    def run(self, command: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run(command, cwd=self.root, env=self.env, capture_output=True, text=True)


def alternate(trees: list[Tree], measure, repeat: int) -> dict[str, list]:
    """`measure(tree)` for each tree in turn, `repeat` rounds (after one unmeasured round)."""
    for tree in trees:
        measure(tree)
    samples: dict[str, list] = {tree.name: [] for tree in trees}
    for _ in range(repeat):
        for tree in trees:
            samples[tree.name].append(measure(tree))
    return samples


def wall(command: list[str]):
    def measure(tree: Tree) -> tuple[float, int]:
        start = time.perf_counter()
        completed = tree.run(command)
        if completed.returncode not in (0, 1):
            raise RuntimeError(f"{tree.name}: {command} failed: {completed.stderr[-2000:]}")
        return time.perf_counter() - start, 0

    return measure


def in_process(path: Path):
    def measure(tree: Tree) -> tuple[float, int]:
        completed = tree.run([PY, "-c", CHECK_IN_PROCESS, str(path)])
        if completed.returncode:
            raise RuntimeError(f"{tree.name}: checking {path} failed: {completed.stderr[-2000:]}")
        seconds, peak = completed.stdout.split()
        return float(seconds), int(peak)

    return measure


def cases(folder: Path) -> list[tuple[str, object, int]]:
    """(label, measure, rounds) in the order they run."""
    archspec = [PY, "-m", "archspec"]
    found: list[tuple[str, object, int]] = [
        ("floor: import lark, networkx", wall([PY, "-c", "import lark, networkx"]), 15),
        ("archspec check resnet50", wall([*archspec, "check", RESNET50]), 15),
        ("archspec check specs/", wall([*archspec, "check", "specs/"]), 7),
        ("archspec compile resnet50", wall([*archspec, "compile", RESNET50]), 7),
        ("archspec --version", wall([*archspec, "--version"]), 15),
        ("in-process check resnet50", in_process(ROOT / RESNET50), 9),
        ("in-process check densenet121", in_process(ROOT / DENSENET121), 9),
    ]
    for kind in ("chain", "branchy"):
        for layers, rounds in ((1_000, 7), (10_000, 3), (100_000, 1)):
            path = folder / f"{kind}_{layers}.arch"
            path.write_text(synthetic(kind, layers))
            found.append((f"{kind} of {layers:,} layers", in_process(path), rounds))
    limits = [
        ("block nesting depth 2000", nested_blocks, 2_000, 3),
        ("import chain of 100 files", import_chain, 100, 5),
        ("a block applied 10000 times", many_instances, 10_000, 3),
        ("a 10 MB file (comments)", big_file, 10, 3),
    ]
    for label, write, count, rounds in limits:
        found.append((label, in_process(write(folder, count)), rounds))
    return found


def compare(trees: list[Tree]) -> dict[str, dict]:
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as name:
        for label, measure, rounds in cases(Path(name)):
            print(f"  {label} ...", flush=True)
            samples = alternate(trees, measure, rounds)
            results[label] = {
                tree: {
                    "median": statistics.median(s for s, _ in runs),
                    "peak_mib": max(p for _, p in runs) / 1024,
                    "runs": len(runs),
                }
                for tree, runs in samples.items()
            }
    return results


def _time(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def markdown(results: dict[str, dict], base: str, head: str) -> str:
    lines = [
        f"| measure | {base} | {head} | ratio |",
        "|---|---:|---:|---:|",
    ]
    for label, by_tree in results.items():
        before, after = by_tree[base], by_tree[head]
        memory = ""
        if after["peak_mib"]:
            memory = f" ({before['peak_mib']:.0f} → {after['peak_mib']:.0f} MiB)"
        ratio = after["median"] / before["median"]
        lines.append(
            f"| {label}{memory} | {_time(before['median'])} | {_time(after['median'])} "
            f"| {ratio:.3f} |"
        )
    floor = results["floor: import lark, networkx"]
    check = results["archspec check resnet50"]
    lines.append(
        f"| check / floor (resnet50) | {check[base]['median'] / floor[base]['median']:.3f} "
        f"| {check[head]['median'] / floor[head]['median']:.3f} | |"
    )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="archspec: the working tree against a revision")
    parser.add_argument("--base", required=True, help="a git revision to compare with")
    parser.add_argument("--out", default="build/bench")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as name:
        worktree = Path(name) / "base"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "--quiet", str(worktree), args.base],
            cwd=ROOT,
            check=True,
        )
        try:
            base, head = f"base ({args.base})", "working tree"
            print(f"comparing {head} with {base}", flush=True)
            results = compare([Tree(base, worktree), Tree(head, ROOT)])
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT)
    text = markdown(results, base, head)
    (out / "compare.md").write_text(text)
    (out / "compare.json").write_text(json.dumps(results, indent=2))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
