"""The master limiter: a look-ahead brick-wall peak limiter on the final output.

It runs at the output rate in ``Engine.pull``, on blocks of whatever size the device
asks for; pyo's servers compute fixed-size buffers, so this one small stage is numpy.
It delays the output by its look-ahead, which the engine adds to the latency.

The gain for the sample leaving now is at most ``ceiling / |peak|`` of every sample
within the look-ahead window ahead of it, so no sample leaves above the ceiling:

1. ``r[n] = min(1, ceiling / max_ch |x[n]|)``, the gain each incoming sample needs;
2. ``h`` = running minimum of ``r`` over the last ``L + 1`` samples (the hold);
3. release: ``g[n] = min(h[n], g[n-1] + rate)`` in dB, computed for a whole block as
   ``n * rate + cumulative min(h[k] - k * rate)``;
4. attack: ``L + 1``-sample moving average of ``g``.  Every term of the average for
   output sample ``n`` (input ``n - L``) is at most ``r[n - L]``, so the average is too.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import minimum_filter1d


class Limiter:
    def __init__(self, rate: int, channels: int, ceiling_db: float = -0.5, lookahead_ms: float = 1.5,
                 release_db_per_s: float = 120.0) -> None:
        self.ceiling = float(10.0 ** (ceiling_db / 20.0))
        self.lookahead = max(1, int(round(lookahead_ms * rate / 1000.0)))
        self.rate_db = float(release_db_per_s) / rate
        self.channels = int(channels)
        L = self.lookahead
        self._x = np.zeros((L, self.channels), np.float32)  # the delay line
        self._r = np.ones(L, np.float64)  # last L required gains (for the hold)
        self._g_db = 0.0  # release state
        self._att = np.zeros(L, np.float64)  # last L attenuations (1 - g) for the average
        #: samples whose gain was below 1 (the limiter was working)
        self.limited_samples = 0

    def process(self, x: np.ndarray) -> np.ndarray:
        """``x`` (n, C) -> the limited output, delayed by :attr:`lookahead` samples."""
        n = len(x)
        L = self.lookahead
        xd = np.concatenate([self._x, x])
        out_x = xd[:n]
        self._x = xd[n:].copy()
        peak = np.abs(x).max(axis=1).astype(np.float64) if n else np.zeros(0)
        r = np.minimum(1.0, self.ceiling / np.maximum(peak, 1e-30))
        if (r >= 1.0).all() and (self._r >= 1.0).all() and self._g_db >= 0.0 and not self._att.any():
            self._r = np.ones(L)
            return out_x.astype(np.float32, copy=True)  # nothing to limit: exact pass-through
        rr = np.concatenate([self._r, r])
        h = minimum_filter1d(rr, size=L + 1, origin=L // 2)[L:]  # min over rr[i-L .. i]
        self._r = rr[-L:].copy()
        h_db = 20.0 * np.log10(np.maximum(h, 1e-12))
        k = np.arange(1, n + 1)
        g_db = np.minimum(h_db, k * self.rate_db + np.minimum(self._g_db, np.minimum.accumulate(h_db - k * self.rate_db)))
        g_db = np.minimum(g_db, 0.0)
        if n:
            self._g_db = float(g_db[-1])
        att = np.concatenate([self._att, 1.0 - 10.0 ** (g_db / 20.0)])
        c = np.concatenate([[0.0], np.cumsum(att)])
        avg = (c[L + 1 :] - c[: n]) / (L + 1)  # mean of att[i .. i+L] = samples n-L..n
        self._att = att[-L:].copy()
        gain = 1.0 - avg
        self.limited_samples += int((gain < 1.0).sum())
        return (out_x * gain[:, None]).astype(np.float32)
