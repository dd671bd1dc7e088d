"""Separators that need no weights: identity, centre/side, harmonic/percussive.

All three run at the stream's own rate (no resampling) and are causal.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .base import Layout, Separator, SeparatorError
from .prompts import PROMPTS
from .stft import StftAnalyzer, StftSynthesizer


class Identity(Separator):
    """Every prompt's stem is the input: measures the engine alone, and tests it.

    A windowed plugin, so it exercises context, lookahead and overlap crossfades.
    ``sample_rate`` pins a model rate (to exercise the resamplers); ``None`` follows the
    stream.
    """

    name = "identity"
    channels = 1
    prompts = (*PROMPTS, "query")
    windowed = True
    default_hop_samples = 512
    description = "every stem is the input (tests, engine overhead)"

    def __init__(
        self,
        sample_rate: int | None = None,
        context_samples: int = 0,
        lookahead_samples: int = 0,
        channels: int = 1,
        **_: object,
    ) -> None:
        super().__init__()
        self.sample_rate = sample_rate
        self.context_samples = context_samples
        self.lookahead_samples = lookahead_samples
        self.channels = channels

    def process(self, window: np.ndarray, prompts: Sequence[str]) -> np.ndarray:
        end = window.shape[-1] - self.lookahead_samples
        return np.broadcast_to(window[None, ..., :end], (len(prompts), *window.shape[:-1], end))


class _StftMaskSeparator(Separator):
    """Stateful STFT-mask separators: one analysis per channel group, one overlap-add
    per (group, stem); subclasses turn frames into per-prompt masks."""

    windowed = False
    #: frame length, rounded to a power of two at the stream rate (1024 at 48 kHz)
    frame_ms = 21.3

    def __init__(self, **_: object) -> None:
        super().__init__()
        self._groups: list[dict] = []

    def fit_rate(self, rate: int) -> None:
        """Size the STFT for ``rate`` Hz: frames of about ``frame_ms``, the hop a quarter
        frame (the hop multiple and default hop), the delay the overlap plus any extra frames."""
        self.rate = int(rate)
        self.n_fft = max(128, int(2 ** round(np.log2(self.frame_ms * self.rate / 1000.0))))
        self.stft_hop = self.n_fft // 4
        self.hop_multiple = self.stft_hop
        self.default_hop_samples = self.stft_hop
        self.freqs = np.fft.rfftfreq(self.n_fft, 1.0 / self.rate)
        self.delay_samples = self.n_fft - self.stft_hop + self.extra_delay_frames() * self.stft_hop

    def start(self, layout: Layout) -> None:
        self.reset()

    def extra_delay_frames(self) -> int:
        return 0

    def reset(self) -> None:
        self._groups = []

    def _group(self, g: int, channels: int) -> dict:
        while len(self._groups) <= g:
            self._groups.append(
                {"analysis": StftAnalyzer(self.n_fft, self.stft_hop, channels), "synth": {}, "state": None}
            )
        return self._groups[g]

    def masks(self, spec: np.ndarray, state: dict) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``spec`` (k, channels, bins) -> (frames to mask, {prompt: mask (k, bins)})."""
        raise NotImplementedError

    def process(self, window: np.ndarray, prompts: Sequence[str]) -> np.ndarray:
        groups, channels, n = window.shape
        out = np.empty((len(prompts), groups, channels, n), np.float32)
        for g in range(groups):
            st = self._group(g, channels)
            spec = st["analysis"](window[g])
            frames, masks = self.masks(spec, st)
            for i, p in enumerate(prompts):
                synth = st["synth"].get((i, p))
                if synth is None:
                    synth = st["synth"][(i, p)] = StftSynthesizer(self.n_fft, self.stft_hop, channels)
                out[i, g] = synth(frames * masks[p][:, None, :])
        return out


class CenterSeparator(_StftMaskSeparator):
    """Centre/side separation of stereo: ``vocals`` = centre-panned content, ``musicbg``
    (alias ``instrumental``) = the rest.  The classic karaoke separator.

    Per STFT bin, causal recursive averages of ``|L|^2``, ``|R|^2`` and ``L R*`` give the
    inter-channel coherence ``c = 2 Re(LR*) / (|L|^2 + |R|^2)`` (1 only where L = R); the
    centre mask rises from 0 at ``c = c_low`` to 1 at ``c = c_high``.  Below ``low_cut_hz``
    (kick, bass: centre too, but not vocals) and above ``high_cut_hz`` the mask is 0.
    Mono input is all centre.
    """

    name = "center"
    channels = 2
    prompts = ("vocals", "musicbg")
    description = "stereo centre/side spectral separation (karaoke); no weights"

    def __init__(
        self,
        smoothing_ms: float = 30.0,
        c_low: float = 0.6,
        c_high: float = 0.92,
        low_cut_hz: float = 120.0,
        high_cut_hz: float = 16000.0,
        **_: object,
    ) -> None:
        super().__init__()
        self.smoothing_ms = smoothing_ms
        self.c_low, self.c_high = c_low, c_high
        self.low_cut_hz, self.high_cut_hz = low_cut_hz, high_cut_hz

    def masks(self, spec, state):
        k = spec.shape[0]
        if state["state"] is None:
            bins = spec.shape[-1]
            state["state"] = np.zeros((3, bins), np.float64)  # |L|^2, |R|^2, Re(L R*)
            band = (self.freqs >= self.low_cut_hz) & (self.freqs <= self.high_cut_hz)
            state["band"] = band.astype(np.float32)
        s = state["state"]
        alpha = float(np.exp(-self.stft_hop / (self.smoothing_ms * 1e-3 * self.rate)))
        left, right = spec[:, 0], spec[:, 1]
        pl, pr, cross = np.abs(left) ** 2, np.abs(right) ** 2, (left * np.conj(right)).real
        centre = np.empty((k, spec.shape[-1]), np.float32)
        for t in range(k):
            s[0] = alpha * s[0] + (1 - alpha) * pl[t]
            s[1] = alpha * s[1] + (1 - alpha) * pr[t]
            s[2] = alpha * s[2] + (1 - alpha) * cross[t]
            c = 2.0 * s[2] / (s[0] + s[1] + 1e-12)
            centre[t] = np.clip((c - self.c_low) / (self.c_high - self.c_low), 0.0, 1.0)
        centre *= state["band"]
        return spec, {"vocals": centre, "musicbg": 1.0 - centre}


class HPSSeparator(_StftMaskSeparator):
    """Causal harmonic/percussive separation: ``drums`` = percussive, ``other`` = harmonic.

    Harmonic evidence is a median over the last ``time_frames`` frames of each bin
    (sustained partials), percussive evidence a median over ``freq_bins`` neighbouring
    bins of each frame (broadband clicks); soft masks ``H^p / (H^p + P^p)``.  With
    ``lookahead_frames`` > 0 the time median is centred that many frames into the future,
    which sharpens onsets at the cost of ``lookahead_frames`` STFT hops of latency.
    """

    name = "hpss"
    channels = 0  # all channels at once: one mask from their mean magnitude keeps the image
    prompts = ("drums", "other")
    description = "causal harmonic/percussive separation; no weights"

    def __init__(self, time_frames: int = 13, freq_bins: int = 17, power: float = 2.0, lookahead_frames: int = 2, **_: object) -> None:
        super().__init__()
        if time_frames < 3 or freq_bins < 3 or not time_frames % 2 == freq_bins % 2 == 1 or not 0 <= lookahead_frames < time_frames:
            raise SeparatorError("hpss: time_frames and freq_bins must be odd and >= 3, 0 <= lookahead_frames < time_frames")
        self.time_frames, self.freq_bins, self.power = time_frames, freq_bins, power
        self.lookahead_frames = lookahead_frames

    def extra_delay_frames(self) -> int:
        return self.lookahead_frames

    def masks(self, spec, state):
        k, _, bins = spec.shape
        if state["state"] is None:
            state["state"] = {
                "mag": np.zeros((self.time_frames - 1, bins), np.float32),
                "spec": np.zeros((self.lookahead_frames, *spec.shape[1:]), spec.dtype),
            }
        st = state["state"]
        mag = np.abs(spec).mean(axis=1).astype(np.float32)  # (k, bins), channels share a mask
        hist = np.concatenate([st["mag"], mag], axis=0)
        st["mag"] = hist[-(self.time_frames - 1) :]
        # frame t (delayed by the lookahead) sees frames t - T + 1 + la ... t + la
        T, mid = self.time_frames, self.time_frames // 2
        if k == 1:
            harmonic = np.partition(hist, mid, axis=0)[mid : mid + 1]
        else:
            harmonic = np.partition(sliding_window_view(hist, T, axis=0), mid, axis=-1)[..., mid]
        la = self.lookahead_frames
        centre_mag = hist[T - 1 - la : T - 1 - la + k]
        half = self.freq_bins // 2
        padded = np.pad(centre_mag, ((0, 0), (half, half)), mode="edge")
        percussive = np.partition(sliding_window_view(padded, self.freq_bins, axis=1), half, axis=-1)[..., half]
        hp, pp = harmonic**self.power, percussive**self.power
        m_h = hp / (hp + pp + 1e-12)
        frames = np.concatenate([st["spec"], spec], axis=0)
        st["spec"] = frames[k:]
        return frames[:k], {"other": m_h.astype(np.float32), "drums": (1.0 - m_h).astype(np.float32)}
