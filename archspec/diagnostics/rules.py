"""Every rule's documentation in one place: what it means, a spec that breaks it, one that does not.

`archspec rule CODE` prints an entry, `archspec rule --markdown` writes docs/rules.md, and SARIF
output describes its rules from here. The code, name and one-line summary stay in
`archspec.core.diagnostic.CODES`; tests run every bad example through the checker (it must report
exactly its code) and every good example (it must be clean).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

from archspec.core.diagnostic import CODES
from archspec.elaborate.loader import BIDI_CONTROLS


@dataclass(frozen=True)
class RuleDoc:
    code: str
    description: str
    bad: str | None  # None only for a code no spec text can produce (see its description)
    good: str | None
    companions: dict[str, str] = field(default_factory=dict)  # other files the examples import

    @property
    def name(self) -> str:
        return CODES[self.code].name

    @property
    def summary(self) -> str:
        return CODES[self.code].summary


def _spec(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


_DEEP = "-" * 102 + "2"  # 102 nested negations of 2

_DOCS = [
    RuleDoc(
        "E001",
        "The parser could not read the file. The message says, in plain words, what it expected "
        "and what it found instead (a missing `->` or `,`, an unclosed bracket, a keyword used as "
        "a name). Nothing else in a file with a syntax error is checked.",
        _spec("""
            model Net {
                input x: [N, 1, 28, 28]
                return x -> Conv2d(1, 8, 3) ReLU()
            }
        """),
        _spec("""
            model Net {
                input x: [N, 1, 28, 28]
                return x -> Conv2d(1, 8, 3) -> ReLU()
            }
        """),
    ),
    RuleDoc(
        "E002",
        "An expression nests more than 100 levels deep, a layer's or block's argument nests "
        "lists more than 100 levels deep, or blocks and Sequentials nest more than 2,000 levels "
        "(blocks calling blocks). archspec refuses such input rather than exhausting the stack; "
        "real networks never come close. Split the expression into named steps.",
        _spec(f"""
            model Net {{
                input x: [N, 4]
                return x -> Linear(4, {_DEEP})
            }}
        """),
        _spec("""
            model Net {
                input x: [N, 4]
                return x -> Linear(4, 2)
            }
        """),
    ),
    RuleDoc(
        "E003",
        "The file is not valid UTF-8, or it holds a control character other than tab, newline, "
        "carriage return and form feed (shown here as a visible symbol). Such bytes usually come "
        "from a broken editor or a binary file given by mistake; the error points at the first "
        "one.",
        _spec("""
            # a bell character hides in this comment: \x07
            model Net {
                input x: [N, 4]
                return x -> Linear(4, 2)
            }
        """),
        _spec("""
            # a clean comment
            model Net {
                input x: [N, 4]
                return x -> Linear(4, 2)
            }
        """),
    ),
    RuleDoc(
        "E004",
        "A spec named on the command line cannot be read (missing permissions, a device, a "
        "vanished file). No spec text produces it: `archspec check` reports such a path on "
        "standard error and exits with code 2, and an unreadable imported file is E106. The code "
        "is kept so that it never changes meaning.",
        None,
        None,
    ),
    RuleDoc(
        "E101",
        "A call names no layer, function or block that archspec knows: a typo (`Conv2D` for "
        "`Conv2d`), a layer archspec does not support yet, or a block that was never defined or "
        "imported. The closest known name is suggested.",
        _spec("""
            model Net {
                input x: [N, 1, 28, 28]
                return x -> Conv2D(1, 8, 3)
            }
        """),
        _spec("""
            model Net {
                input x: [N, 1, 28, 28]
                return x -> Conv2d(1, 8, 3)
            }
        """),
    ),
    RuleDoc(
        "E102",
        "A name is read that has no value at that point: a misspelt value, a parameter the model "
        "or block does not declare, or a value defined only later.",
        _spec("""
            model Net {
                input x: [N, 4]
                return x -> Linear(4, width)
            }
        """),
        _spec("""
            model Net(width=2) {
                input x: [N, 4]
                return x -> Linear(4, width)
            }
        """),
    ),
    RuleDoc(
        "E103",
        "Two layers, blocks, parameters or inputs share a name. Layer names become attributes of "
        "the generated `nn.Module` (and keys of its `state_dict`), so they must be unique within "
        "their model or block; a block cannot take the name of a built-in layer either.",
        _spec("""
            model Net {
                input x: [N, 1, 28, 28]
                return x -> conv: Conv2d(1, 8, 3) -> conv: Conv2d(8, 8, 3)
            }
        """),
        _spec("""
            model Net {
                input x: [N, 1, 28, 28]
                return x -> conv1: Conv2d(1, 8, 3) -> conv2: Conv2d(8, 8, 3)
            }
        """),
    ),
    RuleDoc(
        "E104",
        "A call's arguments do not fit the signature of the layer, function or block: a missing "
        "required argument, an unknown keyword (often a typo), too many positional arguments or "
        "a keyword given twice. The message shows the signature, as torch defines it.",
        _spec("""
            model Net {
                input x: [N, 1, 28, 28]
                return x -> Conv2d(1, 32, kernal_size=3)
            }
        """),
        _spec("""
            model Net {
                input x: [N, 1, 28, 28]
                return x -> Conv2d(1, 32, kernel_size=3)
            }
        """),
    ),
    RuleDoc(
        "E105",
        "An argument has a value that torch would reject when the layer is built or run: a "
        "dropout probability outside [0, 1], channels not divisible by `groups`, a padding larger "
        "than half the kernel, a negative size, a division by zero. It is also a name that cannot "
        "become the same Python name: a layer called `forward`, or a model, block, input, value or "
        "layer name that Python reads as another (NFKC: `Ｍ` is `M` to Python).",
        _spec("""
            model Net {
                input x: [N, 16]
                return x -> Dropout(p=1.5)
            }
        """),
        _spec("""
            model Net {
                input x: [N, 16]
                return x -> Dropout(p=0.5)
            }
        """),
    ),
    RuleDoc(
        "E106",
        "An import names a file that is missing, unreadable or broken, or a block that the file "
        "does not define. Paths are relative to the importing file. (The examples import from "
        "`blocks.arch`, shown after them.)",
        _spec("""
            from "blocks.arch" import Haed

            model Net {
                input x: [N, 64]
                return x -> head: Haed(64)
            }
        """),
        _spec("""
            from "blocks.arch" import Head

            model Net {
                input x: [N, 64]
                return x -> head: Head(64)
            }
        """),
        companions={
            "blocks.arch": _spec("""
                block Head(features) {
                    input x
                    return x -> fc: Linear(features, 10)
                }
            """)
        },
    ),
    RuleDoc(
        "E107",
        "A block contains an instance of itself (directly or through other blocks), or files "
        "import each other in a cycle. Either would expand forever; the message shows the chain.",
        _spec("""
            block Fractal(depth) {
                input x
                return x -> inner: Fractal(depth - 1)
            }

            model Net {
                input x: [N, 3, 32, 32]
                return x -> f: Fractal(3)
            }
        """),
        _spec("""
            block Fractal(depth) {
                input x
                return x -> Conv2d(3, 3, 3, padding=1) -> relu()
            }

            model Net {
                input x: [N, 3, 32, 32]
                return x -> f: Fractal(3)
            }
        """),
    ),
    RuleDoc(
        "E108",
        "A value of the wrong kind is used: a tensor where a number belongs, a layer where a "
        "tensor belongs, arithmetic on tensors other than `+ - * /`, comparisons and "
        "unary `-`. Tensors "
        "flow through `->`; numbers configure layers. Also: a layer declared "
        "(`name: Layer(...)`) that nothing flows into, when it needs its input to become code: "
        "a block, or a layer with a `?` argument. A tensor of a dtype the op refuses is one "
        "too: `Linear` on int64 token ids, a `where` condition that is not bool, an integer "
        "parameter (its help names the conversion, `x -> float()`).",
        _spec("""
            model Net {
                input x: [N, 4]
                return x // 2
            }
        """),
        _spec("""
            model Net {
                input x: [N, 4]
                return x / 2
            }
        """),
    ),
    RuleDoc(
        "E109",
        "A model or block is malformed: it has no `return`, a model has no `input`, or the "
        "statements do not form a network from inputs to outputs.",
        _spec("""
            model Net {
                input x: [N, 1, 28, 28]
                y = x -> relu()
            }
        """),
        _spec("""
            model Net {
                input x: [N, 1, 28, 28]
                y = x -> relu()
                return y
            }
        """),
    ),
    RuleDoc(
        "E110",
        "A loop, a list, a block repetition or a number is larger than archspec allows (two "
        "million steps of work per model, 300,000 layers, 256-bit integers). The limits keep a "
        "runaway `range` or blocks that each apply the next one twice an error within seconds "
        "instead of a hang; no real network comes near them.",
        _spec("""
            model Net {
                input x: [N, 8]
                out = x
                for i in range(10 ** 7) {
                    out = out -> relu()
                }
                return out
            }
        """),
        _spec("""
            model Net {
                input x: [N, 8]
                out = x
                for i in range(3) {
                    out = out -> relu()
                }
                return out
            }
        """),
    ),
    RuleDoc(
        "E111",
        "An import resolves to a file outside the project, through `..`, an absolute path or a "
        "symbolic link; archspec reports it and does not read the file. The project is the "
        "nearest folder above the checked file that holds a pyproject.toml, archspec.toml or "
        "`.git` (else the file's own folder), with links resolved. Keep shared blocks inside the "
        "project, or mark a folder that holds them all with an archspec.toml. (The good example "
        "imports `blocks.arch`, shown after it.)",
        _spec("""
            from "../shared/blocks.arch" import Head

            model Net {
                input x: [N, 64]
                return x -> head: Head(64)
            }
        """),
        _spec("""
            from "blocks.arch" import Head

            model Net {
                input x: [N, 64]
                return x -> head: Head(64)
            }
        """),
        companions={
            "blocks.arch": _spec("""
                block Head(features) {
                    input x
                    return x -> fc: Linear(features, 10)
                }
            """)
        },
    ),
    RuleDoc(
        "E201",
        "A layer's declared input channels (`in_channels` of a convolution, `num_features` of a "
        "BatchNorm) differ from the channels of the tensor it receives. The label under the "
        "producing layer shows the shape that arrives. Write `?` to read the count off the input.",
        _spec("""
            model Net {
                input x: [N, 3, 32, 32]
                return x -> conv1: Conv2d(3, 16, 3, padding=1) -> conv2: Conv2d(32, 8, 3)
            }
        """),
        _spec("""
            model Net {
                input x: [N, 3, 32, 32]
                return x -> conv1: Conv2d(3, 16, 3, padding=1) -> conv2: Conv2d(16, 8, 3)
            }
        """),
    ),
    RuleDoc(
        "E202",
        "A Linear's `in_features` differ from the features of the incoming tensor, typically "
        "after a `flatten` whose size was computed by hand for another input size or another "
        "stride. The notes trace the spatial size through the network; `in_features=?` infers it.",
        _spec("""
            model Net {
                input x: [N, 8, 7, 7]
                return x -> flatten(1) -> fc: Linear(8 * 6 * 6, 10)
            }
        """),
        _spec("""
            model Net {
                input x: [N, 8, 7, 7]
                return x -> flatten(1) -> fc: Linear(8 * 7 * 7, 10)
            }
        """),
    ),
    RuleDoc(
        "E203",
        "A convolution or pooling would shrink a spatial size to zero or below: the kernel is "
        "larger than the padded input. Often too many poolings for a small input.",
        _spec("""
            model Net {
                input x: [N, 1, 4, 4]
                return x -> Conv2d(1, 8, kernel_size=5)
            }
        """),
        _spec("""
            model Net {
                input x: [N, 1, 4, 4]
                return x -> Conv2d(1, 8, kernel_size=5, padding=2)
            }
        """),
    ),
    RuleDoc(
        "E204",
        "Tensors joined by `cat` must agree in every dimension except the joined one. The labels "
        "show each input's shape; usually one branch lost its padding.",
        _spec("""
            model Net {
                input x: [N, 8, 16, 16]
                a = x -> branch_a: Conv2d(8, 16, kernel_size=3, padding=1)
                b = x -> branch_b: Conv2d(8, 16, kernel_size=3)
                return cat([a, b], dim=1)
            }
        """),
        _spec("""
            model Net {
                input x: [N, 8, 16, 16]
                a = x -> branch_a: Conv2d(8, 16, kernel_size=3, padding=1)
                b = x -> branch_b: Conv2d(8, 16, kernel_size=3, padding=1)
                return cat([a, b], dim=1)
            }
        """),
    ),
    RuleDoc(
        "E205",
        "Tensors added or multiplied element-wise have shapes that neither match nor broadcast, "
        "as in a residual connection whose shortcut lacks the downsampling of the main path.",
        _spec("""
            model Net {
                input x: [N, 8, 16, 16]
                out = x -> conv: Conv2d(8, 8, kernel_size=1, stride=2)
                return out + x
            }
        """),
        _spec("""
            model Net {
                input x: [N, 8, 16, 16]
                out = x -> conv: Conv2d(8, 8, kernel_size=1)
                return out + x
            }
        """),
    ),
    RuleDoc(
        "E206",
        "A layer receives a tensor with the wrong number of dimensions: a Conv2d after "
        "`flatten`, a Linear on a feature map, a BatchNorm1d on images.",
        _spec("""
            model Net {
                input x: [N, 1, 28, 28]
                return x -> flatten(1) -> Conv2d(1, 8, 3)
            }
        """),
        _spec("""
            model Net {
                input x: [N, 1, 28, 28]
                return x -> Conv2d(1, 8, 3) -> flatten(1)
            }
        """),
    ),
    RuleDoc(
        "E207",
        "A value's stated shape (`out: [N, 64, 7, 7] = ...`) differs from the shape archspec "
        "infers. Stated shapes are checked documentation: they catch a wrong mental model early.",
        _spec("""
            model Net {
                input x: [N, 1, 28, 28]
                out: [N, 32, 28, 28] = x -> Conv2d(1, 32, 3, padding=1) -> MaxPool2d(2)
                return out
            }
        """),
        _spec("""
            model Net {
                input x: [N, 1, 28, 28]
                out: [N, 32, 14, 14] = x -> Conv2d(1, 32, 3, padding=1) -> MaxPool2d(2)
                return out
            }
        """),
    ),
    RuleDoc(
        "E208",
        "A `reshape`, `view` or `flatten` cannot produce the asked shape: the element counts "
        "differ, more than one size is `-1`, or a dimension is out of range.",
        _spec("""
            model Net {
                input x: [N, 1, 28, 28]
                return x -> view(N, 100)
            }
        """),
        _spec("""
            model Net {
                input x: [N, 1, 28, 28]
                return x -> view(N, 784)
            }
        """),
    ),
    RuleDoc(
        "E209",
        "A model input declares a range of sizes (`H in 32..1024`) and some of them fail a "
        "layer's shape rule: a pooling that needs an even size, a `cat` of an upsampled map "
        "with its skip connection, a `Linear` after `flatten`. archspec works out exactly which "
        "sizes pass (`archspec sizes` lists them) and shows the smallest size that fails, with "
        "the layer that rejects it. Declare only the sizes that work (`step` for multiples).",
        _spec("""
            model Net {
                input x: [N, 3, H in 16..256, W in 16..256]
                a = x -> Conv2d(3, 8, 3, padding=1)
                b = a -> MaxPool2d(2) -> ConvTranspose2d(8, 8, 2, stride=2)
                return cat([a, b], 1)
            }
        """),
        _spec("""
            model Net {
                input x: [N, 3, H in 16..256 step 2, W in 16..256 step 2]
                a = x -> Conv2d(3, 8, 3, padding=1)
                b = a -> MaxPool2d(2) -> ConvTranspose2d(8, 8, 2, stride=2)
                return cat([a, b], 1)
            }
        """),
    ),
    RuleDoc(
        "E210",
        "A layer needs a number where the input's shape has a symbol: `Linear(?, 10)` after "
        "flattening a map of symbolic size (its weight would change size with the input), a "
        "convolution whose `in_channels` is read off a symbolic channel dim, or an operation "
        "that has no exact meaning on a symbolic size. Pool to a fixed size first, or give the "
        "number.",
        _spec("""
            model Net {
                input x: [N, 3, H, W]
                h = x -> Conv2d(3, 8, 3, padding=1)
                return h -> flatten(1) -> Linear(?, 10)
            }
        """),
        _spec("""
            model Net {
                input x: [N, 3, H, W]
                h = x -> Conv2d(3, 8, 3, padding=1) -> AdaptiveAvgPool2d((4, 4))
                return h -> flatten(1) -> Linear(?, 10)
            }
        """),
    ),
    RuleDoc(
        "E211",
        "A `tie` makes one tensor serve two layers (a language model's output layer and its "
        "token embedding). Each side must name a parameter the layer has (Linear(..., "
        "bias=False) has no bias), the two must be of one shape, and each parameter is tied "
        "once. Torch accepts any assignment and fails later, in the layer's forward.",
        _spec("""
            model Net {
                input tokens: [N, 16] int64
                wte: Embedding(1000, 64)
                head: Linear(32, 1000, bias=False)
                tie head.weight = wte.weight
                return tokens -> wte -> Linear(64, 32) -> head
            }
        """),
        _spec("""
            model Net {
                input tokens: [N, 16] int64
                wte: Embedding(1000, 64)
                head: Linear(64, 1000, bias=False)
                tie head.weight = wte.weight
                return tokens -> wte -> head
            }
        """),
    ),
    RuleDoc(
        "E212",
        "Integer values that index a table reach past its end: ids looked up in an `Embedding` "
        "(torch refuses ids of num_embeddings or more, and every negative id), or an integer "
        "tensor that indexes another (`table[index]`, from -size to size − 1). archspec knows "
        "the values of tensors made by `arange`, `zeros`, `ones` and `full`, carried through "
        "reshapes, indexing, `cat`, `+ - *` and `sum`; a model input's values are unknown, so "
        "token ids are not checked. With a symbolic size (`arange(L)`), `archspec sizes` gives "
        "the largest size that fits. Torch raises IndexError only when the model runs.",
        _spec("""
            model Net {
                input tokens: [N, 128] int64
                tok: Embedding(1000, 64)
                pos: Embedding(64, 64)
                return (tokens -> tok) + (arange(128) -> pos)
            }
        """),
        _spec("""
            model Net {
                input tokens: [N, 128] int64
                tok: Embedding(1000, 64)
                pos: Embedding(128, 64)
                return (tokens -> tok) + (arange(128) -> pos)
            }
        """),
    ),
    RuleDoc(
        "W001",
        "A pooling layer's stride is larger than its window, so some rows and columns of the "
        "input are never read. This is legal and occasionally intended, but usually a typo "
        "(seed 000's `stride=5` for `stride=2`), and it shrinks the map faster than planned.",
        _spec("""
            model Net {
                input x: [N, 1, 28, 28]
                return x -> MaxPool2d(kernel_size=2, stride=5)
            }
        """),
        _spec("""
            model Net {
                input x: [N, 1, 28, 28]
                return x -> MaxPool2d(kernel_size=2, stride=2)
            }
        """),
    ),
    RuleDoc(
        "W002",
        "A convolution with a bias feeds a BatchNorm, which subtracts the per-channel mean: the "
        "bias is cancelled and only costs parameters. Pass `bias=False` to the convolution.",
        _spec("""
            model Net {
                input x: [N, 3, 8, 8]
                return x -> conv: Conv2d(3, 16, 3, padding=1) -> bn: BatchNorm2d(16)
            }
        """),
        _spec("""
            model Net {
                input x: [N, 3, 8, 8]
                return x -> conv: Conv2d(3, 16, 3, padding=1, bias=False) -> bn: BatchNorm2d(16)
            }
        """),
    ),
    RuleDoc(
        "W003",
        "A value is computed but never reaches an output: its layers would be built and their "
        "parameters trained for nothing (torch's DistributedDataParallel even fails on unused "
        "parameters).",
        _spec("""
            model Net {
                input x: [N, 4]
                side = x -> side: Linear(4, 2)
                return x -> fc: Linear(4, 2)
            }
        """),
        _spec("""
            model Net {
                input x: [N, 4]
                return x -> fc: Linear(4, 2)
            }
        """),
    ),
    RuleDoc(
        "W004",
        "A BatchNorm sees one value per channel per sample (1×1 maps after global pooling): with "
        "a batch of 1 training fails, and with small batches the statistics are noise. Normalise "
        "before the map shrinks, or use GroupNorm or LayerNorm.",
        _spec("""
            model Net {
                input x: [N, 16, 8, 8]
                return x -> AdaptiveAvgPool2d(1) -> bn: BatchNorm2d(16)
            }
        """),
        _spec("""
            model Net {
                input x: [N, 16, 8, 8]
                return x -> bn: BatchNorm2d(16) -> AdaptiveAvgPool2d(1)
            }
        """),
    ),
    RuleDoc(
        "W005",
        "A model declares an input that nothing reads. Callers still have to pass it; remove it "
        "or feed it into the network.",
        _spec("""
            model Net {
                input x: [N, 4]
                input unused: [N, 4]
                return x -> Linear(4, 2)
            }
        """),
        _spec("""
            model Net {
                input x: [N, 4]
                return x -> Linear(4, 2)
            }
        """),
    ),
    RuleDoc(
        "W006",
        "An op with `inplace=True` overwrites a value that is read again afterwards, or a model "
        "input (the caller's tensor changes too). torch then silently computes with the "
        "overwritten values; autograd may also fail.",
        _spec("""
            model Net {
                input x: [N, 4]
                return x -> relu(inplace=True)
            }
        """),
        _spec("""
            model Net {
                input x: [N, 4]
                return x -> relu()
            }
        """),
    ),
    RuleDoc(
        "W007",
        "An `# archspec: ignore[...]` comment suppresses nothing: the finding it was written for "
        "is gone (remove the comment), it sits on another line than the finding's start, or it "
        "names a code that does not exist. Syntax and input errors (E0xx) cannot be suppressed, "
        "so a suppression of them is unused too. Suppressions inside a block, and `ignore-file` "
        "comments in a file that defines blocks, are never reported: whether a block's findings "
        "appear depends on the arguments of the model that uses it, possibly in another file. "
        "`--fix` removes an unused comment (its whole line, when it has the line to itself), or "
        "only the unused codes when others in its list are used; a comment naming an unknown "
        "code is left for you to correct.",
        _spec("""
            model Net {
                input x: [N, 4]
                return x -> Linear(4, 2)  # archspec: ignore[E202]
            }
        """),
        _spec("""
            model Net {
                input x: [N, 4]
                return x -> Linear(3, 2)  # archspec: ignore[E202]
            }
        """),
    ),
    RuleDoc(
        "W008",
        "A keyword argument written as a literal equals torch's default (`stride=1` on a Conv2d, "
        "`padding=0`, `inplace=False`), so it says nothing. This rule is opt-in: it runs only "
        'when its code is named, `--extend-select W008` or `extend-select = ["W008"]` (a '
        "prefix such as `W` does not turn it on). `--fix` removes the argument and its comma. "
        "Arguments passed by position, or written as names, are never reported: removing them "
        "would shift the others, or change a block's other instances.",
        _spec("""
            model Net {
                input x: [N, 1, 28, 28]
                return x -> Conv2d(1, 8, 3, stride=1)
            }
        """),
        _spec("""
            model Net {
                input x: [N, 1, 28, 28]
                return x -> Conv2d(1, 8, 3)
            }
        """),
    ),
    RuleDoc(
        "W009",
        "The input has symbolic sizes (`[N, 1, H, W]`), but a `Linear` after `flatten` expects a "
        "fixed number of features, so the network works only at the few sizes whose flattened "
        "map has exactly that many values. archspec names them; pool to a fixed size first "
        "(`AdaptiveAvgPool2d`, as torchvision's classifiers do) and every size works.",
        _spec("""
            model Net {
                input x: [N, 1, H, W]
                h = x -> Conv2d(1, 8, 3, padding=1) -> MaxPool2d(2)
                return h -> flatten(1) -> Linear(1568, 10)
            }
        """),
        _spec("""
            model Net {
                input x: [N, 1, H, W]
                h = x -> Conv2d(1, 8, 3, padding=1) -> MaxPool2d(2)
                return h -> AdaptiveAvgPool2d((14, 14)) -> flatten(1) -> Linear(1568, 10)
            }
        """),
    ),
    RuleDoc(
        "W010",
        "The text holds an invisible character of the Unicode bidirectional algorithm (a mark, "
        "an embedding, an override or an isolate: U+061C, U+200E, U+200F, U+202A to U+202E, "
        "U+2066 to U+2069). An editor or a code review reorders the line around it, so what a "
        'reader sees may not be what archspec checks ("Trojan Source", CVE-2021-42574). It is '
        "reported wherever it is, in comments and strings too, and shown escaped (here as "
        "`<U+202E>`). Specs never need one: remove it.",
        _spec("""
            # this comment ends in a right-to-left override: \u202e
            model Net {
                input x: [N, 4]
                return x -> Linear(4, 2)
            }
        """),
        _spec("""
            # this comment is plain
            model Net {
                input x: [N, 4]
                return x -> Linear(4, 2)
            }
        """),
    ),
    RuleDoc(
        "W011",
        "An op folds the batch `N` (dim 0 of a model input) into another size: `cat([...], 0)` "
        "of per-sample features makes 2·N rows, `flatten(0)` one row of 64·N values, "
        "`view(-1, 16)` on `[N, 64]` 4·N rows. The model runs, but each output row mixes "
        'samples, and the loss fails much later with "Expected input batch_size (60) to match '
        'target batch_size (10)". The warning is at the op that changed `N`, with the shapes '
        "before and after. Moving `N` (`transpose`) or reducing over it (`mean()`) is not "
        "reported, nor is `view(N, -1)`. Join along a feature dim, flatten from dim 1, keep `N` "
        "in front of a view.",
        _spec("""
            model Net {
                input x: [N, 3, 32, 32]
                return x -> Conv2d(3, 8, 3) -> flatten(0)
            }
        """),
        _spec("""
            model Net {
                input x: [N, 3, 32, 32]
                return x -> Conv2d(3, 8, 3) -> flatten(1)
            }
        """),
    ),
    RuleDoc(
        "W012",
        "`RNN`, `LSTM` and `GRU` apply their `dropout` to the outputs of each stacked layer but "
        "the last, so with `num_layers=1` it drops nothing; torch warns when the layer is built. "
        "Stack layers (`num_layers=2` or more) for dropout between them, or apply a `Dropout` "
        "to the output.",
        _spec("""
            model Net {
                input x: [N, 20, 32]
                out, h = x -> GRU(32, 64, dropout=0.2, batch_first=True)
                return out
            }
        """),
        _spec("""
            model Net {
                input x: [N, 20, 32]
                out, h = x -> GRU(32, 64, num_layers=2, dropout=0.2, batch_first=True)
                return out
            }
        """),
    ),
    RuleDoc(
        "E301",
        "A model exceeds a budget: its parameters, its multiply-accumulates (per sample) or its "
        "forward activation memory (float32, at the budget's batch size) are above the limit set "
        "in the configuration (`[tool.archspec.budgets.<Model>]`) or in a "
        "`# archspec: budget params=30M macs=5G activations=200MiB batch=8` comment on the "
        "model's lines or directly above it. The finding names the measured value, the limit and "
        "the excess, and the three largest contributors. When both sources limit the same "
        "quantity, each must hold and the one exceeded most is reported (the tighter limit "
        "wins). A model with shape errors is not measured. Shrink the model, or raise the budget "
        "if the growth is intended.",
        _spec("""
            # archspec: budget params=500
            model Net {
                input x: [N, 64]
                return x -> Linear(64, 10)
            }
        """),
        _spec("""
            # archspec: budget params=1K
            model Net {
                input x: [N, 64]
                return x -> Linear(64, 10)
            }
        """),
    ),
    RuleDoc(
        "E302",
        "A `# archspec: budget` comment cannot be used: a key other than `params`, `macs`, "
        "`activations` and `batch`, a value that is no whole number (with an optional K, M, G or "
        "T suffix, and for activations KB, MiB, ...), a key given twice, or a comment that is "
        "neither on a model's lines nor on the comment lines directly above one.",
        _spec("""
            # archspec: budget parameters=30M
            model Net {
                input x: [N, 64]
                return x -> Linear(64, 10)
            }
        """),
        _spec("""
            # archspec: budget params=30M
            model Net {
                input x: [N, 64]
                return x -> Linear(64, 10)
            }
        """),
    ),
]

RULE_DOCS: dict[str, RuleDoc] = {doc.code: doc for doc in _DOCS}


# ---------------------------------------------------------------- rendering the documentation


def _visible(text: str) -> str:
    """Control characters as their visible Unicode pictures (U+2400 block), and bidirectional
    controls as `<U+202E>`, for docs."""
    text = BIDI_CONTROLS.sub(lambda found: f"<U+{ord(found.group()):04X}>", text)
    return "".join(
        chr(0x2400 + ord(ch)) if ord(ch) < 32 and ch not in "\t\n" else ch for ch in text
    )


def _wrap(text: str, indent: str = "") -> str:
    return textwrap.fill(text, width=88, initial_indent=indent, subsequent_indent=indent)


def rule_text(code: str) -> str:
    """The plain-text entry `archspec rule CODE` prints."""
    doc = RULE_DOCS[code]
    severity = CODES[code].severity.value
    parts = [f"{code} {doc.name} ({severity}): {doc.summary}", "", _wrap(doc.description)]
    for title, text in (("bad", doc.bad), ("good", doc.good)):
        if text is not None:
            parts += ["", f"{title}:", textwrap.indent(_visible(text).rstrip("\n"), "    ")]
    for name, text in doc.companions.items():
        parts += ["", f"{name}:", textwrap.indent(text.rstrip("\n"), "    ")]
    return "\n".join(parts)


def rule_markdown(code: str) -> str:
    """One rule as a Markdown section (also the SARIF `help.markdown`)."""
    doc = RULE_DOCS[code]
    severity = CODES[code].severity.value
    parts = [f"### {code} `{doc.name}` ({severity})", "", f"*{doc.summary}.*", "", doc.description]
    for title, text in (("Bad", doc.bad), ("Good", doc.good)):
        if text is not None:
            parts += ["", f"{title}:", "", "```arch", _visible(text).rstrip("\n"), "```"]
    for name, text in doc.companions.items():
        parts += ["", f"`{name}`:", "", "```arch", text.rstrip("\n"), "```"]
    return "\n".join(parts)


def rule_list() -> str:
    """`archspec rule --all`: one line per rule."""
    return "\n".join(
        f"{code}  {CODES[code].severity.value:<7}  {CODES[code].name:<21}  {CODES[code].summary}"
        for code in sorted(CODES)
    )


_GROUPS = [
    ("E0", "Syntax and input (E0xx)"),
    ("E1", "Names and arguments (E1xx)"),
    ("E2", "Shapes (E2xx)"),
    ("E3", "Budgets (E3xx)"),
    ("W", "Warnings (Wxxx)"),
]

_PREFACE = """\
# Rules

<!-- Generated from archspec/diagnostics/rules.py by `archspec rule --markdown > docs/rules.md`. -->

Every finding of `archspec check` carries a stable code: E0xx syntax and input, E1xx names and
arguments, E2xx shapes, E3xx budgets, Wxxx warnings. Errors make `archspec check` exit with 1;
warnings do not, unless `--error-on-warning` (or `error-on-warning = true`) is set.
`archspec rule CODE` prints one entry of this page, `archspec rule --all` lists them.

## Choosing rules

`--select`, `--ignore` and `--extend-select` take codes or prefixes (`E2`, `W`, `W00`), comma
separated or repeated. The selection starts from `select` (default: every rule), adds
`extend-select`, then removes `ignore`; on the command line `--select` starts again from its own
list, and `--extend-select` and `--ignore` apply after the configuration's. Syntax and input errors
(E0xx) are always reported: a file that could not be read was not checked. An opt-in rule (W008)
is off by default and turned on only by its full code (`--extend-select W008`).

## Fixes

Findings marked `[*]` have a safe fix, one that cannot change what the spec means: `archspec
check --fix` applies them, re-checks and reports what remains (the exit code follows what
remains); `--fix --diff` prints a unified diff and writes nothing. Findings marked `[~]` have an
unsafe fix, one that changes the model: only `--fix --unsafe-fixes` applies them. A fix is offered
only when the fixed text, checked again, no longer has the finding and has no new one. Fixes edit
only the checked file, keep everything else in it byte for byte, and never touch a file with
syntax errors. W007 (safe): the unused comment (or the unused codes in it) is removed. W008
(safe): the argument and its comma are removed. E201/E202 (unsafe: the layer's parameters
change, and the mistake may be a layer before it): an explicit count written with numbers only
is replaced by the propagated value, when every instance made from it receives the same value
and the count is not found elsewhere in the input (a missing flatten, a channels-first
LayerNorm), where the help names the alternatives instead.

## Budgets

```toml
[tool.archspec.budgets.ResNet50]
params = "30M"                      # integers, or K/M/G/T (powers of 1000)
macs = "4.5G"                       # multiply-accumulates per sample
activations = "200MiB"              # bytes: KB/MB/GB (1000s) or KiB/MiB/GiB (1024s)
batch = 8                           # the activation estimate's batch size (default 1)
```

or in the spec, on the model's lines or the comment lines directly above it:
`# archspec: budget params=30M macs=5G activations=200MiB batch=8`. A model over a budget is E301,
at its name, with the excess and its three largest contributors; when both the configuration and
the spec limit a quantity, every limit must hold (the tighter one wins). A model under budget
reports nothing.

## Suppression comments

```arch
model Net {
    input x: [N, 4]
    return x -> Linear(3, 2)  # archspec: ignore[E202]
}
# archspec: ignore-file[W002, W005]
```

`# archspec: ignore[CODE, ...]` on the line where a finding starts (its `^^^`) suppresses those
codes there; `# archspec: ignore` alone suppresses every code on that line.
`# archspec: ignore-file[CODE, ...]` anywhere in a file suppresses those codes in the whole file,
`# archspec: ignore-file` every code. Text after the closing `]` is free for a reason. A
suppression that suppresses nothing is reported as W007 (turn that off with `ignore = ["W007"]`
or `# archspec: ignore-file[W007]`). A finding inside an imported block is suppressed by comments
in the block's own file.

## Configuration

`archspec check` reads `[tool.archspec]` from the `pyproject.toml`, or the top level of an
`archspec.toml`, nearest to each checked file (walking up its folders; in one folder
`archspec.toml` wins). Paths and globs are relative to that file's folder; the command line
overrides it.

```toml
[tool.archspec]
select = ["E", "W"]                 # codes or prefixes; default: every rule
ignore = ["W003"]
extend-select = []
error-on-warning = false            # warnings make the exit code 1
output-format = "full"              # full, concise, json, github, sarif, gitlab
exclude = ["build", "experiments/**/*.arch"]     # skipped when a folder is expanded
[tool.archspec.per-file-ignores]
"legacy/*.arch" = ["W"]
```

An unknown key or a value of the wrong type is an error (exit code 2) that names the closest valid
key. Globs match the path relative to the configuration's folder; a glob without `/` matches a file
or folder name at any depth.

## Output formats

`--output-format full|concise|json|github|sarif|gitlab` (or `ARCHSPEC_OUTPUT_FORMAT`, or
`output-format` in the configuration): `full` is the annotated source with `^^^` and `---` labels
(coloured on a terminal: `--color auto|always|never`, `NO_COLOR`, `FORCE_COLOR`), `concise` one
`path:line:col: CODE message` line per finding, `json` archspec's own schema, `github` workflow
commands that GitHub Actions shows as annotations (errors first), `sarif` SARIF 2.1.0 for code
scanning, `gitlab` a GitLab Code Quality report. `--output-file PATH` writes the output there.
"""


def rules_markdown() -> str:
    """The whole of docs/rules.md."""
    parts = [_PREFACE.rstrip("\n")]
    for prefix, title in _GROUPS:
        parts += ["", f"## {title}"]
        for code in sorted(c for c in CODES if c.startswith(prefix)):
            parts += ["", rule_markdown(code)]
    return "\n".join(parts) + "\n"
