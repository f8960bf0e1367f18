"""The registry: op name -> OpSpec. Family modules register their ops on import."""

from __future__ import annotations

from archspec.ops.base import OpSpec

REGISTRY: dict[str, OpSpec] = {}


def register(spec: OpSpec) -> OpSpec:
    if spec.name in REGISTRY:
        raise ValueError(f"op {spec.name} registered twice")
    REGISTRY[spec.name] = spec
    return spec
