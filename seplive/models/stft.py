"""A streaming short-time Fourier transform for stateful DSP separators.

Frames of ``n_fft`` samples, ``hop`` apart, sqrt-Hann analysis and synthesis windows at
75 % overlap (scaled so that overlap-add of unmodified frames gives the input back).
Frame ``t`` covers input ``[(t + 1) hop - n_fft, (t + 1) hop)``, so it is computed as
soon as its last sample arrives; synthesis output comes ``n_fft - hop`` samples late.
"""

from __future__ import annotations

import numpy as np


def _sqrt_hann(n_fft: int) -> np.ndarray:
    return np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft))


class StftAnalyzer:
    """``(channels, k * hop)`` new samples -> ``(k, channels, bins)`` complex frames."""

    def __init__(self, n_fft: int, hop: int, channels: int) -> None:
        if n_fft % hop:
            raise ValueError("n_fft must be a multiple of hop")
        self.n_fft, self.hop, self.channels = n_fft, hop, channels
        self.window = _sqrt_hann(n_fft).astype(np.float32)
        self.reset()

    def reset(self) -> None:
        self._past = np.zeros((self.channels, self.n_fft - self.hop), np.float32)

    def __call__(self, block: np.ndarray) -> np.ndarray:
        buf = np.concatenate([self._past, block], axis=1)
        k = block.shape[1] // self.hop
        idx = np.arange(k)[:, None] * self.hop + np.arange(self.n_fft)[None, :]
        frames = buf[:, idx]  # (channels, k, n_fft)
        self._past = buf[:, buf.shape[1] - (self.n_fft - self.hop) :]
        return np.fft.rfft(frames * self.window, axis=-1).transpose(1, 0, 2)


class StftSynthesizer:
    """``(k, channels, bins)`` frames -> ``(channels, k * hop)`` finished output."""

    def __init__(self, n_fft: int, hop: int, channels: int) -> None:
        self.n_fft, self.hop, self.channels = n_fft, hop, channels
        # overlapping sqrt-Hann**2 frames sum to n_fft / (2 hop)
        self.window = (_sqrt_hann(n_fft) * (2.0 * hop / n_fft)).astype(np.float32)
        self.reset()

    @property
    def delay_samples(self) -> int:
        return self.n_fft - self.hop

    def reset(self) -> None:
        self._ola = np.zeros((self.channels, self.n_fft), np.float32)

    def __call__(self, spec: np.ndarray) -> np.ndarray:
        k = spec.shape[0]
        frames = np.fft.irfft(spec, n=self.n_fft, axis=-1).astype(np.float32) * self.window
        out = np.empty((self.channels, k * self.hop), np.float32)
        ola = self._ola
        for t in range(k):
            ola += frames[t]
            out[:, t * self.hop : (t + 1) * self.hop] = ola[:, : self.hop]
            ola[:, : -self.hop] = ola[:, self.hop :].copy()
            ola[:, -self.hop :] = 0.0
        return out
