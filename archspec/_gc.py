"""Pausing Python's cyclic garbage collector while a phase allocates many long-lived objects.

Checking a huge spec creates millions of objects that all stay alive (AST, graph, shapes). With
the collector running, each full collection walks all of them: about half of `archspec check`'s
time on 100k layers. So the check runs with the collector paused; it creates no garbage cycles
worth collecting early.

Resuming is not free either: the collector would then walk every object the phase made, from the
youngest generation up, at the first allocation after it (1.5 s after a 100k-layer check, paid by
whatever the caller does next). So the phase's objects are moved straight to the oldest
generation first (gc.freeze() then gc.unfreeze(), two constant-time list moves), where they are
examined only by a later full collection, as long-lived objects are. That is skipped when the
program has frozen objects of its own (gc.freeze() before a fork): unfreezing would release them.
"""

from __future__ import annotations

import functools
import gc


def gc_paused(function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        if not gc.isenabled():
            return function(*args, **kwargs)
        gc.disable()
        try:
            return function(*args, **kwargs)
        finally:
            if gc.get_freeze_count() == 0:
                gc.freeze()
                gc.unfreeze()
            gc.enable()

    return wrapper
