"""Input conditioning: what comes in is made safe for the models before anything else.

Per ``(frames, channels)`` block at the source rate: NaN/Inf become 0 (counted), the
level is metered, samples beyond +-4.0 full scale are clipped there, full-scale blocks
(clipped before us) are counted, all-denormal blocks are zeroed (they slow float math),
and a DC offset (mean over about a second beyond ``DC_LIMIT``) is counted, not removed.
"""

from __future__ import annotations

import numpy as np

from .counters import EngineCounters
from .meters import Meters

#: a mean input level over about a second beyond this is a DC offset (counted)
DC_LIMIT = 0.05


class InputConditioner:
    """Cleans input blocks at ``source_rate`` Hz; counts into ``counters``, meters ``"input"``."""

    def __init__(self, source_rate: int, channels: int, counters: EngineCounters, meters: Meters) -> None:
        self._rate = source_rate
        self._counters = counters
        self._meters = meters
        self._dc = np.zeros(channels, np.float32)

    def clean(self, block: np.ndarray) -> np.ndarray:
        """The block as the engine uses it (a new array where anything changed)."""
        c = self._counters
        if not np.isfinite(block).all():
            c.nonfinite_blocks += 1
            block = np.nan_to_num(block, nan=0.0, posinf=0.0, neginf=0.0)
        self._meters.signal("input", block)
        peak = self._meters.levels["input"][0]
        if peak > 4.0:  # beyond any sane level: keep the math bounded
            block = np.clip(block, -4.0, 4.0, dtype=np.float32)
        if peak >= 0.999:
            c.clipped_blocks += 1
        if 0.0 < peak < 1e-30:  # only denormals (or near): they slow float math down a lot
            c.denormal_blocks += 1
            block = np.zeros_like(block)
        elif len(block):
            # a DC offset: the input's mean over about a second (bass averages out in that time)
            self._dc += min(len(block) / self._rate, 1.0) * (block.mean(axis=0) - self._dc)
            if np.abs(self._dc).max() > DC_LIMIT:
                c.dc_blocks += 1  # counted only: the models see what came in
        return block
