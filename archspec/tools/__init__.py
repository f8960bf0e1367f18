"""Things that rewrite or serve specs: the formatter (fmt), fixes, the language server (lsp), the
Pygments lexer, file discovery and safe writes (files), git revisions (revisions)."""
