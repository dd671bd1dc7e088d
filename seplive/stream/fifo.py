"""A sample FIFO that knows the absolute index of its first sample."""

from __future__ import annotations

import numpy as np


class IndexedFifo:
    """Frames ``(n, channels)`` in arrival order, addressed by absolute frame index.

    ``start`` is the absolute index of the oldest frame held, ``end`` one past the newest.
    Storage grows by doubling and is compacted in place, so steady-state use allocates
    nothing.
    """

    def __init__(self, channels: int, capacity: int = 4096, start: int = 0) -> None:
        self.channels = channels
        self._buf = np.zeros((max(capacity, 16), channels), dtype=np.float32)
        self._lo = 0  # buffer row of `start`
        self._n = 0
        self.start = start

    @property
    def end(self) -> int:
        return self.start + self._n

    def __len__(self) -> int:
        return self._n

    def push(self, frames: np.ndarray) -> None:
        n = len(frames)
        if n == 0:
            return
        if self._lo + self._n + n > len(self._buf):
            if self._n + n > len(self._buf) // 2:
                cap = len(self._buf)
                while cap < 2 * (self._n + n):
                    cap *= 2
                new = np.zeros((cap, self.channels), dtype=np.float32)
                new[: self._n] = self._buf[self._lo : self._lo + self._n]
                self._buf = new
            else:
                self._buf[: self._n] = self._buf[self._lo : self._lo + self._n]
            self._lo = 0
        self._buf[self._lo + self._n : self._lo + self._n + n] = frames
        self._n += n

    def read(self, first: int, count: int, out: np.ndarray | None = None) -> np.ndarray:
        """Copy frames ``[first, first + count)``; frames not held read as zeros."""
        if out is None:
            out = np.zeros((count, self.channels), dtype=np.float32)
        else:
            out[:] = 0.0
        lo = max(first, self.start)
        hi = min(first + count, self.end)
        if hi > lo:
            out[lo - first : hi - first] = self._buf[self._lo + lo - self.start : self._lo + hi - self.start]
        return out

    def discard_before(self, index: int) -> None:
        """Drop every frame older than ``index``."""
        drop = min(max(index - self.start, 0), self._n)
        self._lo += drop
        self._n -= drop
        self.start += drop
        if index > self.start:  # nothing held reaches that far: move the origin on
            self.start = index
