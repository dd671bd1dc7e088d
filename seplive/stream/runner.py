"""Where the model runs: inline (files, as fast as possible) or on its own thread (live).

Both take hop jobs in order and leave results keyed by hop index; the engine decides at
each hop's deadline whether a result is there.  The threaded runner skips stale jobs
(only the newest pending window of a windowed model is worth computing), so a slow model
never makes latency grow.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from .priority import realtime_thread

log = logging.getLogger("seplive.runner")

#: how many compute times are kept for percentiles (a ring: memory stays flat)
TIMING_RING = 65536


class ComputeStats:
    """Per-hop compute times: a ring for percentiles plus running totals."""

    def __init__(self) -> None:
        self._ring = np.zeros(TIMING_RING, dtype=np.float64)
        self.count = 0
        self.total_s = 0.0
        self.max_s = 0.0

    def add(self, seconds: float) -> None:
        self._ring[self.count % TIMING_RING] = seconds
        self.count += 1
        self.total_s += seconds
        self.max_s = max(self.max_s, seconds)

    def percentile_ms(self, q: float) -> float:
        n = min(self.count, TIMING_RING)
        return float(np.percentile(self._ring[:n], q) * 1e3) if n else 0.0


class Job:
    """One hop to compute: its index, its input window, the prompts to separate."""

    __slots__ = ("hop", "window", "prompts", "submitted")

    def __init__(self, hop: int, window: np.ndarray, prompts: tuple[str, ...] = ()) -> None:
        self.hop = hop
        self.window = window
        self.prompts = prompts
        #: ``time.monotonic()`` when it was handed to the runner (threaded only)
        self.submitted = 0.0


class InlineRunner:
    """Computes each job as it is submitted."""

    threaded = False

    def __init__(self, compute: Callable[[Job], object], skip_stale: bool) -> None:
        self._compute = compute
        self.results: dict[int, object] = {}
        self.stats = ComputeStats()
        self.skipped = 0
        #: set by the engine: hops below this were played without a result (stale)
        self.first_useful_hop = 0
        #: the longest a job waited for the worker to start it (threaded only), seconds
        self.queue_s_max = 0.0
        #: missed hops whose result came in after all, and the latest it came (after the
        #: deadline it missed), seconds: a stall, or a model too slow for the hop
        self.late_results = 0
        self.late_by_s_max = 0.0

    def submit(self, job: Job) -> None:
        t0 = time.perf_counter()
        try:
            self.results[job.hop] = self._compute(job)
        except Exception as exc:  # the engine turns this into a dry hop
            self.results[job.hop] = exc
        self.stats.add(time.perf_counter() - t0)

    def take(self, hop: int, missed_at: float | None = None) -> object | None:
        """The result of ``hop`` (None: not there).  ``missed_at``: the deadline it is
        taken at; when there is no result the runner notes how late it comes after all."""
        return self.results.pop(hop, None)

    def wait_for(self, hop: int, deadline: float) -> bool:
        """Wait until ``hop``'s result is in or ``deadline`` (monotonic) passes."""
        return hop in self.results

    @property
    def stalled(self) -> bool:
        """A hop that missed its deadline is still being computed (threaded only)."""
        return False

    def drop_before(self, hop: int) -> None:
        for k in [k for k in self.results if k < hop]:
            del self.results[k]

    def close(self) -> None:
        pass


class ThreadedRunner(InlineRunner):
    """Computes jobs on a worker thread; the audio side never waits for it."""

    threaded = True

    def __init__(
        self,
        compute: Callable[[Job], object],
        skip_stale: bool,
        on_skip: Callable[[], None] | None = None,
        rt_priority: int = 0,
    ) -> None:
        super().__init__(compute, skip_stale)
        self._rt_priority = int(rt_priority)
        self._skip_stale = skip_stale
        self._on_skip = on_skip
        self._jobs: deque[Job] = deque()
        self._cv = threading.Condition()
        self._done = threading.Condition()
        #: missed hop -> its deadline (monotonic), until its result arrives or is skipped
        self._missed: dict[int, float] = {}
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="seplive-model", daemon=True)
        self._thread.start()

    def submit(self, job: Job) -> None:
        job.submitted = time.monotonic()
        with self._cv:
            self._jobs.append(job)
            self._cv.notify()

    def take(self, hop: int, missed_at: float | None = None) -> object | None:
        with self._done:
            result = self.results.pop(hop, None)
            if result is None and missed_at is not None:
                self._missed[hop] = missed_at
        return result

    def _loop(self) -> None:
        if self._rt_priority:
            realtime_thread(self._rt_priority)
        while True:
            with self._cv:
                while not self._jobs and not self._closed:
                    self._cv.wait()
                if self._closed:
                    return
                if self._skip_stale and self._jobs[0].hop < self.first_useful_hop:
                    # hops the output has already played dry: computing them is wasted time
                    while self._jobs and self._jobs[0].hop < self.first_useful_hop:
                        stale = self._jobs.popleft()
                        self.skipped += 1
                        if self._missed:
                            with self._done:  # played dry and never computed: nothing to wait for
                                self._missed.pop(stale.hop, None)
                    if self._on_skip is not None:
                        self._on_skip()
                    if not self._jobs:
                        continue
                job = self._jobs.popleft()
            t0 = time.perf_counter()
            queued = time.monotonic() - job.submitted
            if queued > self.queue_s_max:
                self.queue_s_max = queued
            try:
                result: object = self._compute(job)
            except Exception as exc:
                result = exc
            self.stats.add(time.perf_counter() - t0)
            with self._done:
                if self._missed:
                    missed_at = self._missed.pop(job.hop, None)
                    if missed_at is not None:  # played dry already: note how late it is
                        self.late_results += 1
                        self.late_by_s_max = max(self.late_by_s_max, time.monotonic() - missed_at)
                        for k in [k for k in self._missed if k < job.hop]:  # skipped: never coming
                            del self._missed[k]
                        continue
                self.results[job.hop] = result
                self._done.notify_all()

    @property
    def stalled(self) -> bool:
        return bool(self._missed)

    def wait_for(self, hop: int, deadline: float) -> bool:
        with self._done:
            while hop not in self.results:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._done.wait(left)
        return True

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify()
        self._thread.join(timeout=5.0)
