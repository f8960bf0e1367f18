"""Text -> AST with spans: the grammar (grammar/arch.lark), the LALR parser and its lexer, the AST
builder that runs while parsing, and the syntax diagnostics (E001, E002, E110)."""
