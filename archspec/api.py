"""The Python API: load a spec, get its source, build its nn.Module.

`build` executes exactly the source that `archspec compile` writes (not a second interpreter), so
what runs is what was checked. Only `build` imports torch, and only when called.
"""

from __future__ import annotations

import hashlib
import linecache
import os
import sys
import types
from typing import Any

from archspec.core import diagnostic as diag
from archspec.diagnostics.formats import render_text
from archspec.driver import CheckResult, check_file, check_text
from archspec.outputs.codegen import generate_module
from archspec.tools.verify import built_problems, import_externs, verify_model

TORCH_EXTRA = "pip install 'archspec-nn[torch]'"


class TorchMissingError(ModuleNotFoundError):
    """build()/verify() need PyTorch, and it cannot be imported: says which extra installs it."""


def _require_torch(action: str) -> None:
    """Import torch now, so that its absence reads as an instruction rather than as a
    ModuleNotFoundError from inside the generated module."""
    try:
        import torch  # noqa: F401
    except ImportError as error:
        raise TorchMissingError(
            f"archspec.{action} needs PyTorch, which cannot be imported here ({error}); "
            f"install archspec with its torch extra: {TORCH_EXTRA} "
            "(checking, compiling and drawing specs need no torch)",
            name="torch",
        ) from error


class SpecError(Exception):
    """A spec with errors: the message is the rendered diagnostics."""

    def __init__(self, result: CheckResult, diagnostics: list[diag.Diagnostic] | None = None):
        """`diagnostics`: findings of building or verifying a spec that checks (an extern that
        does not import, or breaks its contract), instead of the check's errors."""
        # Suppressed errors count here: a comment hides a report, the model is still incomplete.
        errors = [d for d in result.diagnostics if d.severity is diag.Severity.ERROR]
        errors += result.hidden_errors
        if diagnostics is not None:
            errors = list(diagnostics)
        text = "\n\n".join(render_text(d) for d in errors)
        super().__init__(f"{result.path} has {len(errors)} error(s):\n\n{text}")
        self.result = result
        self.diagnostics = errors


def _is_path(spec: str) -> bool:
    return "\n" not in spec and (spec.endswith(".arch") or os.path.exists(spec))


def load(spec: str | os.PathLike, **model_args: Any) -> CheckResult:
    """Check a spec (a path, or the text of one) and return the checked result: its models, each
    with per-node shapes, parameter and MAC counts, and its diagnostics. Raises SpecError if the
    spec has errors. `model_args` override the parameters of the file's single model."""
    result = _check(spec, None, model_args)
    if not result.ok:
        raise SpecError(result)
    return result


def _check(spec, model: str | None, model_args: dict[str, Any]) -> CheckResult:
    spec = os.fspath(spec)
    overrides = {}
    if model_args:
        probe = check_file(spec) if _is_path(spec) else check_text(spec)
        name = model or _single_model(probe).name
        overrides = {name: model_args}
    if _is_path(spec):
        return check_file(spec, overrides)
    return check_text(spec, "<string>", overrides)


def _single_model(result: CheckResult):
    if not result.ok:
        raise SpecError(result)
    return result.model()


def compile_source(spec: str | os.PathLike, model: str | None = None, **model_args: Any) -> str:
    """The generated Python module for a spec (what `archspec compile` writes)."""
    result = _check(spec, model, model_args)
    if not result.complete:
        raise SpecError(result)
    return generate_module(result).source


def build(
    spec: str | os.PathLike, model: str | None = None, *, verify: bool = False, **model_args: Any
):
    """Compile a spec and instantiate one of its models as a torch.nn.Module.

    `model` picks a model when the file defines several; keyword arguments override the model's
    parameters (`build("resnet.arch", num_classes=10)`). The spec's externs are imported (a
    SpecError at the extern if one does not import or is no nn.Module); `verify=True` also runs
    each once and raises a SpecError where one breaks its contract (see `verify`)."""
    result = _check(spec, model, model_args)
    if not result.complete:
        raise SpecError(result)
    _require_torch("build")
    chosen = result.model(model)
    built = _build(result, chosen)
    if verify:
        found = verify_model(built, chosen)
        if found:
            raise SpecError(result, found)
    return built


def verify(
    spec: str | os.PathLike, model: str | None = None, **model_args: Any
) -> list[diag.Diagnostic]:
    """Build a spec's models (or `model`) and run each extern once on example inputs at the
    spec's sizes (on the meta device where possible): the findings, one per output whose shape
    or dtype breaks its contract, at the extern's declaration. Raises SpecError if the spec has
    errors, or an extern does not import."""
    result = _check(spec, model, model_args)
    if not result.complete:
        raise SpecError(result)
    _require_torch("verify")
    chosen = [result.model(model)] if model is not None else result.models
    found: list[diag.Diagnostic] = []
    for checked in chosen:
        found.extend(verify_model(_build(result, checked), checked))
    return found


def _build(result: CheckResult, chosen):
    problems = import_externs(result)
    if problems:
        raise SpecError(result, problems)
    generated = generate_module(result)
    module = _import_source(generated.source, result.path)
    built = getattr(module, generated.classes[chosen.name])()
    problems = built_problems(built, chosen)
    if problems:
        raise SpecError(result, problems)
    return built


def _import_source(source: str, spec_path: str) -> types.ModuleType:
    """Execute generated source as a real module: registered in sys.modules (so instances pickle
    within the process) and in linecache (so tracebacks and torch.jit.script see its lines)."""
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]
    name = f"archspec_generated_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    filename = f"<archspec {spec_path} {digest}>"
    module = types.ModuleType(name)
    module.__file__ = filename
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    code = compile(source, filename, "exec")
    sys.modules[name] = module
    try:
        exec(code, module.__dict__)
    except BaseException:
        del sys.modules[name]
        raise
    return module
