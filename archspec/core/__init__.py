"""What every stage shares: source text and spans, the diagnostic type and its code table, symbolic
sizes, name rules, the collector pause. Imports nothing else of archspec."""
