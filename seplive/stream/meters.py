"""Meters: the latest linear peak and RMS level of the input, the output and each stem.

Written by the worker (per hop for stems, per block for input and output), read by any
thread: each write swaps in a new dict (atomic), so readers see a whole snapshot.
"""

from __future__ import annotations

import numpy as np


class Meters:
    """``levels``: ``{"input": (peak, rms), "output": ..., "<stem>": ...}``, linear full scale."""

    def __init__(self) -> None:
        self.levels: dict[str, tuple[float, float]] = {}

    def signal(self, name: str, x: np.ndarray) -> None:
        """Meter ``x`` (any shape, float32) as ``name``."""
        if not x.size:
            self.levels = {**self.levels, name: (0.0, 0.0)}
            return
        flat = x.reshape(-1)
        levels = dict(self.levels)
        peak = float(np.abs(flat).max())
        if peak < 1e18:
            levels[name] = (peak, float(np.sqrt(np.dot(flat, flat) / flat.size)))
        else:  # the square would overflow float32: the level is off any scale anyway
            levels[name] = (peak, peak)
        self.levels = levels

    def stems(self, body: np.ndarray, prompts: tuple[str, ...]) -> None:
        """Meter a hop's stems, ``body`` ``(samples, prompts, channels)``, one level per prompt."""
        if not len(body):
            return
        peak = np.abs(body).max(axis=(0, 2))
        rms = np.sqrt(np.einsum("npc,npc->p", body, body) / (body.shape[0] * body.shape[2]))
        levels = dict(self.levels)
        for i, p in enumerate(prompts):
            levels[p] = (float(peak[i]), float(rms[i]))
        self.levels = levels
