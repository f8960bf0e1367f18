"""Findings as data, and what is done with them: the warning rules over an inferred graph (lint),
budgets, suppressions, project configuration, each code's documentation (rules) and the output
formats (text, JSON, SARIF, ...). The Diagnostic type itself lives in archspec.core.diagnostic."""
