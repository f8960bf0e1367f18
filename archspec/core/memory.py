"""Pausing Python's cyclic garbage collector while a phase allocates many long-lived objects.

Checking a huge spec creates millions of objects that all stay alive (AST, graph, shapes). With
the collector running, each full collection walks all of them: about half of `archspec check`'s
time on 100k layers. So parsing, elaboration, each inference and lint run with the collector
paused; they make little cyclic garbage (about a thousand objects for resnet50), nothing worth
collecting early. (The symbolic-size search, which runs inference up to 400 times, keeps the
collector running between runs.)

Resuming is not free either: at the first allocation after it, the collector walks every object
the phase made, from the youngest generation up (1.5 s after a 100k-layer check). After a phase
that made at least PROMOTE_AT_LEAST objects, they are moved straight to the oldest generation
instead (gc.freeze() then gc.unfreeze(): two constant-time list moves), where only a full
collection examines them, as it does long-lived objects.

CPython decides when to run a full collection by counting the objects that reach the oldest
generation through its own collections, so it does not count promoted ones: a long-running
program (the language server, a test run) that promoted check after check would keep their
cyclic garbage. So promotion stops once PROMOTED_LIMIT objects were promoted since the last full
collection; phases then resume normally, which soon brings one about. Small phases always resume
normally. Nothing is promoted while the program has frozen objects of its own (gc.freeze() before
a fork): unfreezing would release them.
"""

from __future__ import annotations

import functools
import gc

PROMOTE_AT_LEAST = 100_000  # objects a phase made (parsing a spec of about 3,000 layers)
PROMOTED_LIMIT = 20_000_000  # objects promoted between two full collections

_promoted = {"objects": 0, "full_collections": 0}


def gc_paused(function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        if not gc.isenabled():
            return function(*args, **kwargs)
        gc.disable()
        try:
            return function(*args, **kwargs)
        finally:
            _resume()

    return wrapper


def freeze_startup() -> None:
    """For a process that checks and exits (the CLI): the modules, grammar tables and op registry
    its imports made live until it exits, so every collection that walks them is wasted (a fifth
    of checking swin_t). Freezing them keeps collections to what checking makes. Not for a
    long-running process (the language server): it keeps what it froze forever."""
    if gc.get_freeze_count() == 0:
        gc.freeze()
        _promoted["startup_frozen"] = True


def _resume() -> None:
    made = gc.get_count()[0]  # objects allocated (less freed) since the last collection
    full_collections = gc.get_stats()[2]["collections"]
    if full_collections != _promoted["full_collections"]:  # the oldest generation was examined
        _promoted.update(objects=0, full_collections=full_collections)
    ours = _promoted.get("startup_frozen", False)  # the frozen objects are this process's own
    promote = (
        made >= PROMOTE_AT_LEAST
        and _promoted["objects"] + made <= PROMOTED_LIMIT
        and (gc.get_freeze_count() == 0 or ours)
    )
    if promote:
        gc.freeze()
        if not ours:  # after freeze_startup the phase's objects stay frozen with the imports'
            gc.unfreeze()
        _promoted["objects"] += made
    gc.enable()
