"""archspec._gc.gc_paused: the collector is paused while a check builds its objects, and left as
the program had it afterwards, with those objects in the oldest generation."""

from __future__ import annotations

import gc

import pytest

from archspec._gc import gc_paused
from archspec.driver import check_text

SPEC = "model M {\n    input x: [N, 3, 8, 8]\n    return x -> ReLU()\n}\n"


@pytest.fixture(autouse=True)
def _collector_restored():
    yield
    gc.enable()
    gc.unfreeze()


def test_a_check_runs_with_the_collector_paused(monkeypatch):
    import archspec.driver as driver

    seen = []
    real = driver._finish
    monkeypatch.setattr(
        driver, "_finish", lambda *a, **k: seen.append(gc.isenabled()) or real(*a, **k)
    )
    check_text(SPEC)
    assert seen == [False]


def test_a_check_leaves_the_collector_enabled_and_nothing_frozen():
    check_text(SPEC)
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_what_the_phase_made_goes_to_the_oldest_generation():
    def make() -> list:
        return [[i] for i in range(1_000)]

    gc.collect()
    made = gc_paused(make)()
    assert any(obj is made for obj in gc.get_objects(generation=2))
    assert not any(obj is made for obj in gc.get_objects(generation=0))


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
