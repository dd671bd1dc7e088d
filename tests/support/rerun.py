"""Rerunning a live run that a machine stall spoiled.

A device test's run can be spoiled by the machine rather than the code: a CI VM stalls for
tens of milliseconds, a hop misses its deadline and plays the dry input, an output ring
underflows.  Such a stall is a one-off; a fault of the code under test happens on every run.
So a test reruns a spoiled run (at most ``tries`` times) and then asserts on the last one
with its bounds unchanged: a real fault still fails.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def rerun(attempt: Callable[[int], T], clean: Callable[[T], bool], tries: int = 3) -> T:
    """``attempt(i)`` for i = 0, 1, ... until ``clean(result)`` or ``tries`` runs; the last result."""
    for i in range(tries):
        out = attempt(i)
        if clean(out):
            break
    return out
