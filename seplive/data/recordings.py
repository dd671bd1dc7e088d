"""Held-out mixtures with *real* speech: the voice recordings that ship with alsa-utils
(``/usr/share/sounds/alsa``: eight spoken channel names, a woman's voice, 48 kHz) and pyo
(``pyo/lib/snds/transparent.aif``: a man saying "transparent", 44.1 kHz), over generated
music or sound effects.

Synthetic voices (espeak-ng) are what the models train on; these sets say how far that
carries to a human voice.  Task ``real_speech_music`` is ``speech_music`` with its speech
replaced by a real recording at the same level, ``real_speech_sfx`` likewise for
``speech_sfx``; the backgrounds are the synthetic sets' own (same seed, same songs), so
the two tables differ only in the voice.

The speech track of an example: recordings in a random order, each at a random gain
(-6..0 dB), with random pauses (0.1-0.5 s) between them, until the example is full; placed
in the stereo field like the generator's speech (a constant pan).  Deterministic in
``(seed, index)``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from .mixing import Example, heldout_set

__all__ = ["REAL_TASKS", "recording_paths", "speech_recordings", "real_heldout_set"]

#: real-speech tasks and the synthetic task whose backgrounds they reuse
REAL_TASKS = {"real_speech_music": "speech_music", "real_speech_sfx": "speech_sfx"}

ALSA_SOUNDS = Path("/usr/share/sounds/alsa")
ALSA_VOICES = ("Front_Center", "Front_Left", "Front_Right", "Rear_Center", "Rear_Left", "Rear_Right",
               "Side_Left", "Side_Right")  # fmt: skip


def _pyo_sounds() -> Path | None:
    spec = importlib.util.find_spec("pyo")  # finds the folder without importing pyo (no audio libraries)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "lib" / "snds"


def recording_paths() -> list[Path]:
    """The real speech recordings found on this machine (alsa-utils' and pyo's)."""
    found = [ALSA_SOUNDS / f"{name}.wav" for name in ALSA_VOICES]
    snds = _pyo_sounds()
    if snds is not None:
        found.append(snds / "transparent.aif")
    return [p for p in found if p.is_file()]


def speech_recordings(sample_rate: int = 48000) -> list[np.ndarray]:
    """Each recording as mono float32 at ``sample_rate``, leading/trailing silence trimmed."""
    paths = recording_paths()
    if not paths:
        raise ValueError(
            f"no real speech recordings found (alsa-utils' {ALSA_SOUNDS} or pyo's snds/transparent.aif): "
            "install alsa-utils or pyo"
        )
    out = []
    for p in paths:
        x, rate = sf.read(str(p), dtype="float32", always_2d=True)
        x = x.mean(axis=1)
        if rate != sample_rate:
            x = soxr.resample(x, rate, sample_rate).astype(np.float32)
        loud = np.flatnonzero(np.abs(x) > 0.01 * np.abs(x).max())
        out.append(np.ascontiguousarray(x[loud[0] : loud[-1] + 1]))
    return out


def _speech_track(rng: np.random.Generator, clips: list[np.ndarray], length: int, rate: int) -> np.ndarray:
    track = np.zeros(length, np.float32)
    pos = int(rng.uniform(0.0, 0.3) * rate)
    while pos < length:
        clip = clips[int(rng.integers(len(clips)))] * np.float32(10 ** (rng.uniform(-6.0, 0.0) / 20))
        n = min(len(clip), length - pos)
        track[pos : pos + n] = clip[:n]
        pos += n + int(rng.uniform(0.1, 0.5) * rate)
    return track


def real_heldout_set(task: str, n: int = 16, seed: int = 1234, sample_rate: int = 48000, seconds: float = 6.0,
                     channels: int = 2) -> list[Example]:  # fmt: skip
    """``n`` fixed examples of ``task`` (a name from :data:`REAL_TASKS`): the synthetic
    held-out set's examples with the ``speech`` target replaced by real recordings at the
    synthetic speech's level (RMS over the example), and the mixture re-summed."""
    if task not in REAL_TASKS:
        raise ValueError(f"unknown real task {task!r}; known: {', '.join(REAL_TASKS)}")
    clips = speech_recordings(sample_rate)
    base = heldout_set(REAL_TASKS[task], n=n, seed=seed, sample_rate=sample_rate, seconds=seconds, channels=channels)
    out = []
    for i, ex in enumerate(base):
        rng = np.random.default_rng([seed, 0x5EA1, i])
        k = ex.prompts.index("speech")
        length = ex.mixture.shape[-1]
        mono = _speech_track(rng, clips, length, sample_rate)
        pan = rng.uniform(-0.5, 0.5) if channels == 2 else 0.0
        gains = np.array([np.cos((pan + 1) * np.pi / 4), np.sin((pan + 1) * np.pi / 4)])[:channels] * np.sqrt(2 / channels)
        voice = (gains[:, None] * mono[None]).astype(np.float32)
        level = float(np.sqrt(np.mean(np.square(ex.targets[k], dtype=np.float64))))
        have = float(np.sqrt(np.mean(np.square(voice, dtype=np.float64))))
        targets = ex.targets.copy()
        targets[k] = voice * np.float32(level / have) if have > 0 else voice
        mixture = targets.sum(axis=0)
        peak = float(np.max(np.abs(mixture)))
        if peak > 0.98:
            targets *= np.float32(0.98 / peak)
            mixture = targets.sum(axis=0)
        out.append(Example(mixture=mixture, prompts=list(ex.prompts), targets=targets, sample_rate=sample_rate, task=task))
    return out
