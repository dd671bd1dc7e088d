"""Per-source processing before mixing: EQ, low-pass, synthetic reverb, stereo placement, gain.

Every source, music stems included, gets a random low-pass some of the time: TTS engines stop at
8-16 kHz, and if only speech were band-limited, "no highs" would be a shortcut for "speech".
Targets are the sources after all of this, so the mixture is exactly their sum.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

REF_RMS = 0.1  # -20 dBFS: the level a source is normalised to before its gain


def _wn(freq: float, rate: int) -> float:
    """``freq`` as a normalised digital frequency, kept inside (0, 1) at any sample rate."""
    return float(np.clip(freq / (rate / 2), 1e-4, 0.9))


def peaking_sos(rate: int, f0: float, gain_db: float, q: float) -> np.ndarray:
    """One RBJ peaking-EQ biquad as a (1, 6) second-order section."""
    a = 10 ** (gain_db / 40)
    w = 2 * np.pi * min(f0, 0.45 * rate) / rate
    alpha = np.sin(w) / (2 * q)
    b = np.array([1 + alpha * a, -2 * np.cos(w), 1 - alpha * a])
    den = np.array([1 + alpha / a, -2 * np.cos(w), 1 - alpha / a])
    return np.concatenate([b / den[0], den / den[0]])[None]


def eq_sections(rng: np.random.Generator, rate: int, lowpass_p: float = 0.35) -> np.ndarray | None:
    """Zero to three peaking bands (+-9 dB), a high-pass sometimes, a low-pass sometimes, as one
    cascade of second-order sections (None when the draw is flat)."""
    sections = [peaking_sos(rate, float(np.exp(rng.uniform(np.log(80), np.log(12000)))),
                            float(rng.uniform(-9, 9)), float(rng.uniform(0.5, 3.0)))
                for _ in range(int(rng.integers(0, 4)))]
    if rng.random() < 0.2:
        sections.append(signal.butter(2, _wn(rng.uniform(40, 250), rate), "highpass", output="sos"))
    if rng.random() < lowpass_p:
        fc = float(np.exp(rng.uniform(np.log(3000), np.log(20000))))
        sections.append(signal.butter(int(rng.choice([2, 4, 8])), _wn(fc, rate), "lowpass", output="sos"))
    return np.concatenate(sections) if sections else None


def random_eq(rng: np.random.Generator, x: np.ndarray, rate: int, lowpass_p: float = 0.35) -> np.ndarray:
    """``x`` through a random EQ (see eq_sections), filtered in one pass along the last axis."""
    sos = eq_sections(rng, rate, lowpass_p)
    return x if sos is None else signal.sosfilt(sos.astype(x.dtype), x, axis=-1)


def impulse_response(rng: np.random.Generator, rate: int, channels: int) -> np.ndarray:
    """A synthetic room: sparse early reflections then exponentially decaying noise (RT60 0.15-2 s).

    Channels get independent noise so the tail decorrelates like a real stereo room.
    """
    rt60 = float(np.exp(rng.uniform(np.log(0.15), np.log(2.0))))
    n = int(rate * min(rt60, 1.5))
    t = np.arange(n) / rate
    decay = np.exp(-6.9 * t / rt60)
    # high frequencies die faster: low-pass the tail with a cut that falls over time
    ir = rng.standard_normal((channels, n)) * decay
    ir = signal.sosfilt(signal.butter(1, _wn(rng.uniform(2000, 9000), rate), output="sos"), ir, axis=-1)
    pre = int(rate * rng.uniform(0.002, 0.03))
    for _ in range(int(rng.integers(3, 9))):
        k = pre + int(rate * rng.uniform(0.001, 0.06))
        if k < n:
            ir[:, k] += rng.uniform(0.2, 0.8) * rng.choice([-1, 1], size=channels)
    ir[:, :pre] = 0
    ir /= np.sqrt(np.sum(ir**2, axis=-1, keepdims=True)) + 1e-12
    return ir


def reverb(rng: np.random.Generator, x: np.ndarray, rate: int) -> np.ndarray:
    """Convolve (channels, T) with a synthetic IR, random wet level, cut back to T."""
    channels, n = x.shape
    ir = impulse_response(rng, rate, channels).astype(x.dtype)
    wet = signal.fftconvolve(x, ir, axes=-1)[:, :n]
    mix = float(rng.uniform(0.1, 0.6))
    return (1 - mix) * x + mix * wet * (np.sqrt(np.mean(x**2)) / (np.sqrt(np.mean(wet**2)) + 1e-12))


def _pan(x: np.ndarray, pan: float) -> np.ndarray:
    """(1, T) in, (2, T) out: constant-power pan to ``pan`` (-1 left .. 1 right)."""
    theta = (pan + 1) * np.pi / 4
    return np.concatenate([x * np.cos(theta), x * np.sin(theta)])


def place(rng: np.random.Generator, x: np.ndarray, channels: int, width: float = 1.0) -> np.ndarray:
    """Mono (1, T) or stereo (2, T) in, ``channels`` out: constant-power pan or balance."""
    if channels == 1:
        return x.mean(axis=0, keepdims=True)
    if x.shape[0] == 1:
        return _pan(x, float(rng.uniform(-0.8, 0.8) * width))
    bal = float(rng.uniform(-0.4, 0.4) * width)
    return np.stack([x[0] * np.sqrt(1 - bal), x[1] * np.sqrt(1 + bal)]) / np.sqrt(1 + abs(bal))


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def process(rng: np.random.Generator, x: np.ndarray, rate: int, channels: int, gain_db: float,
            reverb_p: float = 0.5, width: float = 1.0) -> np.ndarray:
    """EQ, maybe reverb, placement, then RMS-normalise to REF_RMS and apply ``gain_db``.
    ``width`` scales the placement's pan or balance (the same numbers are drawn at any width)."""
    y = random_eq(rng, np.asarray(x, np.float32), rate)  # float32 all along: half the cost
    if rng.random() < reverb_p:
        y = reverb(rng, y, rate)
    y = place(rng, y, channels, width)
    level = rms(y)
    if level < 1e-6:
        return np.zeros((channels, x.shape[-1]), np.float32)
    return (y * np.float32(REF_RMS / level * 10 ** (gain_db / 20))).astype(np.float32)


def pan_mono(x: np.ndarray, pan: float) -> np.ndarray:
    """(2, T) in, its mid panned to ``pan`` (-1 left .. 1 right) at constant power, out."""
    return (_pan(x.mean(axis=0, keepdims=True), pan) * np.float32(np.sqrt(2))).astype(np.float32)
