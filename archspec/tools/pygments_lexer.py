"""A Pygments lexer for .arch specs (Sphinx, MkDocs, `pygmentize -l arch`, anything Pygments).

Registered through the `pygments.lexers` entry point, so once the package is installed
`pygments.lexers.get_lexer_by_name("arch")` and `get_lexer_for_filename("net.arch")` find it.
Nothing on archspec's check path imports this module (or Pygments).

Token types: `model`/`block`/`def`/`extern` are `Keyword.Declaration` and the name after them
`Name.Class`, as are `param`, `buffer` and `tie`; a dtype after a shape (`[N, L] int64`) is
`Keyword.Type`;
`input`, `return`, `if`, `else`, `for`, `in` are `Keyword`, `from`/`import` `Keyword.Namespace`,
`and`/`or`/`not` `Operator.Word`. A capitalised call (`Conv2d(`, `BasicBlock(`: a layer or a
block) is `Name.Class`, a lower-case call (`flatten(`) `Name.Function`, a built-in (`range(`...)
`Name.Builtin`; a layer label (`fc:` or `"dense{i}":` before a call) is `Name.Label`; `->` is
`Operator` and `?` (infer) `Keyword.Pseudo`.
"""

from __future__ import annotations

from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import (
    Comment,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Whitespace,
)

__all__ = ["ArchLexer"]

_IDENT = r"[^\W\d]\w*"
_STRING = r"\"[^\"\\\n]*(?:\\.[^\"\\\n]*)*\"|'[^'\\\n]*(?:\\.[^'\\\n]*)*'"
_BEFORE_CALL = r"(?=\s*" + _IDENT + r"\s*\()"  # what follows a label's colon
# archspec.elaborate.elaborator.BUILTINS, spelled out so that lexing imports nothing of the checker
BUILTINS = ("range", "len", "min", "max", "int", "round", "abs")
# archspec.core.dtypes' names, for the same reason
DTYPES = ("float16", "float32", "float64", "bfloat16", "int32", "int64", "bool")


class ArchLexer(RegexLexer):
    """Lexer for archspec's architecture-spec language (.arch files)."""

    name = "archspec"
    aliases = ["arch", "archspec"]
    filenames = ["*.arch"]
    mimetypes = ["text/x-archspec"]
    url = "https://pypi.org/project/archspec-nn/"
    version_added = ""

    tokens = {
        "root": [
            (r"[ \t\f\r\n]+", Whitespace),
            (r"#[^\n]*", Comment.Single),
            # model ResNet(...)   block BasicBlock(...)
            (
                r"\b(model|block|def|extern)(\s+)(" + _IDENT + r")",
                bygroups(Keyword.Declaration, Whitespace, Name.Class),
            ),
            (r"\b(model|block|def|extern)\b", Keyword.Declaration),
            # param scale: [C] = ...   buffer mask: [L, L] bool = ...   tie head.weight = ...
            (words(("param", "buffer", "tie"), prefix=r"\b", suffix=r"\b"), Keyword.Declaration),
            # a dtype right after a stated shape: `[N, L] int64` (elsewhere, `to(int64)`, a name)
            (
                r"(\])([ \t]+)(" + "|".join(DTYPES) + r")\b",
                bygroups(Punctuation, Whitespace, Keyword.Type),
            ),
            (words(("from", "import"), prefix=r"\b", suffix=r"\b"), Keyword.Namespace),
            (
                words(("input", "return", "if", "else", "for", "in"), prefix=r"\b", suffix=r"\b"),
                Keyword,
            ),
            # H in 32..1024 step 16: `step` is a keyword only after a range's upper bound
            (r"([0-9][0-9_]*)([ \t]+)(step)\b", bygroups(Number.Integer, Whitespace, Keyword)),
            (words(("and", "or", "not"), prefix=r"\b", suffix=r"\b"), Operator.Word),
            (words(("True", "False", "None"), prefix=r"\b", suffix=r"\b"), Keyword.Constant),
            # labels: `fc: Linear(...)`, `"denselayer{i + 1}": DenseLayer(...)`
            (
                r"(" + _IDENT + r")([ \t]*)(:)" + _BEFORE_CALL,
                bygroups(Name.Label, Whitespace, Punctuation),
            ),
            (
                r"(" + _STRING + r")([ \t]*)(:)" + _BEFORE_CALL,
                bygroups(Name.Label, Whitespace, Punctuation),
            ),
            (_STRING, String),
            # calls: built-ins, layers and blocks (capitalised), functions (lower case)
            (
                words(BUILTINS, prefix=r"\b", suffix=r"(?=\s*\()"),
                Name.Builtin,
            ),
            (r"[A-Z]\w*(?=\s*\()", Name.Class),
            (_IDENT + r"(?=\s*\()", Name.Function),
            (_IDENT, Name),
            (r"[0-9][0-9_]*(?=\.\.)", Number.Integer),  # the 32 of 32..1024
            (
                r"(?:[0-9][0-9_]*)?\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?"
                r"|[0-9][0-9_]*\.?[eE][-+]?[0-9]+",
                Number.Float,
            ),
            (r"0|[1-9][0-9_]*", Number.Integer),
            (r"->", Operator),
            (r"\.\.\.", Punctuation),  # x[..., :C]
            (r"\.\.", Operator),  # H in 32..1024
            (r"\.", Punctuation),  # tie head.weight = wte.weight
            (r"\?", Keyword.Pseudo),
            (r"\*\*|//|==|!=|<=|>=|[-+*/%<>=]", Operator),
            (r"[()\[\]{},:]", Punctuation),
        ],
    }
