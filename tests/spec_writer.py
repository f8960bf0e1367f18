"""Random networks as spec text, shared by the torch differential test (test_random_graphs.py)
and the symbolic-size test (test_sizes.py): the network description and the writer of its
layers, forks and blocks. Each test writes its own input and head (`spec`)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PythonRef:
    """An extern value: written `extern "torch.nn:Hardsigmoid"`, given to torch as the object."""

    module: str
    attribute: str

    def __repr__(self) -> str:
        return f'extern "{self.module}:{self.attribute}"'

    def resolve(self):
        import importlib

        return getattr(importlib.import_module(self.module), self.attribute)


@dataclass
class Layer:
    kind: str  # an nn class name, or "flatten"
    args: dict = field(default_factory=dict)
    infer: str | None = None  # the argument written as `?` in the spec


@dataclass
class Fork:
    left: list
    right: list
    join: str  # "cat" or "add"


@dataclass
class BlockUse:
    body: list


def call_text(layer: Layer) -> str:
    parts = [] if layer.infer is None else [f"{layer.infer}=?"]
    parts += [f"{k}={v!r}" for k, v in layer.args.items()]
    return f"{layer.kind}({', '.join(parts)})"


class SpecWriter:
    def __init__(self):
        self.blocks: list[str] = []
        self.counter = 0

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def chain(self, steps, value: str, lines: list[str]) -> str:
        for step in steps:
            target = self.fresh("v")
            if isinstance(step, Layer):
                lines.append(f"{target} = {value} -> {call_text(step)}")
            elif isinstance(step, Fork):
                left = self.chain(step.left, value, lines)
                right = self.chain(step.right, value, lines)
                lines.append(f"{target} = {self.join_text(step.join, left, right)}")
            else:
                name = self.fresh("Block")
                body: list[str] = []
                result = self.chain(step.body, "x", body)
                inner = "\n".join(f"    {line}" for line in body)
                self.blocks.append(
                    f"block {name}() {{\n    input x\n{inner}\n    return {result}\n}}"
                )
                lines.append(f"{target} = {value} -> {name}()")
            value = target
        return value

    def join_text(self, join: str, left: str, right: str) -> str:
        """How a fork's branches meet: `cat` along the channels, or `+` (a test may add more)."""
        return f"cat([{left}, {right}], 1)" if join == "cat" else f"{left} + {right}"

    def model(self, shape: str, lines: list[str], out: str) -> str:
        """The blocks written so far, then `model Net` with this input shape and body."""
        text = "\n".join(f"    {line}" for line in lines)
        model = f"model Net {{\n    input x: {shape}\n{text}\n    return {out}\n}}\n"
        return "\n\n".join([*self.blocks, model])
