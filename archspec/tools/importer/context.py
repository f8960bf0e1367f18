"""What one import shares while it runs: the model, what the run observed (each module's first
call, its constructor's arguments), the batch, and what was found (problems, externs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from archspec.tools.importer.capture import Construction, Observed
from archspec.tools.importer.units import Problem, Unit


class Unmappable(Exception):
    def __init__(self, problems: list[Problem]):
        super().__init__("; ".join(map(str, problems)))
        self.problems = problems


@dataclass
class Context:
    """What the whole import shares: the model, what the run observed, the batch size of the
    example inputs (dim 0 of that size reads as N), whether to fall back on externs."""

    root: Any
    observed: dict[str, Observed]
    first_inputs: dict[str, tuple[tuple, dict]]
    constructions: dict[int, Construction]
    batch: int
    extern_unsupported: bool
    problems: list[Problem] = field(default_factory=list)
    externs: list[Unit] = field(default_factory=list)
    omitted: list[Problem] = field(default_factory=list)  # never called: not in the spec
    _paths: dict[int, str] | None = None

    def first_call(self, module, path: str) -> tuple[tuple, dict] | None:
        """The arguments of the module's first call: a module held under two names (coat's
        shared `cpe`) was seen under the first one only."""
        if path in self.first_inputs:
            return self.first_inputs[path]
        if self._paths is None:
            self._paths = {id(m): name for name, m in self.root.named_modules()}
        return self.first_inputs.get(self._paths.get(id(module), path))

    _other: dict[str, tuple[tuple, dict]] | None = None

    def call_at_other_batch(self, module, path: str) -> tuple[tuple, dict] | None:
        """The module's first call in a run of the model on one more sample: a size that
        grows with it is the batch times a count (`98` at batch 2 is `49 * N`). Only where
        the model runs on the meta device (no arithmetic, and nothing of the user's model
        touched); None where that run was not made or failed."""
        if self._other is None:
            self._other = _first_inputs_at_other_batch(self.root, self.first_inputs, self.batch)
        if self._paths is None:
            self._paths = {id(m): name for name, m in self.root.named_modules()}
        return self._other.get(path) or self._other.get(self._paths.get(id(module), path))


def _first_inputs_at_other_batch(root, first_inputs, batch: int) -> dict:
    import torch

    from archspec.tools.importer.capture import first_calls

    tensors = [*root.parameters(), *root.buffers()]
    inputs = first_inputs.get("", ((), {}))[0]
    if not tensors or not all(t.is_meta for t in tensors) or root.training:
        return {}
    grown = tuple(
        torch.empty((batch + 1, *x.shape[1:]), dtype=x.dtype, device=x.device)
        if isinstance(x, torch.Tensor) and x.dim() and x.shape[0] == batch
        else x
        for x in inputs
    )
    try:
        return first_calls(root, grown)
    except Exception:  # noqa: BLE001 - then every size is read as a number, as before
        return {}
