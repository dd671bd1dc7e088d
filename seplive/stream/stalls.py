"""Where a live run's time went when it was not the model's: the counters that tell a
stall (the main loop late, the garbage collector, the input falling behind) from a model
too slow for its hop.  Cheap enough for every block: a few clock reads and comparisons.
"""

from __future__ import annotations

import gc
import time
from typing import Any


class StallMeter:
    """Timings of the session's main loop, and of the garbage collector while it runs.

    ``loop_gap`` is the longest time between two blocks coming in from the source (the
    block's own length when all is well: the source paces the loop); ``loop_work`` the
    longest time one block took from the source to the outputs (model waits included);
    ``behind_blocks`` the blocks read while the input was more than half its allowed
    backlog behind (the loop catching up after a stall).
    """

    def __init__(self) -> None:
        self.loop_gap_s_max = 0.0
        self.loop_work_s_max = 0.0
        self.behind_blocks = 0
        self.gc_collections = 0
        self.gc_pause_s_max = 0.0
        self.gc_pause_s_total = 0.0
        self._last_in: float | None = None
        self._gc_start = 0.0
        self._installed = False
        self._frozen = False

    # -- the loop ------------------------------------------------------------------------
    def block_in(self) -> float:
        """A block has come from the source; returns the time (``perf_counter``)."""
        now = time.perf_counter()
        if self._last_in is not None and now - self._last_in > self.loop_gap_s_max:
            self.loop_gap_s_max = now - self._last_in
        self._last_in = now
        return now

    def block_out(self, started: float) -> None:
        """The block that came in at ``started`` has gone to the outputs."""
        work = time.perf_counter() - started
        if work > self.loop_work_s_max:
            self.loop_work_s_max = work

    # -- the garbage collector -----------------------------------------------------------
    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
            return
        pause = time.perf_counter() - self._gc_start
        self.gc_collections += 1
        self.gc_pause_s_total += pause
        if pause > self.gc_pause_s_max:
            self.gc_pause_s_max = pause

    def start(self, freeze: bool = False) -> None:
        """Start counting.  ``freeze``: collect once now and move every object there is
        (the model, torch's and numpy's modules: a few hundred thousand) out of the
        collector's sight until :meth:`stop`, so that a full collection during the run
        walks only what the run itself made: ~150 ms otherwise on a 2-core VM, longer
        than the output buffer."""
        if freeze and not self._frozen:
            gc.collect()
            gc.freeze()
            self._frozen = True
        if not self._installed:  # after the collection above: that one is not the run's
            gc.callbacks.append(self._on_gc)
            self._installed = True

    def stop(self) -> None:
        if self._installed:
            gc.callbacks.remove(self._on_gc)
            self._installed = False
        if self._frozen:  # a Python program that goes on after the run gets its collector back
            gc.unfreeze()
            self._frozen = False

    def report(self) -> dict[str, Any]:
        return {
            "loop_gap_ms_max": 1000.0 * self.loop_gap_s_max,
            "loop_work_ms_max": 1000.0 * self.loop_work_s_max,
            "behind_blocks": self.behind_blocks,
            "gc_collections": self.gc_collections,
            "gc_pause_ms_max": 1000.0 * self.gc_pause_s_max,
            "gc_pause_ms_total": 1000.0 * self.gc_pause_s_total,
        }
