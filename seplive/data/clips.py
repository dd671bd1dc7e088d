"""Recorded voices and sound effects for *training*, from Debian game data packages.

The generator's speech is synthetic (espeak-ng, flite) and its effects procedural; real
recordings of both ship in game data packages that the real-recording panel does not use
(``seplive.data.panel`` holds out alsa-utils, pyo, sonic-pi-samples and lmms; a test checks
that none of these folders is one of the panel's):

- ``hedgewars-data``: 14 voice packs, one person each (British, Pirate, Mobster, Singer,
  Russian, Spanish, Polish, Ukrainian...), 40-80 s of short spoken lines per pack, 44.1 and
  48 kHz; its robot pack is left out (a vocoder, not a voice).  Its 100 or so sound effects
  (impacts, guns, explosions, water, steps, a plane), less its tuned notes and its one piece
  of music.
- ``tuxpaint-data``, ``frozen-bubble-data``, ``pingus-data``: interface and game effects
  (clicks, bubbles, a harp glissando, applause, a typewriter, splashes), less their music and
  their spoken lines.
- ``klettres-data``: KLettres' readers, one per language folder and kind (letters, syllables):
  people reading single letters and syllables in 19 languages (Arabic, Czech, Danish, German,
  two Englishes, Spanish, French, Hebrew, Italian, Lithuanian, Malayalam, Norwegian, Low
  German, Dutch, Brazilian Portuguese, Russian, Tswana, Ukrainian), 0.2-3 s a clip.  Readers
  whose noise floor sits within 30 dB of their voice are left out (measured: ``NOISY_READERS``).
  ``recorded_speech(..., letters=x)`` draws that share of its speakers from them.

``recorded_speech(rng, seconds, rate)`` is one speaker (a pack) saying random lines of theirs
with pauses; ``recorded_effects(rng, rate, seconds)`` is one to four effects at random times.
Both are mono float32 at ``rate``, deterministic in ``rng``, and ``available()`` says whether
the packages are installed (``scripts/setup.sh`` installs them).  Decoded clips are kept per
process (about 200 MB for all of them at 48 kHz).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from .packaged import packaged

__all__ = ["VOICE_ROOT", "LETTER_ROOT", "EFFECT_ROOTS", "NEEDS", "LETTER_NEEDS", "voice_packs", "letter_packs",
           "effect_files", "available", "letters_available", "recorded_speech", "recorded_effects", "roots"]

VOICE_ROOT = packaged("/usr/share/games/hedgewars/Data/Sounds/voices")
#: KLettres' recordings: <language>/alpha (letters) and <language>/syllab (syllables)
LETTER_ROOT = packaged("/usr/share/klettres")
#: readers whose quietest tenth of 20 ms frames is within 30 dB of the loudest (hiss or room noise
#: that a "speech" target would teach the model to keep)
NOISY_READERS = ("cs/syllab", "hu/alpha", "hu/syllab", "it/syllab", "ml/alpha")
#: folders of effects, each with the files in it that are not effects (music, notes, voices)
EFFECT_ROOTS: dict[Path, tuple[str, ...]] = {
    packaged("/usr/share/games/hedgewars/Data/Sounds"): (
        "1C", "2D", "3E", "4F", "5G", "6A", "7B", "8C", "9D", "ride_of_the_valkyries", "hell_growl", "hell_ooff",
        "hell_ow", "hell_ugh", "hogchant3", "Yoohoo", "Kiss", "countdown1", "countdown2", "countdown3", "countdown4",
    ),
    packaged("/usr/share/tuxpaint/sounds"): ("areyousure", "giggle", "youcannot", "tuxok"),
    packaged("/usr/share/games/frozen-bubble/snd"): ("frozen-mainzik-1p", "frozen-mainzik-2p", "introzik", "noh",
                                                  "hurry", "snore"),
    packaged("/usr/share/games/pingus/data/sounds"): ("goodidea", "letsgo", "ohno", "yipee"),
}
#: voice packs that are not a human voice
NOT_VOICES = ("Robot",)
#: what to install when they are missing
NEEDS = ("Debian's hedgewars-data, tuxpaint-data, frozen-bubble-data and pingus-data (scripts/setup.sh "
         "installs them; or a copy under $SEPLIVE_PACKAGES)")
LETTER_NEEDS = "Debian's klettres-data (scripts/setup.sh installs it; or a copy under $SEPLIVE_PACKAGES)"
AUDIO = (".ogg", ".wav", ".flac")


def roots() -> list[Path]:
    """Every folder this module reads (for the panel's held-out check)."""
    return [VOICE_ROOT, LETTER_ROOT, *EFFECT_ROOTS]


def _audio_files(folder: Path, skip: tuple[str, ...] = ()) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO and p.stem not in skip and p.is_file())


@functools.cache
def voice_packs() -> dict[str, tuple[Path, ...]]:
    """Pack name -> its clips, for every installed pack with at least ten clips."""
    if not VOICE_ROOT.is_dir():
        return {}
    packs = {}
    for d in sorted(VOICE_ROOT.iterdir()):
        files = _audio_files(d)
        if d.is_dir() and d.name not in NOT_VOICES and len(files) >= 10:
            packs[d.name] = tuple(files)
    return packs


@functools.cache
def letter_packs() -> dict[str, tuple[Path, ...]]:
    """``"<language>/<alpha|syllab>"`` -> its clips, for every KLettres reader with at least ten
    clips, less ``NOISY_READERS``."""
    if not LETTER_ROOT.is_dir():
        return {}
    packs = {}
    for lang in sorted(d for d in LETTER_ROOT.iterdir() if d.is_dir()):
        for kind in ("alpha", "syllab"):
            name, files = f"{lang.name}/{kind}", _audio_files(lang / kind)
            if name not in NOISY_READERS and len(files) >= 10:
                packs[name] = tuple(files)
    return packs


def letters_available() -> bool:
    """Whether KLettres' readers are installed (at least ten of them)."""
    return len(letter_packs()) >= 10


@functools.cache
def effect_files() -> tuple[Path, ...]:
    return tuple(p for root, skip in EFFECT_ROOTS.items() for p in _audio_files(root, skip))


def available() -> bool:
    """Whether the voices and the effects are installed (at least five packs, twenty effects)."""
    return len(voice_packs()) >= 5 and len(effect_files()) >= 20


@functools.lru_cache(maxsize=4096)
def _clip(path: Path, rate: int) -> np.ndarray:
    """The clip as mono float32 at ``rate``, its leading and trailing silence (< 1 % of the peak) cut."""
    x, sr = sf.read(path, dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    if sr != rate:
        x = soxr.resample(x, sr, rate, quality="HQ").astype(np.float32)
    loud = np.flatnonzero(np.abs(x) > 0.01 * (np.abs(x).max() + 1e-12))
    return np.ascontiguousarray(x[loud[0] : loud[-1] + 1]) if len(loud) else x[:0]


def _need(what: str, ok: bool) -> None:
    if not ok:
        raise RuntimeError(f"recorded {what} need {NEEDS}")


def recorded_speech(rng: np.random.Generator, seconds: float, rate: int, letters: float = 0.0) -> np.ndarray:
    """One speaker (a random pack) saying random lines of theirs, -6..0 dB each, with 0.1-0.6 s
    between them, for about ``seconds``; the voice resampled by 0.92-1.08 (pitch and formants
    together) so that no two examples share a speaker exactly.  ``letters`` of the speakers
    are KLettres readers (letters and syllables) instead of hedgewars' packs; at 0 nothing is
    drawn for it.  Mono float32, at most ``seconds`` long (it may be shorter: the caller places it)."""
    if letters > 0 and rng.random() < letters:
        packs = letter_packs()
        if not packs:
            raise RuntimeError(f"KLettres' readers need {LETTER_NEEDS}")
    else:
        packs = voice_packs()
    _need("voices", bool(packs))
    names = sorted(packs)
    files = packs[names[int(rng.integers(len(names)))]]
    warp = float(rng.uniform(0.92, 1.08))
    n = int(seconds * rate)
    out, pos = np.zeros(n, np.float32), int(rng.uniform(0.0, 0.3) * rate)
    while pos < n:
        clip = _clip(files[int(rng.integers(len(files)))], rate)
        if warp != 1.0:
            clip = soxr.resample(clip, rate * warp, rate).astype(np.float32)
        take = min(len(clip), n - pos)
        out[pos : pos + take] += clip[:take] * np.float32(10 ** (rng.uniform(-6.0, 0.0) / 20))
        pos += take + int(rng.uniform(0.1, 0.6) * rate)
    return out


def recorded_effects(rng: np.random.Generator, rate: int, seconds: float) -> np.ndarray:
    """One to four recorded effects at random times (an effect may run past the end: cut),
    -10..0 dB each, mono float32 of ``seconds``."""
    files = effect_files()
    _need("effects", bool(files))
    n = int(seconds * rate)
    out = np.zeros(n, np.float32)
    for _ in range(int(rng.integers(1, 5))):
        clip = _clip(files[int(rng.integers(len(files)))], rate)[: n]
        start = int(rng.integers(0, max(1, n - len(clip) // 2)))
        take = min(len(clip), n - start)
        out[start : start + take] += clip[:take] * np.float32(10 ** (rng.uniform(-10.0, 0.0) / 20))
    return out
