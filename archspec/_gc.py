"""Pausing Python's cyclic garbage collector while a phase allocates many long-lived objects.

Parsing and elaborating a huge spec creates millions of objects that all stay alive; each full
collection walks all of them, which made `archspec check` on 100k layers spend about half its
time in the collector. The phases create no garbage cycles worth collecting early, so the
collector is paused for them and resumes (as it was) afterwards."""

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
            gc.enable()

    return wrapper
