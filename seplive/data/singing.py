"""Sung vocals: the lead melody sung by espeak-ng, one word per note at the note's pitch.

espeak-ng 1.52 (the ``espeakng-loader`` wheel) can hold F0 constant (``espeak_ng_SetConstF0``),
so each note is one short word spoken at exactly the note's frequency with a speaking rate that
fits the note's length; the result is cut to the note with short fades and given vibrato by a
modulated delay (about 5-6 Hz, 15-40 cents).  One engine session renders a whole song, so a
song's vocals are deterministic.  Without the wheel (Debian's 1.51 command has no constant-F0
control) this returns None and the caller falls back to a voice-like General MIDI program.
"""

from __future__ import annotations

import re

import numpy as np
import soxr

from .midi import Part
from .speech import ESPEAK_RATE, LANGUAGES, VARIANTS, engine, sentences

FADE = 0.015  # seconds of fade at each note edge
#: variants that ignore the constant F0 (the Klatt synthesiser) or have no pitch (whisper)
NO_PITCH = frozenset({"Reed", "UniRobot", "adam", "announcer", "benjamin", "caleb", "david", "edward", "edward2",
                      "mike2", "robosoft", "robosoft2", "robosoft3", "whisper", "whisperf"})
SING_VARIANTS = tuple(v for v in VARIANTS if v not in NO_PITCH and not v.startswith("klatt"))


def _words(rng: np.random.Generator, n: int) -> list[str]:
    corpus = sentences()
    words: list[str] = []
    while len(words) < n:
        s = corpus[int(rng.integers(len(corpus)))]
        words += [w.lower() for w in re.findall(r"[A-Za-z]+", s) if 2 <= len(w) <= 6]
    return words[:n]


def vibrato(x: np.ndarray, rate: int, rng: np.random.Generator) -> np.ndarray:
    """Frequency modulation by a sinusoidally modulated delay (depth in cents, rate in Hz)."""
    cents = float(rng.uniform(15, 40))
    hz = float(rng.uniform(4.8, 6.5))
    ratio = 2 ** (cents / 1200) - 1
    depth = ratio / (2 * np.pi * hz)  # seconds of delay swing giving that pitch swing
    t = np.arange(len(x)) / rate
    delay = depth * (1 + np.sin(2 * np.pi * hz * t + rng.uniform(0, 6.28)))
    return np.interp(t - delay, t, x, left=0.0).astype(np.float32)


def sing(part: Part, seconds_per_beat: float, sample_rate: int, seconds: float,
         rng: np.random.Generator) -> np.ndarray | None:
    """(2, N) sung vocals for ``part`` (N = seconds * rate), or None without the in-process engine."""
    eng = engine()
    if eng is None:
        return None
    n_out = int(round(seconds * ESPEAK_RATE))
    out = np.zeros(n_out, np.float32)
    lang = LANGUAGES[int(rng.integers(len(LANGUAGES)))] if rng.random() < 0.5 else "en"
    variant = SING_VARIANTS[int(rng.integers(len(SING_VARIANTS)))]
    voice = f"{lang}+{variant}" if variant else lang
    notes = [n for n in part.notes if n.start * seconds_per_beat < seconds]
    words = _words(rng, len(notes))
    fade = int(FADE * ESPEAK_RATE)
    with eng.session(int(rng.integers(2**31))) as utter:
        for note, word in zip(notes, words, strict=True):
            t0 = note.start * seconds_per_beat
            dur = min(note.length * seconds_per_beat, seconds - t0)
            if dur < 0.06:
                continue
            f0 = 440.0 * 2 ** ((note.pitch - 69) / 12)
            # a one-syllable word takes about 0.35 s at 175 wpm; slower for long notes
            wpm = int(np.clip(175 * 0.35 / max(dur, 0.05), 80, 400))
            audio = utter(word, voice, rate_wpm=wpm, max_seconds=dur + 0.5, const_f0=int(round(f0)))
            x = audio.astype(np.float32) / 32768.0
            nz = np.nonzero(np.abs(x) > 1e-3)[0]
            if len(nz) == 0:
                continue
            x = x[nz[0] :][: int(dur * ESPEAK_RATE)]
            if len(x) > 2 * fade:
                ramp = np.linspace(0, 1, fade, dtype=np.float32)
                x[:fade] *= ramp
                x[-fade:] *= ramp[::-1]
            a = int(round(t0 * ESPEAK_RATE))
            b = min(n_out, a + len(x))
            out[a:b] += x[: b - a] * (note.velocity / 127.0)
    out = vibrato(out, ESPEAK_RATE, rng)
    if sample_rate != ESPEAK_RATE:
        out = soxr.resample(out, ESPEAK_RATE, sample_rate).astype(np.float32)
    n = int(round(seconds * sample_rate))
    out = np.pad(out[:n], (0, max(0, n - len(out))))
    return np.stack([out, out])
