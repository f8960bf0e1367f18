"""archspec.core.memory.gc_paused: the collector is paused while a check builds its objects, and
left as the program had it afterwards, with those objects in the oldest generation."""

from __future__ import annotations

import gc

import pytest

from archspec.core import memory as _gc
from archspec.core.memory import gc_paused
from archspec.driver import check_text

SPEC = "model M {\n    input x: [N, 3, 8, 8]\n    return x -> ReLU()\n}\n"


@pytest.fixture(autouse=True)
def _collector_restored():
    gc.unfreeze()  # each test starts as a fresh process: nothing frozen
    yield
    gc.enable()
    gc.unfreeze()


def test_the_phases_of_a_check_run_with_the_collector_paused(monkeypatch):
    import archspec.diagnostics.lint
    import archspec.shapes.infer
    import archspec.syntax.parser

    seen = {}

    def spy(module, name):
        real = getattr(module, name)

        def wrapper(*args, **kwargs):
            seen[name] = gc.isenabled()
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)

    spy(archspec.syntax.parser, "get_parser")
    spy(archspec.shapes.infer, "_infer")
    spy(archspec.diagnostics.lint, "_unused_values")
    check_text(SPEC)
    assert seen == {"get_parser": False, "_infer": False, "_unused_values": False}
    assert gc.isenabled()


def test_a_check_leaves_the_collector_enabled_and_nothing_frozen():
    check_text(SPEC)
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def _make(count: int):
    return gc_paused(lambda: [[i] for i in range(count)])()


def test_a_big_phases_objects_go_to_the_oldest_generation(monkeypatch):
    monkeypatch.setattr(_gc, "PROMOTE_AT_LEAST", 1_000)
    gc.collect()
    made = _make(2_000)
    assert any(obj is made for obj in gc.get_objects(generation=2))
    assert not any(obj is made for obj in gc.get_objects(generation=0))


def test_a_small_phase_resumes_normally(monkeypatch):
    monkeypatch.setattr(_gc, "PROMOTE_AT_LEAST", 1_000)
    gc.collect()
    made = _make(100)
    assert not any(obj is made for obj in gc.get_objects(generation=2))


def test_promotion_stops_at_its_limit_until_a_full_collection(monkeypatch):
    monkeypatch.setattr(_gc, "PROMOTE_AT_LEAST", 1_000)
    monkeypatch.setattr(_gc, "PROMOTED_LIMIT", 5_000)
    gc.collect()
    first = _make(3_000)  # promoted: 3,000 of 5,000
    second = _make(3_000)  # over the limit: resumes normally
    assert any(obj is first for obj in gc.get_objects(generation=2))
    assert not any(obj is second for obj in gc.get_objects(generation=2))
    gc.collect()  # a full collection examined everything: promotion may start again
    third = _make(3_000)
    assert any(obj is third for obj in gc.get_objects(generation=2))


def test_cyclic_garbage_of_repeated_checks_is_collected():
    """The language server's case: many checks in one process must not keep their garbage."""
    gc.collect()
    for _ in range(200):
        check_text(SPEC)
    assert gc.collect() < 50_000  # a few hundred objects a check, not all of them kept


def test_a_programs_own_frozen_objects_stay_frozen():
    kept = [[1], [2]]
    gc.freeze()
    frozen = gc.get_freeze_count()
    check_text(SPEC)
    after = gc.get_freeze_count()
    # Neither released (unfrozen, the count would be 0) nor joined by the check's own objects;
    # a few frozen temporaries may have been freed meanwhile.
    assert frozen - 100 < after <= frozen
    assert kept


def test_a_collector_the_program_paused_stays_paused():
    gc.disable()
    check_text(SPEC)
    assert not gc.isenabled()


def test_after_freeze_startup_a_big_phase_is_frozen_too(monkeypatch):
    """`archspec check` run as a process (cli.run) freezes what its imports made; a big phase is
    then promoted by freezing it too (unfreezing would release the imports' objects)."""
    monkeypatch.setattr(_gc, "PROMOTE_AT_LEAST", 1_000)
    monkeypatch.setitem(_gc._promoted, "startup_frozen", False)  # restored afterwards
    gc.unfreeze()  # a fresh process has nothing frozen (the fixture unfreezes afterwards)
    assert gc.isenabled(), "the collector"
    gc.collect()
    _gc.freeze_startup()
    frozen = gc.get_freeze_count()
    assert frozen > 0
    made = _make(2_000)  # kept: a frozen object that is freed leaves the frozen generation
    assert gc.get_freeze_count() >= frozen + len(made)
    assert gc.isenabled()


def test_main_called_in_process_freezes_nothing():
    from archspec.cli import main

    assert main(["check", "specs/seeds/mnist_cnn.arch"]) == 0
    assert gc.get_freeze_count() == 0
