"""Summary of the last `make mutate` run: mutants per status and file, the share killed, and every
survivor with the line it changes.

    python tools/mutation_report.py [--fail-under PERCENT]

Reads mutmut's result files under mutants/ (run from the repository root). Killed counts mutants
that made a test fail, time out or crash; the share is taken over every mutant that was checked,
so mutants no selected test reaches ("no tests") count against it.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

RESULTS = Path("mutants")
KILLED = {"killed", "timeout", "segfault", "caught by type check"}


def _status(exit_code) -> str:
    from mutmut.stats import status_by_exit_code

    return status_by_exit_code[exit_code]


def load() -> dict[str, dict[str, str]]:
    """{source path: {mutant name: status}}"""
    found = {}
    for meta in sorted(RESULTS.rglob("*.py.meta")):
        data = json.loads(meta.read_text(encoding="utf-8"))
        codes = data.get("exit_code_by_key", {})
        if codes:
            source = meta.relative_to(RESULTS).as_posix().removesuffix(".meta")
            found[source] = {name: _status(code) for name, code in sorted(codes.items())}
    return found


def changed_lines(name: str) -> list[str]:
    """The -/+ lines of a mutant's diff (mutmut's own `show`), or nothing when unavailable."""
    try:
        from mutmut.__main__ import find_mutant, get_diff_for_mutant

        diff = get_diff_for_mutant(name, path=find_mutant(name).path)
    except Exception:  # noqa: BLE001 - the report still lists the name
        return []
    return [
        line.strip()
        for line in diff.splitlines()
        if line[:1] in "-+" and not line.startswith(("---", "+++"))
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fail-under", type=float, default=None, metavar="PERCENT")
    args = parser.parse_args(argv)
    results = load()
    if not results:
        print("no mutation results under mutants/: run `make mutate` first")
        return 2
    total: Counter[str] = Counter()
    print(f"{'file':36} {'mutants':>8} {'killed':>8} {'survived':>9} {'no tests':>9} {'other':>6}")
    for source, statuses in results.items():
        counts = Counter("killed" if s in KILLED else s for s in statuses.values())
        total.update(counts)
        other = sum(counts.values()) - counts["killed"] - counts["survived"] - counts["no tests"]
        print(
            f"{source:36} {len(statuses):8} {counts['killed']:8} {counts['survived']:9} "
            f"{counts['no tests']:9} {other:6}"
        )
    checked = sum(total.values()) - total["not checked"]
    share = 100 * total["killed"] / checked if checked else 0.0
    print(
        f"\n{sum(total.values())} mutants, {checked} checked: {total['killed']} killed "
        f"({share:.1f}%), {total['survived']} survived, {total['no tests']} without tests, "
        f"{total['not checked']} not checked"
    )
    survivors = [name for statuses in results.values() for name, s in statuses.items()
                 if s not in KILLED and s != "not checked"]  # fmt: skip
    if survivors:
        print("\nsurvivors (`.venv/bin/mutmut show NAME` prints the whole diff):")
        for name in survivors:
            status = next(r[name] for r in results.values() if name in r)
            print(f"  {name} [{status}]")
            for line in changed_lines(name):
                print(f"      {line}")
    if args.fail_under is not None and share < args.fail_under:
        print(f"\nmutation score {share:.1f}% is below {args.fail_under:g}%")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
