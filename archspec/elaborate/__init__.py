"""AST -> graph: files and imports (loader), values and the expression evaluator (values,
evaluate), scopes, blocks and comprehensions expanded into a ModelGraph (elaborator, graph)."""
