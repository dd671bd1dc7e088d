"""The real-recording panel: held-out mixtures made only of recordings that ship in Debian or
PyPI packages (issue #20), never of anything the training generator makes or reads.

Sources (the manifest below names every file):

- ``alsa-utils`` (Debian, GPL-2): eight spoken channel names, a woman's voice, 48 kHz;
- ``pyo`` (PyPI, LGPL-3): a man saying "transparent", 5.8 s of a man's speech
  (``baseballmajeur_m.aif``), a flute phrase, a drum loop, metal hits (44.1 kHz);
- ``sonic-pi-samples`` (Debian, per-file CC0 / MIT as its copyright file states): drum loops
  (the amen break and others), the hits of an acoustic drum kit, electric guitar phrases, a
  piano, and recorded effects (a crow, a door, impacts, vinyl, swooshes);
- ``lmms-common`` (Debian, GPL-2+): drum breaks, recorded instruments (flute, piano, organs,
  strings, guitars, trumpet, violin, cello) and effects (an explosion, applause).

**Held out by source.** Every file in the folders of :data:`HELDOUT_FOLDERS` belongs to the
panel, whether a task uses it or not: the training generator must never read from them
(:func:`is_heldout`; ``seplive.data.soundfonts`` skips them, and a test checks that what the
generator reads does not intersect them).

Tasks (:data:`PANEL_TASKS`, prompts in order; ``--tasks realpanel`` is all of them):

- ``realpanel_speech_music``: real voices over a real music bed (a drum loop and a recorded
  instrument): ``speech``, ``musicbg``;
- ``realpanel_speech_sfx``: real voices among real effects: ``speech``, ``sfx``;
- ``realpanel_drums``: a real drum loop or a groove played on a real kit's hits, under real
  accompaniment (piano, organ, strings, guitar chords): ``drums``, ``other``;
- ``realpanel_other``: a real lead instrument (flute, electric guitar, trumpet, violin...) over
  real drums: ``other``, ``drums``;
- ``realpanel_vocals``: a real voice placed dead centre in a real band (drums and an
  instrument, panned): ``vocals``, ``drums``, ``other``.

Example ``i`` of a task depends only on ``(seed, task, i)`` and the sample rate, so the first
``n`` examples are the same for every ``n``.  Levels are realistic, not generous: the target
sits between 4 dB under and 2-4 dB over the rest (RMS over the example), and nothing is
normalised per event.  Every source is looped or repeated to fill the example.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from .clips import roots
from .example import Example
from .heldout import HELDOUT_FOLDERS, heldout_folders, is_heldout, resolve_folder
from .kits import KIT_ROOT
from .soundfonts import search_path, soundfont_files

__all__ = ["PANEL_TASKS", "PANEL_FAMILY", "HELDOUT_FOLDERS", "PanelFile", "PanelExample", "MANIFEST",
           "panel_files", "missing_files", "panel_available", "heldout_folders", "is_heldout", "training_sources",
           "panel_set"]  # fmt: skip

PANEL_FAMILY = "realpanel"
#: task -> its prompts, in order
PANEL_TASKS: dict[str, tuple[str, ...]] = {
    "realpanel_speech_music": ("speech", "musicbg"),
    "realpanel_speech_sfx": ("speech", "sfx"),
    "realpanel_drums": ("drums", "other"),
    "realpanel_other": ("other", "drums"),
    "realpanel_vocals": ("vocals", "drums", "other"),
}

@dataclass(frozen=True)
class PanelFile:
    """One recording of the panel: a folder of :data:`HELDOUT_FOLDERS` and a path inside it."""

    root: str
    path: str

    @property
    def package(self) -> str:
        return HELDOUT_FOLDERS[self.root][0]

    @property
    def label(self) -> str:
        return f"{self.root}:{self.path}"

    def resolve(self) -> Path | None:
        base = resolve_folder(self.root)
        return None if base is None else base / self.path


def _files(root: str, *paths: str) -> tuple[PanelFile, ...]:
    return tuple(PanelFile(root, p) for p in paths)


_ALSA_VOICES = ("Front_Center", "Front_Left", "Front_Right", "Rear_Center", "Rear_Left", "Rear_Right",
                "Side_Left", "Side_Right")  # fmt: skip
_KIT = {  # a real acoustic kit, one hit per file (sonic-pi-samples)
    "kick": "drum_heavy_kick.flac", "kick2": "drum_bass_hard.flac", "snare": "drum_snare_hard.flac",
    "ghost": "drum_snare_soft.flac", "hat": "drum_cymbal_closed.flac", "open": "drum_cymbal_open.flac",
    "pedal": "drum_cymbal_pedal.flac", "tom_hi": "drum_tom_hi_hard.flac", "tom_mid": "drum_tom_mid_hard.flac",
    "tom_lo": "drum_tom_lo_hard.flac", "crash": "drum_splash_hard.flac",
}  # fmt: skip

#: every file the tasks use, by role
MANIFEST: dict[str, tuple[PanelFile, ...]] = {
    "speech": _files("alsa", *(f"{v}.wav" for v in _ALSA_VOICES))
    + _files("pyo-lib", "transparent.aif")
    + _files("pyo-examples", "baseballmajeur_m.aif"),
    "sfx": _files("sonic-pi", "misc_burp.flac", "misc_crow.flac", "misc_cineboom.flac", "perc_door.flac",
                  "perc_impact1.flac", "perc_impact2.flac", "perc_snap.flac", "perc_swoosh.flac", "perc_till.flac",
                  "perc_bell.flac", "vinyl_backspin.flac", "vinyl_rewind.flac", "vinyl_scratch.flac",
                  "ambi_swoosh.flac", "ambi_dark_woosh.flac")
    + _files("lmms", "effects/explode01.ogg", "misc/applause01.ogg")
    + _files("pyo-examples", "alum1.wav", "alum2.wav", "alum3.wav", "alum4.wav"),
    "drum_loops": _files("pyo-examples", "drumloop.wav")
    + _files("sonic-pi", "loop_amen_full.flac", "loop_amen.flac", "loop_breakbeat.flac", "loop_garzul.flac",
             "loop_compus.flac", "loop_safari.flac")
    + _files("lmms", "beats/break01.ogg", "beats/break02.ogg", "beats/break03.ogg", "beats/jungle01.ogg"),
    "drum_kit": _files("sonic-pi", *_KIT.values()),
    # chords and pads: what plays under drums in realpanel_drums and in the music beds
    "accompaniment": _files("lmms", "instruments/piano02.ogg", "instruments/church_organ01.ogg",
                            "instruments/church_organ03.ogg", "instruments/e_piano_accord01.ogg",
                            "instruments/e_piano_accord02.ogg", "instruments/e_organ01.ogg", "stringsnpads/strings01.ogg",
                            "latin/latin_guitar02.ogg", "latin/latin_guitar03.ogg")
    + _files("sonic-pi", "ambi_piano.flac", "guit_em9.flac")
    + _files("pyo-lib", "accord.aif"),
    # melodic leads: the target of realpanel_other
    "lead": _files("pyo-examples", "flute.aif")
    + _files("lmms", "instruments/flute01.ogg", "instruments/trumpet01.ogg", "instruments/violin_fingered01.ogg",
             "instruments/violin_double_stop01.ogg", "instruments/cello01.ogg", "instruments/steel_guitar01.ogg",
             "instruments/steel_guitar_slight_distorted01.ogg", "instruments/steel_guitar_heavy_distorted01.ogg",
             "latin/latin_guitar01.ogg")
    + _files("sonic-pi", "guit_e_fifths.flac", "guit_e_slide.flac", "guit_harmonics.flac"),
}  # fmt: skip


def training_sources() -> list[Path]:
    """Every file and folder the training generator reads on this machine: the soundfont search
    path and the soundfonts found on it, espeak-ng's data (the speech; flite's voices are
    compiled into its binary, the sentences come from Python's own docstrings) and the
    recorded voices' and effects' folders (``seplive.data.clips``).  None of them may be,
    contain or lie inside a held-out folder (a test checks)."""
    out = [p for p in search_path() if p.exists()] + soundfont_files() + [p for p in [*roots(), KIT_ROOT] if p.exists()]
    try:
        import espeakng_loader

        out.append(Path(espeakng_loader.get_data_path()))
    except ImportError:
        pass
    return out


def panel_files() -> list[PanelFile]:
    """Every file of the manifest, once, in manifest order."""
    return list(dict.fromkeys(f for files in MANIFEST.values() for f in files))


def missing_files() -> list[PanelFile]:
    out = []
    for f in panel_files():
        p = f.resolve()
        if p is None or not p.is_file():
            out.append(f)
    return out


def panel_available() -> bool:
    """Whether every recording of the panel is installed here."""
    return not missing_files()


def _require() -> None:
    missing = missing_files()
    if missing:
        packages = sorted({f.package for f in missing})
        raise ValueError(f"the real-recording panel needs {', '.join(packages)} ({len(missing)} file(s) missing, "
                         f"e.g. {missing[0].label}): apt-get install sonic-pi-samples lmms-common alsa-utils, "
                         "pip install pyo (scripts/setup.sh does both)")  # fmt: skip


@lru_cache(maxsize=256)
def _load(f: PanelFile, rate: int) -> np.ndarray:
    """``(channels, T)`` float32 at ``rate``, leading/trailing silence (< 1 % of the peak) cut."""
    x, src = sf.read(str(f.resolve()), dtype="float32", always_2d=True)
    if src != rate:
        x = soxr.resample(x, src, rate, quality="HQ").astype(np.float32)
    x = x.T
    env = np.abs(x).max(axis=0)
    loud = np.flatnonzero(env > 0.01 * env.max())
    x = np.ascontiguousarray(x[:, loud[0] : loud[-1] + 1])
    x.setflags(write=False)
    return x


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def _stereo(x: np.ndarray, pan: float, channels: int) -> np.ndarray:
    """Mono is panned at constant power; stereo keeps its image, balanced by ``pan``."""
    if channels == 1:
        return x.mean(axis=0, keepdims=True)
    if x.shape[0] == 1:
        theta = (pan + 1) * np.pi / 4
        return np.concatenate([x * np.cos(theta), x * np.sin(theta)]) * np.float32(np.sqrt(2))
    bal = 0.5 * pan
    return (np.stack([x[0] * np.sqrt(1 - bal), x[1] * np.sqrt(1 + bal)]) / np.sqrt(1 + abs(bal))).astype(np.float32)


def _loop(rng: np.random.Generator, clip: np.ndarray, length: int) -> np.ndarray:
    """``clip`` repeated end to end from a random offset, with a 5 ms crossfade at each seam."""
    n = clip.shape[-1]
    fade = min(240, n // 4)  # 5 ms at 48 kHz
    reps = -(-(length + n) // n) + 1
    tiled = np.tile(clip, (1, reps))
    if fade > 1:
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
        for k in range(1, reps):
            s = k * n
            tiled[:, s : s + fade] *= ramp
            tiled[:, s - fade : s] *= ramp[::-1]
    start = int(rng.integers(n))
    return np.ascontiguousarray(tiled[:, start : start + length])


def _events(rng: np.random.Generator, clips: list[np.ndarray], length: int, rate: int, gap_s: tuple[float, float],
            gain_db: tuple[float, float] = (-6.0, 0.0)) -> tuple[np.ndarray, list[int]]:  # fmt: skip
    """Clips one after another (random order, gains, gaps) until ``length`` is full; and which
    clips were used, in order of first use."""
    used: dict[int, None] = {}
    ch = max(c.shape[0] for c in clips)
    track = np.zeros((ch, length), np.float32)
    pos = int(rng.uniform(0.0, 0.4) * rate)
    while pos < length:
        k = int(rng.integers(len(clips)))
        used[k] = None
        clip = clips[k]
        g = np.float32(10 ** (rng.uniform(*gain_db) / 20))
        n = min(clip.shape[-1], length - pos)
        track[:, pos : pos + n] += clip[:, :n] * g
        pos += clip.shape[-1] + int(rng.uniform(*gap_s) * rate)
    return track, list(used)


_GROOVES = (  # 16 steps per bar: (kit piece, steps)
    {"kick": (0, 8), "snare": (4, 12), "hat": tuple(range(0, 16, 2))},
    {"kick": (0, 6, 8), "snare": (4, 12), "ghost": (7, 15), "hat": tuple(range(16))},
    {"kick2": (0, 10), "snare": (4, 12), "open": (2, 6, 10, 14), "pedal": (4, 12)},
    {"kick": (0, 3, 8, 11), "snare": (4, 12), "hat": tuple(range(0, 16, 2)), "tom_lo": (14,), "tom_mid": (15,)},
)


def _kit_groove(rng: np.random.Generator, rate: int, length: int) -> np.ndarray:
    """A groove played on the real kit's one-shot hits: a random tempo and pattern, humanised
    (timing with a 4 ms standard deviation, velocity -6..0 dB), a crash on the first beat, a tom fill every 4th bar."""
    kit = {k: _load(PanelFile("sonic-pi", v), rate)[:1] for k, v in _KIT.items()}  # mono hits
    groove = _GROOVES[int(rng.integers(len(_GROOVES)))]
    step = 60.0 / float(rng.uniform(84, 132)) / 4 * rate
    track = np.zeros((1, length), np.float32)
    n_steps = int(length / step) + 1
    for s in range(n_steps):
        bar, k = divmod(s, 16)
        hits = [name for name, steps in groove.items() if k in steps]
        if bar % 4 == 3 and k >= 12:
            hits = [h for h in hits if h.startswith("kick")] + [("tom_hi", "tom_mid", "tom_lo", "tom_lo")[k - 12]]
        if s == 0:
            hits.append("crash")
        for h in hits:
            at = int(s * step + rng.normal(0, 0.004 * rate))
            if not 0 <= at < length:
                continue
            clip = kit[h]
            n = min(clip.shape[-1], length - at)
            track[:, at : at + n] += clip[:, :n] * np.float32(10 ** (rng.uniform(-6, 0) / 20))
    return track


def _pick(rng: np.random.Generator, role: str) -> PanelFile:
    files = MANIFEST[role]
    return files[int(rng.integers(len(files)))]


@dataclass
class PanelExample(Example):
    """An :class:`Example` that says which recordings made it (``name``: one line)."""

    sources: dict[str, list[str]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return "; ".join(f"{p}: {' + '.join(s)}" for p, s in self.sources.items())


def _drums(rng: np.random.Generator, rate: int, length: int, kit_p: float) -> tuple[np.ndarray, list[str]]:
    if rng.random() < kit_p:
        return _kit_groove(rng, rate, length), ["sonic-pi:kit groove (drum_*.flac)"]
    f = _pick(rng, "drum_loops")
    return _loop(rng, _load(f, rate), length), [f.label]


def _instrument(rng: np.random.Generator, role: str, rate: int, length: int) -> tuple[np.ndarray, list[str]]:
    f = _pick(rng, role)
    clip = _load(f, rate)
    if role == "lead" or clip.shape[-1] < length // 3:
        return _events(rng, [clip], length, rate, (0.1, 0.6), (-3.0, 0.0))[0], [f.label]
    return _loop(rng, clip, length), [f.label]


def _place(rng: np.random.Generator, x: np.ndarray, channels: int, pan: float | None = None) -> np.ndarray:
    return _stereo(x, float(rng.uniform(-0.6, 0.6)) if pan is None else pan, channels)


def _level(x: np.ndarray, db: float) -> np.ndarray:
    level = _rms(x)
    return x if level < 1e-9 else (x * np.float32(0.1 / level * 10 ** (db / 20))).astype(np.float32)


def _example(task: str, index: int, seed: int, rate: int, length: int, channels: int) -> PanelExample:
    rng = np.random.default_rng([seed, 0x9A7E1, list(PANEL_TASKS).index(task), index])
    prompts = list(PANEL_TASKS[task])
    parts: dict[str, np.ndarray] = {}
    sources: dict[str, list[str]] = {}
    if task in ("realpanel_speech_music", "realpanel_speech_sfx"):
        voices = [_load(f, rate) for f in MANIFEST["speech"]]
        speech, used = _events(rng, voices, length, rate, (0.1, 0.5))
        parts["speech"] = _level(_place(rng, speech, channels, float(rng.uniform(-0.3, 0.3))), 0.0)
        sources["speech"] = [MANIFEST["speech"][k].label for k in used]
        if task == "realpanel_speech_music":
            drums, d_src = _drums(rng, rate, length, kit_p=0.3)
            inst, i_src = _instrument(rng, "accompaniment", rate, length)
            bed = _level(_place(rng, drums, channels, 0.0), float(rng.uniform(-4, 0))) + _level(
                _place(rng, inst, channels), float(rng.uniform(-4, 0)))  # fmt: skip
            parts["musicbg"] = _level(bed, float(rng.uniform(-4.0, 4.0)))
            sources["musicbg"] = d_src + i_src
        else:
            chosen = [MANIFEST["sfx"][int(k)] for k in rng.choice(len(MANIFEST["sfx"]), 3, replace=False)]
            sfx, _ = _events(rng, [_load(f, rate) for f in chosen], length, rate, (0.2, 1.2))
            parts["sfx"] = _level(_place(rng, sfx, channels), float(rng.uniform(-4.0, 4.0)))
            sources["sfx"] = [f.label for f in chosen]
    elif task in ("realpanel_drums", "realpanel_other"):
        drums, d_src = _drums(rng, rate, length, kit_p=0.4 if task == "realpanel_drums" else 0.25)
        inst, i_src = _instrument(rng, "accompaniment" if task == "realpanel_drums" else "lead", rate, length)
        target, rest = ("drums", "other") if task == "realpanel_drums" else ("other", "drums")
        parts["drums"] = _level(_place(rng, drums, channels, 0.0), 0.0)
        parts["other"] = _level(_place(rng, inst, channels), 0.0)
        parts[target] = _level(parts[target], float(rng.uniform(-4.0, 2.0)))
        sources["drums"], sources["other"] = d_src, i_src
    else:  # realpanel_vocals
        voices = [_load(f, rate) for f in MANIFEST["speech"]]
        voice, used = _events(rng, voices, length, rate, (0.1, 0.4))
        drums, d_src = _drums(rng, rate, length, kit_p=0.3)
        inst, i_src = _instrument(rng, "accompaniment" if rng.random() < 0.5 else "lead", rate, length)
        pan = float(rng.choice([-1, 1]) * rng.uniform(0.3, 0.7))
        band = {"drums": _level(_place(rng, drums, channels, 0.0), float(rng.uniform(-3, 0))),
                "other": _level(_place(rng, inst, channels, pan), float(rng.uniform(-3, 0)))}  # fmt: skip
        band_db = 20 * np.log10(_rms(band["drums"] + band["other"]) / 0.1)
        parts["vocals"] = _level(_stereo(voice, 0.0, channels), band_db + float(rng.uniform(-4.0, 2.0)))
        parts.update(band)
        sources.update(vocals=[MANIFEST["speech"][k].label for k in used], drums=d_src, other=i_src)
    targets = np.stack([parts[p] for p in prompts]).astype(np.float32)
    targets *= np.float32(10 ** (rng.uniform(-9.0, -3.0) / 20))
    mixture = targets.sum(axis=0)
    peak = float(np.max(np.abs(mixture)))
    if peak > 0.98:
        targets *= np.float32(0.98 / peak)
        mixture = targets.sum(axis=0)
    return PanelExample(mixture=mixture, prompts=prompts, targets=targets, sample_rate=rate, task=task,
                        sources={p: sources[p] for p in prompts})  # fmt: skip


def panel_set(task: str, n: int = 12, seed: int = 1234, sample_rate: int = 48000, seconds: float = 6.0,
              channels: int = 2) -> list[PanelExample]:  # fmt: skip
    """The first ``n`` examples of panel task ``task`` (a name of :data:`PANEL_TASKS`).
    Raises ValueError naming the packages to install when a recording is missing."""
    if task not in PANEL_TASKS:
        raise ValueError(f"unknown panel task {task!r}; known: {', '.join(PANEL_TASKS)}")
    if n <= 0 or seconds <= 0 or channels not in (1, 2):
        raise ValueError("panel_set: n and seconds must be positive, channels 1 or 2")
    _require()
    length = int(round(seconds * sample_rate))
    return [_example(task, i, seed, int(sample_rate), length, channels) for i in range(n)]
