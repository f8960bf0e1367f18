from archspec.cli import run

run()
