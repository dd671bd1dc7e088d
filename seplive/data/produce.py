"""Production: what a mixing engineer does to a song's stems, and a mastering limiter.

Three switches of ``MixtureSampler`` use this module, each with random streams of its own, so
that at 0 every example stays bit-identical:

- ``produced_mix``: a share of songs whose stems go through Spotify's ``pedalboard`` (the
  ``data`` extra): comping parts of ``other`` through an amp (drive, then a cabinet's band
  limits and a mid bump) when they are guitars (and a fifth of the other comping parts),
  or a chorus otherwise sometimes; drums through a bus compressor and parallel saturation;
  bass through a compressor and some drive; the lead through a high-pass, a compressor, and
  sometimes a doubling chorus or a plate-like reverb.  Each stem keeps its RMS, so the
  song's balance is the same; the target is the processed stem.
- ``loud_master``: a share of examples limited as a loud release is: the mix is driven 3-12 dB
  into a look-ahead peak limiter whose *gain* (computed on the mix, 1 ms blocks, instant
  attack over a 2-5 ms look-ahead, 30-250 ms release) multiplies every target alike, so
  ``mixture == targets.sum(0)`` still holds exactly.  No nonlinear bus effect: a clipper
  or saturator on the sum cannot be split into the stems.
- ``spoken_vocals``: a share of songs whose lead is spoken or rapped (espeak-ng or flite, one
  speaker a song, phrases on the bar lines when rapped) instead of sung, placed dead centre;
  it is the song's ``vocals``.
"""

from __future__ import annotations

import numpy as np
import soxr
from scipy import ndimage

from . import speech

#: GM guitars (nylon .. guitar harmonics): comping parts that go through an amp most of the time
GUITARS = frozenset(range(24, 32))


def available() -> bool:
    try:
        import pedalboard  # noqa: F401
    except ImportError:
        return False
    return True


def _require():
    try:
        import pedalboard
    except ImportError:
        raise ValueError("produced_mix > 0 needs pedalboard (pip install pedalboard, the 'data' extra)") from None
    return pedalboard


def _run(board, x: np.ndarray, rate: int) -> np.ndarray:
    y = board(np.ascontiguousarray(x, np.float32), float(rate), reset=True)
    return np.nan_to_num(np.asarray(y, np.float32))


def _keep_level(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``y`` at ``x``'s RMS (processing changes the sound, not the song's balance)."""
    rx, ry = float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))), float(np.sqrt(np.mean(np.square(y, dtype=np.float64))))
    if ry < 1e-9:
        return np.zeros_like(x)
    return (y * np.float32(rx / ry)).astype(np.float32)


def amp(rng: np.random.Generator, x: np.ndarray, rate: int) -> np.ndarray:
    """A guitar amp and cabinet: tighten, drive (6-35 dB), mid bump, cab band (2.5-6 kHz)."""
    pb = _require()
    drive = float(rng.uniform(6.0, 35.0))
    board = pb.Pedalboard([
        pb.HighpassFilter(float(rng.uniform(70, 200))),
        pb.PeakFilter(float(rng.uniform(500, 1500)), float(rng.uniform(0, 8)), 0.8),  # a pedal's mid push
        pb.Distortion(drive_db=drive),
        pb.PeakFilter(float(rng.uniform(300, 2500)), float(rng.uniform(-4, 6)), float(rng.uniform(0.5, 1.5))),
        pb.LowpassFilter(float(np.exp(rng.uniform(np.log(2500), np.log(6000))))),
        pb.LowpassFilter(float(np.exp(rng.uniform(np.log(3500), np.log(8000))))),  # steeper: a speaker's roll-off
        pb.HighpassFilter(float(rng.uniform(60, 120))),
    ])
    if rng.random() < 0.3:
        board.append(pb.Chorus(rate_hz=float(rng.uniform(0.3, 2.0)), depth=float(rng.uniform(0.1, 0.4)),
                               mix=float(rng.uniform(0.2, 0.5))))
    return _keep_level(_run(board, x, rate), x)


def comping(rng: np.random.Generator, x: np.ndarray, rate: int, program: int) -> np.ndarray:
    """One comping part of ``other``: an amp for guitars (80 %) and a fifth of the rest, else a
    chorus sometimes, else as it was."""
    if rng.random() < (0.8 if program in GUITARS else 0.2):
        return amp(rng, x, rate)
    if rng.random() < 0.3:
        pb = _require()
        board = pb.Pedalboard([pb.Chorus(rate_hz=float(rng.uniform(0.2, 1.5)), depth=float(rng.uniform(0.1, 0.5)),
                                         mix=float(rng.uniform(0.2, 0.5)))])
        return _keep_level(_run(board, x, rate), x)
    return x


def _compressor(pb, rng: np.random.Generator, threshold: tuple[float, float], ratio: tuple[float, float]):
    return pb.Compressor(threshold_db=float(rng.uniform(*threshold)), ratio=float(rng.uniform(*ratio)),
                         attack_ms=float(rng.uniform(1, 15)), release_ms=float(rng.uniform(40, 250)))


def stem(rng: np.random.Generator, x: np.ndarray, rate: int, role: str) -> np.ndarray:
    """A whole stem's mix chain (drums, bass, vocals; ``other`` is done part by part)."""
    pb = _require()
    # stems are rendered at about 0.1 RMS (-20 dBFS): thresholds are set against that
    if role == "drums":
        y = _run(pb.Pedalboard([_compressor(pb, rng, (-32, -18), (2.5, 8))]), x, rate)
        if rng.random() < 0.6:  # parallel saturation: the crushed copy under the dry kit
            crushed = _run(pb.Pedalboard([pb.Distortion(drive_db=float(rng.uniform(8, 25))),
                                          pb.LowpassFilter(float(rng.uniform(4000, 12000)))]), x, rate)
            y = y + _keep_level(crushed, y) * np.float32(rng.uniform(0.2, 0.6))
    elif role == "bass":
        chain = [_compressor(pb, rng, (-30, -18), (3, 8))]
        if rng.random() < 0.5:
            chain += [pb.Distortion(drive_db=float(rng.uniform(4, 18))),
                      pb.LowpassFilter(float(rng.uniform(1500, 5000)))]
        y = _run(pb.Pedalboard(chain), x, rate)
    elif role == "vocals":
        chain = [pb.HighpassFilter(float(rng.uniform(80, 160))), _compressor(pb, rng, (-30, -18), (2.5, 6)),
                 pb.PeakFilter(float(rng.uniform(2500, 6000)), float(rng.uniform(0, 5)), 1.0)]
        if rng.random() < 0.3:  # a double
            chain.append(pb.Chorus(rate_hz=float(rng.uniform(0.5, 2)), depth=float(rng.uniform(0.05, 0.2)),
                                   centre_delay_ms=float(rng.uniform(10, 25)), mix=float(rng.uniform(0.2, 0.4))))
        if rng.random() < 0.4:
            chain.append(pb.Reverb(room_size=float(rng.uniform(0.3, 0.85)), damping=float(rng.uniform(0.2, 0.7)),
                                   wet_level=float(rng.uniform(0.1, 0.3)), dry_level=1.0,
                                   width=float(rng.uniform(0.5, 1.0))))
        y = _run(pb.Pedalboard(chain), x, rate)
    else:
        return x
    return _keep_level(y, x)


def limiter_gain(rng: np.random.Generator, mixture: np.ndarray, rate: int) -> np.ndarray:
    """(T,) gain of a look-ahead peak limiter driving ``mixture`` (C, T) 3-12 dB over a 1.0 ceiling.

    The gain includes the drive; after it no sample of the mixture is over the ceiling.  Computed
    in 1 ms blocks: block peaks, the gain each needs, the minimum over the look-ahead either
    side (instant attack), a one-pole release, linear between blocks, then any sample still
    over the ceiling pulled down."""
    peak = float(np.max(np.abs(mixture))) if mixture.size else 0.0
    n = mixture.shape[-1]
    if peak <= 0 or n == 0:
        return np.ones(n, np.float32)
    drive = 10 ** (float(rng.uniform(3.0, 12.0)) / 20) / peak
    lookahead = float(rng.uniform(0.002, 0.005))
    release = float(rng.uniform(0.03, 0.25))
    block = max(1, int(rate / 1000))
    nb = -(-n // block)
    level = np.abs(mixture).max(axis=0)
    level = np.pad(level, (0, nb * block - n)).reshape(nb, block).max(axis=1) * drive
    need = np.minimum(1.0, 1.0 / np.maximum(level, 1e-12))
    size = 2 * max(1, int(round(lookahead * 1000))) + 3
    need = ndimage.minimum_filter1d(need, size=size, mode="nearest")
    a = float(np.exp(-1.0 / (release * 1000)))
    g = np.empty(nb)
    prev = 1.0
    for i in range(nb):  # attack instant, release exponential (3,000 blocks for 3 s: fast enough)
        prev = min(need[i], a * prev + (1 - a))
        g[i] = prev
    gain = np.interp(np.arange(n), np.arange(nb) * block + block / 2, g) * drive
    over = np.abs(mixture).max(axis=0) * gain
    gain = np.where(over > 1.0, gain / np.maximum(over, 1e-12), gain)
    return gain.astype(np.float32)


def _speaker(rng: np.random.Generator, flite: bool):
    """One lead speaker: a function ``(text, rap, max_seconds) -> (mono, rate)``."""
    if flite and rng.random() < 0.5:
        voice = speech.FLITE_VOICES[int(rng.integers(len(speech.FLITE_VOICES)))]
        f0 = float(rng.uniform(90, 150)) if voice in ("awb", "rms", "kal16") else float(rng.uniform(150, 250))
        warp = float(rng.uniform(0.9, 1.1))

        def say(text: str, rap: bool, max_seconds: float, r: np.random.Generator):
            stretch = float(r.uniform(0.65, 0.85)) if rap else float(r.uniform(0.85, 1.2))
            audio, rate = speech.flite_say(text, voice, f0_mean=f0 * float(r.uniform(0.95, 1.1)), stretch=stretch,
                                           max_seconds=max_seconds * warp)
            return audio, int(round(rate * warp))

        return say
    lang = ("en", "en-us", "en-gb-x-rp", "en-029", "en-gb-scotland")[int(rng.integers(5))] if rng.random() < 0.8 \
        else speech.LANGUAGES[int(rng.integers(len(speech.LANGUAGES)))]
    variant = speech.VARIANTS[int(rng.integers(len(speech.VARIANTS)))]
    voice = f"{lang}+{variant}" if variant else lang
    pitch = int(rng.integers(15, 85))
    warp = float(rng.uniform(0.88, 1.12))  # vocal-tract length and pitch together

    def say(text: str, rap: bool, max_seconds: float, r: np.random.Generator):
        wpm = int(r.integers(210, 330)) if rap else int(r.integers(130, 210))
        prange = int(r.integers(5, 35)) if rap else int(r.integers(30, 90))
        audio, rate = speech.say(text, voice, rate_wpm=wpm, pitch=pitch, prange=prange,
                                 max_seconds=max_seconds * warp, seed=int(r.integers(2**31)))
        return audio, int(round(rate * warp))

    return say


def spoken_lead(rng: np.random.Generator, total_seconds: float, seconds_per_bar: float, sample_rate: int,
                flite: bool) -> np.ndarray:
    """(2, N) a spoken (half the songs) or rapped lead over the whole song, mono in both channels
    (dead centre), about 0.1 RMS; phrases of one or two sentences with short breaths between,
    each rapped phrase starting on a bar (or half-bar) line."""
    n = int(round(total_seconds * sample_rate))
    out = np.zeros(n, np.float32)
    rap = bool(rng.random() < 0.5)
    say = _speaker(rng, flite)
    corpus = speech.sentences()
    t = float(rng.uniform(0.0, 0.5)) * seconds_per_bar
    while t < total_seconds - 0.3:
        text = " ".join(corpus[int(i)] for i in rng.integers(0, len(corpus), size=int(rng.integers(1, 3))))
        audio, rate = say(text, rap, min(total_seconds - t, 4 * seconds_per_bar + 2.0), rng)
        if rate != sample_rate:
            audio = soxr.resample(audio, rate, sample_rate)
        start = int(round(t * sample_rate))
        audio = audio[: max(0, n - start)]
        out[start : start + len(audio)] += audio * np.float32(10 ** (rng.uniform(-3, 0) / 20))
        t += len(audio) / sample_rate + float(rng.uniform(0.1, 0.6))
        if rap:  # the next line starts on the beat grid (half bars)
            grid = seconds_per_bar / 2
            t = float(np.ceil(t / grid) * grid)
    level = float(np.sqrt(np.mean(np.square(out, dtype=np.float64))))
    if level < 1e-6:
        return np.zeros((2, n), np.float32)
    out *= np.float32(0.1 / level)
    return np.stack([out, out])
