"""Counters of one engine, and the bookkeeping of hops that failed or missed.

A hop's result is a ``(stems, prompts)`` tuple (it played), ``None`` (a deadline miss),
:data:`BYPASSED` (the model is bypassed: plays dry, not a new failure) or the exception
the plugin raised.  :class:`HopHealth` counts them, bypasses a model after
``MAX_CONSECUTIVE_FAILURES`` failing hops in a row, and gives the too-slow advice once.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

log = logging.getLogger("seplive.engine")

#: after this many consecutive failing hops the model is bypassed for the session
MAX_CONSECUTIVE_FAILURES = 50
#: the result of a hop while the model is bypassed (plays dry; not a new failure)
BYPASSED = RuntimeError("bypassed")
#: deadline misses (and at least 5 % of hops) before the too-slow advice is given, once
OVERLOAD_MISSES = 20


@dataclass
class EngineCounters:
    hops: int = 0
    deadline_misses: int = 0
    #: the misses by cause: ``misses_no_time``, the output could not give the model its
    #: compute budget when it asked for the hop (its buffer was nearly dry already: the
    #: input came late or the loop was held up); ``misses_late``, the model had its budget
    #: or more and did not finish (a model too slow for the hop, or its thread stalled)
    misses_no_time: int = 0
    misses_late: int = 0
    #: the closest a hop the output waited for came to its deadline (ms; None: none waited)
    deadline_margin_ms_min: float | None = None
    #: output blocks pulled against a live output's deadline (0: nothing set one, e.g. files)
    deadline_pulls: int = 0
    skipped_hops: int = 0
    plugin_errors: int = 0
    underflows: int = 0
    nonfinite_blocks: int = 0
    #: input blocks at full scale (clipped before us), all-denormal (zeroed), with a large DC offset
    clipped_blocks: int = 0
    denormal_blocks: int = 0
    dc_blocks: int = 0
    rejected_changes: int = 0
    bypassed: bool = False
    last_error: str = ""
    #: the too-slow advice, once given ("" before)
    overload_advice: str = ""
    error_kinds: dict[str, int] = field(default_factory=dict)


class HopHealth:
    """Counts each finalised hop's outcome into ``counters`` for model ``name``; ``hop_ms``
    (milliseconds) and ``windowed`` shape the too-slow advice."""

    def __init__(self, counters: EngineCounters, name: str, hop_ms: float, windowed: bool) -> None:
        self.counters = counters
        self._name, self._hop_ms, self._windowed = name, hop_ms, windowed
        self._consecutive_failures = 0

    def note(self, result: object, hop: int, stats) -> bool:
        """Count one hop's ``result`` (``stats``: the model thread's compute times); True
        when it played."""
        ok = isinstance(result, tuple)
        if result is None:
            self.counters.deadline_misses += 1
            log.debug("deadline miss at hop %d", hop)
            self._advise(stats)
        elif not ok and result is not BYPASSED:
            self._failure(result)
        if ok:
            self._consecutive_failures = 0
        self.counters.hops += 1
        return ok

    def count_deadline(self, result: object, asked: float, deadline: float | None, budget_s: float) -> None:
        """Sort a miss by its cause, or note how close a result came to missing (``asked``,
        ``deadline``: ``time.monotonic()`` seconds; ``budget_s``: the compute budget)."""
        c = self.counters
        if result is None:
            if deadline is not None and deadline - asked < budget_s:
                c.misses_no_time += 1
            else:
                c.misses_late += 1
        elif deadline is not None:
            margin = 1000.0 * (deadline - time.monotonic())
            if c.deadline_margin_ms_min is None or margin < c.deadline_margin_ms_min:
                c.deadline_margin_ms_min = margin

    def _advise(self, stats) -> None:
        """Tell the user once, with a remedy, when misses are not a one-off (a stall) but
        the model is too slow for the hop."""
        c = self.counters
        if c.overload_advice or c.deadline_misses < OVERLOAD_MISSES or c.deadline_misses < 0.05 * c.hops:
            return
        c.overload_advice = (
            f"model '{self._name}' is too slow for the hop: {c.deadline_misses} of {c.hops + 1} hops missed"
            f" (compute p50 {stats.percentile_ms(50):.1f} ms for a {self._hop_ms:.1f} ms hop); those hops play"
            " dry. Try a larger --hop" + (", a smaller --context" if self._windowed else "") + ", or a GPU (--device cuda)"
        )
        log.warning("%s", c.overload_advice)

    def _failure(self, exc: BaseException) -> None:
        c = self.counters
        c.plugin_errors += 1
        kind = type(exc).__name__
        first = kind not in c.error_kinds
        c.error_kinds[kind] = c.error_kinds.get(kind, 0) + 1
        c.last_error = f"{kind}: {exc}"
        if first:
            log.error("model '%s' failed on a hop (playing dry): %s", self._name, c.last_error)
        self._consecutive_failures += 1
        if self._consecutive_failures >= MAX_CONSECUTIVE_FAILURES and not c.bypassed:
            c.bypassed = True
            log.error("model '%s' failed %d hops in a row: bypassing it for the rest of the session",
                      self._name, self._consecutive_failures)

    def summary(self) -> None:
        """Log the failure count once the stream ends (the first of each kind was logged
        when it happened)."""
        c = self.counters
        if c.plugin_errors:
            kinds = ", ".join(f"{k} x{n}" for k, n in c.error_kinds.items())
            log.warning("model '%s' failed %d of %d hops (%s); those hops played dry%s", self._name,
                        c.plugin_errors, c.hops, kinds, "; it was bypassed" if c.bypassed else "")


def miss_causes(counters: EngineCounters, runner) -> dict[str, float | int | None]:
    """Deadline misses by cause (see EngineCounters) and ``runner``'s model-thread timings (ms)."""
    c, r = counters, runner
    return {
        "no_time": c.misses_no_time,
        "late": c.misses_late,
        "late_results": r.late_results,
        "late_by_ms_max": 1000.0 * r.late_by_s_max,
        "deadline_margin_ms_min": c.deadline_margin_ms_min,
        "deadline_pulls": c.deadline_pulls,
        "worker_queue_ms_max": 1000.0 * r.queue_s_max,
        "compute_ms_max": 1000.0 * r.stats.max_s,
    }
