"""Low-latency STFT with asymmetric analysis/synthesis windows (Mauler & Martin, 2007).

A long analysis window (``n_fft`` samples: fine frequency resolution for bass) and a short
synthesis window (``2M = synthesis_window`` samples) whose product is a Hann window of
length ``2M`` over the frame's newest ``2M`` samples.  Overlap-add of that product at hop
``R`` is constant (``M / R``; divided out), so an unmodified spectrum comes back exactly,
``D = 2M - R`` samples after the frame's newest input sample: the output delay depends on
the synthesis window only.

Frame ``f`` covers input ``[fR + R - n_fft, fR + R)`` (zeros before the start): it can be
computed as soon as its last sample arrives.  Its synthesis signal is non-zero on its last
``2M`` samples, i.e. on input indices ``[fR + R - 2M, fR + R)``, which we cut into
``K = 2M / R`` pieces of ``R`` samples; piece ``i`` lands in output chunk ``f + i`` of the
overlap-add buffer, whose chunk ``c`` holds output samples ``[cR, cR + R)`` = the estimate of
input samples ``[cR - D, cR - D + R)``.  Chunk ``c`` is complete once frame ``c`` is done.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def _hann(length: int, n: Tensor) -> Tensor:
    """Periodic Hann window of ``length`` evaluated at integer positions ``n``."""
    return 0.5 - 0.5 * torch.cos(2.0 * math.pi * n / length)


def asymmetric_windows(n_fft: int, synthesis_window: int, hop: int) -> tuple[Tensor, Tensor]:
    """Analysis and synthesis windows (float64, length ``n_fft``).

    ``analysis * synthesis`` is a periodic Hann of length ``synthesis_window`` on the last
    ``synthesis_window`` samples (zero before), scaled so that overlap-add at ``hop`` is 1.
    With ``synthesis_window == n_fft`` both are the usual sqrt-Hann.
    """
    N, M = n_fft, synthesis_window // 2
    n = torch.arange(N, dtype=torch.float64)
    rise = torch.sqrt(_hann(2 * (N - M), n))
    fall = torch.sqrt(_hann(2 * M, n - (N - 2 * M)))
    analysis = torch.where(n < N - M, rise, fall)
    prod = torch.where(n >= N - 2 * M, _hann(2 * M, n - (N - 2 * M)), torch.zeros_like(n))
    synthesis = torch.where(analysis > 0, prod / analysis.clamp_min(1e-30), torch.zeros_like(n))
    synthesis = synthesis * (hop / M)  # Hann of length 2M overlapped at hop R sums to M / R
    return analysis, synthesis


class AsymmetricStft(torch.nn.Module):
    """Analysis of whole signals or of new samples with a cache, and piecewise synthesis."""

    def __init__(self, n_fft: int, hop: int, synthesis_window: int) -> None:
        super().__init__()
        self.n_fft, self.hop, self.synthesis_window = n_fft, hop, synthesis_window
        self.pieces = synthesis_window // hop
        a, s = asymmetric_windows(n_fft, synthesis_window, hop)
        self.register_buffer("analysis_window", a.float(), persistent=False)
        # only the last 2M samples of the synthesis window are non-zero
        self.register_buffer("synthesis_tail", s[n_fft - synthesis_window :].float(), persistent=False)

    @property
    def delay_samples(self) -> int:
        return self.synthesis_window - self.hop

    # -- analysis --------------------------------------------------------------------------
    def frames(self, padded: Tensor) -> Tensor:
        """``(..., n_fft - hop + k hop)`` samples -> ``(..., k, bins)`` complex spectra."""
        fr = padded.unfold(-1, self.n_fft, self.hop)
        return torch.fft.rfft(fr * self.analysis_window, dim=-1)

    def analyse(self, x: Tensor) -> Tensor:
        """Whole signal ``(..., T)``, ``T`` a multiple of ``hop`` -> ``(..., T / hop, bins)``."""
        return self.frames(F.pad(x, (self.n_fft - self.hop, 0)))

    def analyse_step(self, x: Tensor, cache: Tensor) -> tuple[Tensor, Tensor]:
        """New samples ``(..., k hop)`` and the last ``n_fft - hop`` samples before them ->
        ``(spectra (..., k, bins), new cache)``."""
        buf = torch.cat([cache, x], dim=-1)
        return self.frames(buf), buf[..., buf.shape[-1] - (self.n_fft - self.hop) :]

    # -- synthesis -------------------------------------------------------------------------
    def pieces_of(self, spec: Tensor) -> Tensor:
        """``(..., k, bins)`` spectra -> ``(..., k, pieces, hop)`` windowed synthesis pieces."""
        sig = torch.fft.irfft(spec, n=self.n_fft, dim=-1)[..., self.n_fft - self.synthesis_window :]
        sig = sig * self.synthesis_tail
        return sig.reshape(*sig.shape[:-1], self.pieces, self.hop)

    def overlap_add(self, pieces: Tensor) -> Tensor:
        """``(..., k, pieces, hop)`` -> ``(..., k + pieces - 1, hop)`` chunks (from zero)."""
        k, K = pieces.shape[-3], self.pieces
        out = pieces.new_zeros(*pieces.shape[:-3], k + K - 1, self.hop)
        for i in range(K):
            out[..., i : i + k, :] += pieces[..., i, :]
        return out

    def synthesise(self, spec: Tensor) -> Tensor:
        """Causal output of a whole signal: ``(..., k, bins)`` -> ``(..., k hop)`` where
        sample ``n`` estimates input sample ``n - delay_samples``."""
        chunks = self.overlap_add(self.pieces_of(spec))[..., : spec.shape[-2], :]
        return chunks.reshape(*chunks.shape[:-2], -1)
