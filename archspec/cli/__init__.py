"""The `archspec` command: argparse subcommands over the library; the only place that prints and
chooses exit codes. `main(argv) -> int` for tests, `run()` for the console script."""

from archspec.cli.commands import main, run

__all__ = ["main", "run"]
