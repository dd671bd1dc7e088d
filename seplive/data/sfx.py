"""Procedural sound effects (``sfx``) and background beds (``sfxbg``) with numpy/scipy.

Foreground effects are short events placed sparsely in time: modal impacts, beeps and alarms,
sirens, footsteps, whooshes, clicks and knocks, ringing phones, bells.  Beds are continuous:
wind, rain, room tone with mains hum, traffic rumble, engine drone, running water, and
``sfxbg`` is a mix of one to three beds.  All mono, a pure function of the generator given.
"""

from __future__ import annotations

import numpy as np
from scipy import signal


def _env(n: int, attack: float, decay: float, rate: int) -> np.ndarray:
    t = np.arange(n) / rate
    a = np.minimum(1.0, t / max(attack, 1e-4))
    return a * np.exp(-t / max(decay, 1e-4))


def _band(x: np.ndarray, lo: float, hi: float, rate: int, order: int = 2) -> np.ndarray:
    nyq = rate / 2
    hi = min(hi, 0.9 * nyq)
    lo = min(max(lo, 20.0), 0.6 * hi)  # at low sample rates the band shrinks but stays valid
    sos = signal.butter(order, [lo / nyq, hi / nyq], "bandpass", output="sos")
    return signal.sosfilt(sos, x)


def _lowpass(x: np.ndarray, fc: float, rate: int, order: int = 2) -> np.ndarray:
    sos = signal.butter(order, min(fc, 0.45 * rate) / (rate / 2), "lowpass", output="sos")
    return signal.sosfilt(sos, x)


def _pink(rng: np.random.Generator, n: int) -> np.ndarray:
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    return np.fft.irfft(spec / np.sqrt(f), n)


# --- foreground events -------------------------------------------------------------------

def impact(rng, rate):
    n = int(rate * rng.uniform(0.2, 1.2))
    t = np.arange(n) / rate
    f0 = rng.uniform(150, 2500)
    out = np.zeros(n)
    for k in range(int(rng.integers(3, 9))):
        f = f0 * (1 + k * rng.uniform(0.6, 2.7))
        if f < rate * 0.45:
            out += rng.uniform(0.2, 1) / (1 + k) * np.sin(2 * np.pi * f * t + rng.uniform(0, 6.3)) * np.exp(-t / rng.uniform(0.03, 0.5))
    click = rng.standard_normal(n) * np.exp(-t / 0.003)
    return out + 0.5 * click


def beep(rng, rate):
    f = rng.uniform(400, 3000)
    n_beeps = int(rng.integers(1, 5))
    on, off = rng.uniform(0.06, 0.35), rng.uniform(0.05, 0.2)
    n = int(rate * (on + off) * n_beeps)
    t = np.arange(n) / rate
    gate = ((t % (on + off)) < on).astype(float)
    gate = signal.lfilter([0.02], [1, -0.98], gate)
    wave = np.sin(2 * np.pi * f * t) if rng.random() < 0.6 else np.sign(np.sin(2 * np.pi * f * t)) * 0.5
    return gate * wave


def siren(rng, rate):
    n = int(rate * rng.uniform(1.0, 3.0))
    t = np.arange(n) / rate
    lo, hi = rng.uniform(500, 800), rng.uniform(1000, 1600)
    mod = rng.uniform(0.3, 4.0)
    freq = lo + (hi - lo) * (0.5 + 0.5 * np.sin(2 * np.pi * mod * t))
    phase = 2 * np.pi * np.cumsum(freq) / rate
    return (np.sin(phase) + 0.3 * np.sin(2 * phase)) * np.minimum(1, t / 0.1)


def footsteps(rng, rate):
    steps = int(rng.integers(3, 9))
    period = rng.uniform(0.35, 0.7)
    n = int(rate * period * (steps + 1))
    out = np.zeros(n)
    m = int(0.12 * rate)
    lo, hi = rng.uniform(80, 300), rng.uniform(1500, 6000)
    for k in range(steps):
        i = int((k * period + rng.uniform(-0.03, 0.03) + 0.05) * rate)
        burst = _band(rng.standard_normal(m), lo, hi, rate) * _env(m, 0.002, rng.uniform(0.015, 0.05), rate)
        out[i : i + m] += burst[: n - i] * rng.uniform(0.6, 1.0)
    return out


def whoosh(rng, rate):
    n = int(rate * rng.uniform(0.5, 1.8))
    t = np.linspace(0, 1, n)
    noise = rng.standard_normal(n)
    centre = rng.uniform(300, 3000) * (1 + rng.uniform(-0.7, 2.0) * t)
    # time-varying band-pass by blocks of a one-pole pair
    out = np.zeros(n)
    blk = 1024
    for s in range(0, n, blk):
        c = float(np.clip(centre[s], 100, 0.4 * rate))
        out[s : s + blk] = _band(noise[max(0, s - blk) : s + blk], c / 1.5, c * 1.5, rate)[-len(out[s : s + blk]):]
    return out * np.sin(np.pi * t) ** 2


def clicks(rng, rate):
    n = int(rate * rng.uniform(0.8, 2.5))
    out = np.zeros(n)
    m = int(0.02 * rate)
    f = rng.uniform(1000, 6000)
    for i in np.sort(rng.integers(0, n - m, size=int(rng.integers(3, 20)))):
        out[i : i + m] += _band(rng.standard_normal(m), f / 2, f * 2, rate) * _env(m, 0.0005, 0.004, rate)
    return out


def knock(rng, rate):
    knocks = int(rng.integers(2, 5))
    gap = rng.uniform(0.12, 0.3)
    n = int(rate * (gap * knocks + 0.3))
    out = np.zeros(n)
    f = rng.uniform(120, 400)
    m = int(0.15 * rate)
    t = np.arange(m) / rate
    for k in range(knocks):
        i = int(k * gap * rate)
        hit = np.sin(2 * np.pi * f * t) * np.exp(-t / 0.03) + 0.5 * rng.standard_normal(m) * np.exp(-t / 0.004)
        out[i : i + m] += hit
    return out


def ring(rng, rate):
    f1, f2 = rng.uniform(700, 1200), rng.uniform(1200, 2200)
    n = int(rate * rng.uniform(1.0, 2.5))
    t = np.arange(n) / rate
    trill = (np.sin(2 * np.pi * rng.uniform(15, 25) * t) > 0).astype(float)
    tone = trill * np.sin(2 * np.pi * f1 * t) + (1 - trill) * np.sin(2 * np.pi * f2 * t)
    gate = ((t % 0.8) < 0.5).astype(float)
    return tone * signal.lfilter([0.05], [1, -0.95], gate)


def bell(rng, rate):
    n = int(rate * rng.uniform(1.0, 3.0))
    t = np.arange(n) / rate
    f0 = rng.uniform(200, 1200)
    ratios = (0.5, 1.0, 1.19, 1.56, 2.0, 2.51, 3.01)
    return sum(np.sin(2 * np.pi * f0 * r * t) * np.exp(-t * (1.0 + 1.5 * r)) / (1 + i)
               for i, r in enumerate(ratios) if f0 * r < 0.45 * rate)


EVENTS = (impact, beep, siren, footsteps, whoosh, clicks, knock, ring, bell)


def sfx(rng: np.random.Generator, rate: int, seconds: float) -> np.ndarray:
    """One to four foreground events of one or two kinds placed in ``seconds`` of silence."""
    n = int(round(seconds * rate))
    out = np.zeros(n)
    kinds = [EVENTS[int(i)] for i in rng.integers(0, len(EVENTS), size=int(rng.integers(1, 3)))]
    for _ in range(int(rng.integers(1, 5))):
        ev = kinds[int(rng.integers(len(kinds)))](rng, rate)
        ev = ev / (np.max(np.abs(ev)) + 1e-9) * rng.uniform(0.5, 1.0)
        start = int(rng.integers(-len(ev) // 3, max(1, n - len(ev) // 2)))
        a, b = max(0, start), min(n, start + len(ev))
        if b > a:
            out[a:b] += ev[a - start : b - start]
    return out.astype(np.float32)


# --- background beds ---------------------------------------------------------------------

def wind(rng, rate, n):
    slow = _lowpass(rng.standard_normal(n // 256 + 2), 2.0, max(64, rate // 256), 1)
    gust = np.interp(np.arange(n), np.arange(len(slow)) * 256, 1 + 2.5 * np.abs(slow))
    return _band(rng.standard_normal(n), rng.uniform(80, 200), rng.uniform(600, 2500), rate) * gust


def rain(rng, rate, n):
    out = 0.3 * _band(rng.standard_normal(n), 1000, 10000, rate)
    drops = rng.integers(0, n, size=int(rng.uniform(200, 1500) * n / rate))
    m = int(0.004 * rate)
    kernel = np.sin(np.linspace(0, np.pi, m)) * rng.standard_normal(m)
    spikes = np.zeros(n)
    spikes[drops] = rng.uniform(0.2, 1.0, size=len(drops))
    return out + signal.fftconvolve(spikes, kernel)[:n]


def room(rng, rate, n):
    mains = float(rng.choice([50.0, 60.0]))
    t = np.arange(n) / rate
    hum = sum(np.sin(2 * np.pi * mains * k * t + rng.uniform(0, 6.3)) / k**1.5 for k in range(1, 6))
    return _pink(rng, n) * 0.5 + rng.uniform(0.05, 0.6) * hum


def traffic(rng, rate, n):
    brown = np.cumsum(rng.standard_normal(n))
    brown = signal.lfilter([1, -1], [1, -0.999], brown)
    swell = 1 + 0.8 * np.sin(2 * np.pi * rng.uniform(0.05, 0.3) * np.arange(n) / rate + rng.uniform(0, 6.3))
    return _lowpass(brown, rng.uniform(300, 1200), rate) * swell


def engine(rng, rate, n):
    t = np.arange(n) / rate
    f = rng.uniform(25, 90) * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.05, 0.5) * t))
    phase = 2 * np.pi * np.cumsum(f) / rate
    tone = sum(np.sin(k * phase) / k for k in range(1, 12) if 90 * k < 0.45 * rate)
    return tone + 0.2 * _lowpass(rng.standard_normal(n), 800, rate)


def water(rng, rate, n):
    bub = np.zeros(n)
    for i in rng.integers(0, n, size=int(rng.uniform(30, 120) * n / rate)):
        m = int(rng.uniform(0.01, 0.04) * rate)
        f = rng.uniform(300, 1500)
        tt = np.arange(min(m, n - i)) / rate
        bub[i : i + len(tt)] += np.sin(2 * np.pi * f * (1 + 2 * tt / 0.04) * tt) * np.exp(-tt / 0.01)
    return bub + 0.4 * _band(rng.standard_normal(n), 300, 6000, rate)


BEDS = (wind, rain, room, traffic, engine, water)


def sfxbg(rng: np.random.Generator, rate: int, seconds: float) -> np.ndarray:
    """A background bed: a mix of one to three continuous beds at random relative levels."""
    n = int(round(seconds * rate))
    out = np.zeros(n)
    picks = rng.choice(len(BEDS), size=int(rng.integers(1, 4)), replace=False)
    for i in picks:
        bed = BEDS[int(i)](rng, rate, n)
        out += bed / (np.sqrt(np.mean(bed**2)) + 1e-9) * 10 ** (rng.uniform(-10, 0) / 20)
    return out.astype(np.float32)


# --- General MIDI sound-effect programs ---------------------------------------------------------

#: GM programs 120-127 by use: foreground events and continuous beds
GM_EVENTS = (120, 121, 123, 124, 127)  # fret noise, breath, bird, telephone, gunshot
GM_BEDS = (122, 125, 126)  # seashore, helicopter, applause


def gm_effect(rng: np.random.Generator, rate: int, seconds: float, soundfont: str, background: bool) -> np.ndarray:
    """A GM sound-effect program from ``soundfont``: a few short notes, or one long held bed."""
    from .midi import Note, Part
    from .render import render_part

    program = int(rng.choice(GM_BEDS if background else GM_EVENTS))
    if background:
        notes = [Note(0.0, seconds, int(rng.integers(48, 72)), int(rng.integers(80, 120)))]
    else:
        starts = np.sort(rng.uniform(0, seconds * 0.9, size=int(rng.integers(1, 5))))
        notes = [Note(float(t), float(rng.uniform(0.2, 1.5)), int(rng.integers(48, 84)), int(rng.integers(70, 127)))
                 for t in starts]
    audio = render_part(Part("sfx", program, notes, channel=0), 1.0, soundfont, rate, seconds)
    return audio.mean(axis=0).astype(np.float32)
