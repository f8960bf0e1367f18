"""Checked graph -> text and files: generated nn.Module source (codegen), diagrams (render), layer
tables (summary) and architecture diffs (diff). Nothing here prints."""
