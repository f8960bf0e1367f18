"""The importer's proof for one model: import -> check (no errors) -> compile and build -> strict
load_state_dict from the original -> the same outputs in eval mode. Used by tests/test_import.py
and by `make import-report` (docs/import-report.md)."""

from __future__ import annotations

from dataclasses import dataclass, field

TOLERANCE = 1e-5


@dataclass
class RoundTrip:
    """How far one model got: result is "exact", or the first stage that failed."""

    name: str
    # exact | import fails | model is an extern | check errors | build fails | load fails |
    # run fails | differs
    result: str
    reason: str = ""
    lines: int = 0
    externs: list[str] = field(default_factory=list)
    extern_reasons: list[str] = field(default_factory=list)  # why each extern is one
    difference: float | None = None
    text: str = ""

    @property
    def exact(self) -> bool:
        return self.result == "exact"


def round_trip(name: str, build, inputs: dict[str, tuple], *, batch: int = 2) -> RoundTrip:
    """`build()` makes the original model (called inside the importer's recording, so externs
    get its constructor arguments); `inputs` as import_factory takes them."""
    import torch

    from archspec.driver import check_text
    from archspec.tools.importer import ImportFailure, import_module
    from archspec.tools.importer.capture import recording_constructions

    with recording_constructions() as made:
        original = build()
    original.eval()
    generator = torch.Generator().manual_seed(0)
    example = tuple(
        torch.randn(*[batch if s == "N" else s for s in shape], generator=generator)
        for shape in inputs.values()
    )
    try:
        imported = import_module(original, example, extern_unsupported=True, constructions=made)
    except ImportFailure as failure:
        return RoundTrip(name, "import fails", str(failure.problems[0]))
    except Exception as error:  # noqa: BLE001 - the report names any failure
        return RoundTrip(name, "import fails", _first_line(error))
    trip = RoundTrip(
        name, "exact", lines=len(imported.text.splitlines()), text=imported.text,
        externs=[path for path, _ in imported.externs],
        extern_reasons=[reason for _, reason in imported.externs],
    )  # fmt: skip
    whole = [reason for path, reason in imported.externs if path == ""]
    if whole:  # its own forward is not written: the spec holds the model, not its layers
        trip.result, trip.reason = "model is an extern", whole[0]
        return trip
    checked = check_text(imported.text, f"<imported {name}>")
    errors = [d for d in checked.diagnostics if d.severity == "error"]
    if errors:
        trip.result, trip.reason = "check errors", f"{errors[0].code}: {errors[0].message}"
        return trip
    try:
        rebuilt = _loaded(checked, original)
    except _LoadFailure as failure:
        trip.result, trip.reason = "load fails", _first_line(failure.__cause__ or failure)
        return trip
    except Exception as error:  # noqa: BLE001
        trip.result, trip.reason = "build fails", _first_line(error)
        return trip
    rebuilt.eval()
    example = tuple(x[:1] for x in example)  # a batch of one: the comparison needs no more
    try:
        with torch.no_grad():
            expected, actual = original(*example), rebuilt(*example)
    except Exception as error:  # noqa: BLE001
        trip.result, trip.reason = "run fails", _first_line(error)
        return trip
    trip.difference = _difference(expected, actual)
    if trip.difference is None or trip.difference > TOLERANCE:
        trip.result = "differs"
        trip.reason = "outputs differ" if trip.difference is None else (
            f"outputs differ by {trip.difference:.3g}")  # fmt: skip
    return trip


class _LoadFailure(Exception):
    pass


def _loaded(checked, original):
    """The rebuilt model holding the original's state_dict (strict). Built on the meta device
    first (no random initialisation to pay for), the weights then assigned; where a tensor is
    left on meta (a buffer the state_dict does not hold), built again for real."""
    import torch

    state = original.state_dict()
    with torch.device("meta"):
        rebuilt = build_checked(checked)
    try:
        rebuilt.load_state_dict(state, strict=True, assign=True)
    except Exception as error:  # noqa: BLE001
        raise _LoadFailure from error
    tensors = [*rebuilt.parameters(), *rebuilt.buffers()]
    if any(t.is_meta for t in tensors):
        rebuilt = build_checked(checked)
        rebuilt.load_state_dict(state, strict=True)
    return rebuilt


def build_checked(checked):
    """The checked spec's (single) model as an nn.Module: its generated source run as a
    module of its own (what archspec.build does, without the API layer above tools/)."""
    from archspec.outputs.codegen import generate_module

    generated = generate_module(checked)
    model = checked.models[0]
    namespace: dict = {"__name__": f"archspec_imported_{model.name}"}
    exec(compile(generated.source, f"<archspec import {model.name}>", "exec"), namespace)
    return namespace[generated.classes[model.name]]()


def _difference(expected, actual) -> float | None:
    """The largest absolute difference of two outputs of the same structure, else None."""
    import torch

    if isinstance(expected, torch.Tensor) and isinstance(actual, torch.Tensor):
        if expected.shape != actual.shape:
            return None
        return float((expected.float() - actual.float()).abs().max()) if expected.numel() else 0.0
    if isinstance(expected, dict) and isinstance(actual, dict):
        expected, actual = list(expected.values()), list(actual.values())
    if isinstance(expected, (tuple, list)) and isinstance(actual, (tuple, list)):
        if len(expected) != len(actual):
            return None
        parts = [_difference(e, a) for e, a in zip(expected, actual, strict=True)]
        return None if any(p is None for p in parts) else max(parts, default=0.0)
    return None


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    detail = " ".join(line.strip() for line in text[:2])[:240]
    return f"{type(error).__name__}: {detail}" if detail else type(error).__name__
