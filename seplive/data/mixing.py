"""On-the-fly mixtures with TUSS's prompt rules, deterministic by (seed, index).

Definition of an example (the contract trainers rely on)
--------------------------------------------------------
``prompts`` has 2-4 names from ``PROMPTS``; ``targets[i]`` is what prompt ``i``'s source
contributes to the mixture after all processing (EQ, reverb, placement, gain).  Every source in
the mixture belongs to exactly one prompt, and a dropped-out prompt (25 % each in the TUSS mode)
has no source in the mixture and an all-zero target.  Hence ``mixture == targets.sum(axis=0)``
exactly (the mixture is computed as that float32 sum).  ``speech`` and ``sfx`` may repeat (one
speaker / one event group each); nothing else does.

Rules (TUSS): ``sfxbg`` never with ``sfx``; ``musicbg`` never with ``drums``/``bass``/``vocals``/
``other``.  Instrument stems in one mixture all come from one song; ``musicbg`` is a mix of a
song's stems.  The ``karaoke`` task is the one deliberate exception: it pairs ``vocals`` with a
``musicbg`` that is the same song's accompaniment (drums+bass+other, no vocals), which is what
seplive's ``accompaniment`` alias means; the TUSS-mode sampler never produces it.

Determinism: each example draws from ``numpy.random.default_rng([seed, stream, index])``;
songs are pure functions of ``(seed, song number)`` and cached per process, so call order,
caching and worker processes do not change a single bit.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import soxr

from . import augment, clips, kits, produce, sfx, speech
from .example import (
    BACKGROUND,
    FOREGROUND_REPEATABLE,
    INSTRUMENTS,
    SILENT,
    TASKS,
    Example,
    allowed_next,
    rule_violations,
    sample_prompts,
)
from .songs import render_song
from .soundfonts import require

__all__ = ["INSTRUMENTS", "FOREGROUND_REPEATABLE", "BACKGROUND", "TASKS", "SILENT", "Example", "allowed_next",
           "rule_violations", "sample_prompts", "MixtureSampler", "Blend", "heldout_set"]  # fmt: skip

class _SongCache:
    """Rendered stems of recent songs, per process (LRU)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[tuple, dict[str, np.ndarray]] = OrderedDict()

    def get(self, key, make):
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key]
        value = make()
        self.items[key] = value
        while len(self.items) > self.size:
            self.items.popitem(last=False)
        return value


def sparse_parts(rng: np.random.Generator, share: float, parts: int = 4) -> list[bool]:
    """Which of a ``music4`` example's ``parts`` play: all of them, except in ``share`` of the
    examples, where each is left out at even odds (at least one stays).  A left-out part's
    target is silence, so the model learns to answer silence for a part the band lacks and to
    keep, say, a piano's left hand in ``other`` when no bass plays (a duo, a trio, an intro)."""
    if rng.random() >= share:
        return [True] * parts
    active = [bool(rng.random() < 0.5) for _ in range(parts)]
    if not any(active):
        active[int(rng.integers(parts))] = True
    return active


class MixtureSampler:
    """Deterministic generator of Examples: ``example(i)`` depends only on (seed, i, settings).

    ``tasks``: None for TUSS's random prompts, or a list of names from TASKS, one drawn per
    example.  ``songs_reuse`` consecutive indices share one rendered song (different crops,
    processing and partners), which keeps rendering cost low when indices are read in order.
    ``sung_vocals``: the share of songs whose lead is sung by espeak-ng (the rest use a
    voice-like General MIDI program: choir, voice oohs, synth voice).
    ``flite_speech``: the share of speech read by flite's voices rather than espeak-ng's (needs
    the ``flite`` command; 0 leaves every stream as it was without it).
    ``studio_mix``: the share of songs placed as a studio mix places them: lead vocals and bass
    in the centre (a tenth of the usual balance), each comping part of ``other`` panned on its
    own, 0.25-0.9 to a random side.  Otherwise every stem renders near mono and gets one random
    balance, so nothing tells the parts apart by where they sit.  Its random numbers come
    from streams of their own: 0 leaves every example as it was, and a song's notes, sounds,
    crops and levels are the same at any share.
    ``produced_mix``, ``loud_master``, ``spoken_vocals``: the shares of songs produced with
    pedalboard's effects, of examples limited as a loud release, and of songs whose lead is
    spoken or rapped, centred (``seplive.data.produce``).  Each draws from streams of its own:
    at 0 every example is as it was.
    ``recorded_speech``, ``recorded_sfx``: the shares of speech (and of spoken leads) said by
    recorded voices, and of foreground effects that are recordings (``seplive.data.clips``:
    Debian game data packages the real-recording panel does not use).  At 0 nothing is drawn
    for them.  ``letter_voices``: the share of those recorded speakers who are KLettres' readers
    (``clips.letter_packs``); at 0 nothing is drawn for it.
    ``real_kits``: the share of songs whose drum part is played on one of Hydrogen's recorded,
    multi-sampled kits (``seplive.data.kits``) instead of a soundfont's; at 0 nothing is drawn.
    ``sparse_bands``: the share of ``music4`` examples played by part of the band
    (:func:`sparse_parts`: each part left out at even odds, its target silent); at 0 nothing is drawn.
    ``two_hands``: the share of songs whose piano, organ and string parts also play a low left
    hand (``seplive.data.midi.left_hand``) in ``other``; at 0 nothing is drawn.
    """

    def __init__(self, seed: int = 0, sample_rate: int = 48000, seconds: float = 4.0, channels: int = 2,
                 tasks: list[str] | None = None, dropout: float = 0.25, songs_reuse: int = 8,
                 song_cache: int = 4, stream: int = 0, sung_vocals: float = 0.7, gm_effects: float = 0.2,
                 flite_speech: float = 0.0, studio_mix: float = 0.0, produced_mix: float = 0.0,
                 loud_master: float = 0.0, spoken_vocals: float = 0.0, recorded_speech: float = 0.0,
                 recorded_sfx: float = 0.0, real_kits: float = 0.0, sparse_bands: float = 0.0,
                 two_hands: float = 0.0, letter_voices: float = 0.0) -> None:
        if tasks is not None:
            unknown = [t for t in tasks if t not in TASKS]
            if unknown or not tasks:
                raise ValueError(f"unknown task(s) {unknown or tasks}; known: {', '.join(TASKS)}")
        if channels not in (1, 2):
            raise ValueError("channels must be 1 or 2")
        self.seed = int(seed)
        self.sample_rate = int(sample_rate)
        self.seconds = float(seconds)
        self.channels = int(channels)
        self.tasks = list(tasks) if tasks else None
        self.dropout = float(dropout)
        self.songs_reuse = max(1, int(songs_reuse))
        self.stream = int(stream)
        self.sung_vocals = float(sung_vocals)  # share of songs whose vocals espeak-ng sings
        self.gm_effects = float(gm_effects)  # share of sfx/sfxbg sources from GM effect programs
        for name in ("flite_speech", "studio_mix", "produced_mix", "loud_master", "spoken_vocals", "recorded_speech",
                     "recorded_sfx", "real_kits", "sparse_bands", "two_hands", "letter_voices"):
            value = float(locals()[name])
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {value}")
            setattr(self, name, value)
        if self.flite_speech > 0 and not speech.flite_available():
            raise ValueError("flite_speech > 0 needs the flite command (apt-get install flite)")
        if self.produced_mix > 0 and not produce.available():
            raise ValueError("produced_mix > 0 needs pedalboard (pip install pedalboard, the 'data' extra)")
        if (self.recorded_speech > 0 or self.recorded_sfx > 0) and not clips.available():
            raise ValueError(f"recorded_speech/recorded_sfx > 0 need {clips.NEEDS}")
        if self.letter_voices > 0 and self.recorded_speech > 0 and not clips.letters_available():
            raise ValueError(f"letter_voices > 0 needs {clips.LETTER_NEEDS}")
        if self.real_kits > 0 and not kits.available():
            raise ValueError(f"real_kits > 0 needs {kits.NEEDS}")
        self.length = int(round(self.seconds * self.sample_rate))
        self._songs = _SongCache(song_cache)
        self.melodic, self.drum_fonts = require()
        speech.sentences()  # built once here, so DataLoader workers forked later inherit it

    @property
    def song_cache(self) -> int:
        """How many rendered songs this process keeps."""
        return self._songs.size

    # --- sources ----------------------------------------------------------------------
    def song_stems(self, song: int) -> dict[str, np.ndarray]:
        """The four stems (2, N) of song number ``song`` (cached; a pure function of seed, stream, song)."""
        return self._songs.get((self.seed, self.stream, song), lambda: render_song(self, song))

    def studio(self, song: int) -> bool:
        """Whether song number ``song`` is placed as a studio mix (see ``studio_mix``)."""
        if self.studio_mix <= 0.0:
            return False
        return bool(np.random.default_rng([self.seed, 0x52, self.stream, song]).random() < self.studio_mix)

    def produced(self, song: int) -> bool:
        """Whether song number ``song``'s stems go through a mix chain (see ``produced_mix``)."""
        if self.produced_mix <= 0.0:
            return False
        return bool(np.random.default_rng([self.seed, 0x54, self.stream, song]).random() < self.produced_mix)

    def real_kit(self, song: int):
        """The recorded kit song number ``song``'s drums play on (see ``real_kits``), or None."""
        if self.real_kits <= 0.0:
            return None
        r = np.random.default_rng([self.seed, 0x59, self.stream, song])
        if r.random() >= self.real_kits:
            return None
        found = kits.kits()
        return found[int(r.integers(len(found)))]

    def spoken(self, song: int) -> bool:
        """Whether song number ``song``'s lead is spoken or rapped (see ``spoken_vocals``)."""
        if self.spoken_vocals <= 0.0:
            return False
        return bool(np.random.default_rng([self.seed, 0x56, self.stream, song]).random() < self.spoken_vocals)

    def _crop(self, rng: np.random.Generator, stems: dict[str, np.ndarray], need: list[str]) -> dict[str, np.ndarray]:
        """A ``seconds`` crop of the song; of up to four random starts, the first where every stem in
        ``need`` is audible (else the one where the quietest of them is loudest)."""
        n = next(iter(stems.values())).shape[-1]
        best, best_level = 0, -1.0
        for _ in range(4):
            start = int(rng.integers(0, max(1, n - self.length)))
            level = min((augment.rms(stems[k][:, start : start + self.length]) for k in need), default=1.0)
            if level > best_level:
                best, best_level = start, level
            if level >= SILENT:
                break
        out = {}
        for k, v in stems.items():
            seg = v[:, best : best + self.length]
            if seg.shape[-1] < self.length:
                seg = np.pad(seg, ((0, 0), (0, self.length - seg.shape[-1])))
            out[k] = seg
        return out

    def _speech(self, rng: np.random.Generator) -> np.ndarray:
        if self.recorded_speech > 0 and rng.random() < self.recorded_speech:
            audio, rate = (clips.recorded_speech(rng, self.seconds, self.sample_rate, self.letter_voices),
                           self.sample_rate)
        else:
            audio, rate = speech.random_speech(rng, self.seconds, self.flite_speech)
        if rate != self.sample_rate:
            audio = soxr.resample(audio, rate, self.sample_rate)
        out = np.zeros(self.length, np.float32)
        audio = audio[: self.length]
        start = int(rng.integers(0, self.length - len(audio) + 1))
        out[start : start + len(audio)] = audio
        return out[None]

    def _effect(self, rng: np.random.Generator, background: bool) -> np.ndarray:
        """(1, T): procedural (most of the time), a GM sound-effect program, or (foreground,
        ``recorded_sfx`` of the time) recordings."""
        if not background and self.recorded_sfx > 0 and rng.random() < self.recorded_sfx:
            out = clips.recorded_effects(rng, self.sample_rate, self.seconds)
            if augment.rms(out) > 1e-5:
                return out[None]
        if rng.random() < self.gm_effects:
            fonts = [f for f in self.melodic if set(sfx.GM_EVENTS + sfx.GM_BEDS) <= f.programs]
            if fonts:
                font = fonts[int(rng.integers(len(fonts)))]
                out = sfx.gm_effect(rng, self.sample_rate, self.seconds, font.path, background)
                if augment.rms(out) > 1e-5:
                    return out[None]
        make = sfx.sfxbg if background else sfx.sfx
        return make(rng, self.sample_rate, self.seconds)[None]

    # --- examples ---------------------------------------------------------------------
    def task_for(self, rng: np.random.Generator) -> str:
        if self.tasks is None:
            return "tuss"
        return self.tasks[int(rng.integers(len(self.tasks)))]

    def prompts_for(self, rng: np.random.Generator, task: str) -> list[str]:
        if task == "tuss":
            return sample_prompts(rng)
        if task == "music4":
            return ["drums", "bass", "other", "vocals"]
        if task == "speech_music":
            return ["speech", "musicbg"]
        if task == "speech_sfx":
            return ["speech", "sfx" if rng.random() < 0.5 else "sfxbg"]
        return ["vocals", "musicbg"]  # karaoke

    def example(self, index: int) -> Example:
        """Example number ``index`` (>= 0): bit-identical for the same sampler settings."""
        if index < 0:
            raise ValueError("index must be >= 0")
        rng = np.random.default_rng([self.seed, self.stream, int(index)])
        task = self.task_for(rng)
        prompts = self.prompts_for(rng, task)
        active = [True] * len(prompts)
        if task == "tuss" and self.dropout > 0:
            active = [bool(rng.random() >= self.dropout) for _ in prompts]
            if not any(active):
                active[int(rng.integers(len(prompts)))] = True
        if task == "music4" and self.sparse_bands > 0:
            active = sparse_parts(np.random.default_rng([self.seed, 0x5B, self.stream, int(index)]), self.sparse_bands)
        need = [p for p, a in zip(prompts, active, strict=True) if a and p in INSTRUMENTS]
        stems, studio, centre = None, False, False
        if need or any(p == "musicbg" for p, a in zip(prompts, active, strict=True) if a):
            song = int(index) // self.songs_reuse
            stems = self._crop(rng, self.song_stems(song), need)
            studio = self.studio(song)
            centre = self.spoken(song)
        targets = np.zeros((len(prompts), self.channels, self.length), np.float32)
        for i, (p, a) in enumerate(zip(prompts, active, strict=True)):
            src_rng = np.random.default_rng([self.seed, self.stream, int(index), 1 + i])
            if not a:
                continue
            if p == "speech":
                src = self._speech(src_rng)
            elif p == "sfx":
                src = self._effect(src_rng, background=False)
            elif p == "sfxbg":
                src = self._effect(src_rng, background=True)
                if self.channels == 2:  # beds are wide: the other channel is the bed shifted in time
                    shift = int(src_rng.integers(self.length // 4, 3 * self.length // 4))
                    src = np.concatenate([src, np.roll(src, shift, axis=-1)])
            elif p == "musicbg":
                roles = ["drums", "bass", "other"] if task == "karaoke" else self._musicbg_roles(src_rng)
                src = sum(stems[r] * float(src_rng.uniform(0.5, 1.0)) for r in roles)
            else:
                src = stems[p]
                if augment.rms(src) < SILENT:  # the part rests all through this crop: absent
                    continue
            low, high = (-20.0, 0.0) if p in BACKGROUND else (-10.0, 0.0)
            width = 0.1 if studio and p in ("vocals", "bass") else 1.0  # a studio centres lead and bass
            if centre and p == "vocals":
                width = 0.0  # a spoken or rapped lead sits dead centre
            targets[i] = augment.process(src_rng, src, self.sample_rate, self.channels,
                                         float(src_rng.uniform(low, high)), width=width)
        if self.loud_master > 0:
            master = np.random.default_rng([self.seed, 0x58, self.stream, int(index)])
            if master.random() < self.loud_master:  # a gain on the mix, the same on every target
                targets *= produce.limiter_gain(master, targets.sum(axis=0), self.sample_rate)
        targets *= np.float32(10 ** (rng.uniform(-12.0, 0.0) / 20))  # overall level
        mixture = targets.sum(axis=0)
        peak = float(np.max(np.abs(mixture))) if mixture.size else 0.0
        if peak > 0.98:
            targets *= np.float32(0.98 / peak)
            mixture = targets.sum(axis=0)
        return Example(mixture=mixture, prompts=prompts, targets=targets, sample_rate=self.sample_rate, task=task)

    @staticmethod
    def _musicbg_roles(rng: np.random.Generator) -> list[str]:
        roles = [r for r in INSTRUMENTS if rng.random() < 0.8]
        return roles or ["other"]


class Blend:
    """Several samplers as one (say synthetic and a RealSampler over MUSDB18): each block of
    ``block`` consecutive indices goes to one sampler, drawn by ``weights`` from (seed, block),
    and keeps its index there, so a MixtureSampler still renders one song per block.  The
    samplers must agree on sample rate, length and channels (checked on construction)."""

    def __init__(self, samplers: list, weights: list[float] | None = None, seed: int = 0, block: int = 8) -> None:
        if not samplers:
            raise ValueError("Blend needs at least one sampler")
        shapes = {(s.sample_rate, s.length, s.channels) for s in samplers}
        if len(shapes) != 1:
            raise ValueError(f"samplers disagree on (rate, length, channels): {sorted(shapes)}")
        w = np.ones(len(samplers)) if weights is None else np.asarray(weights, np.float64)
        if len(w) != len(samplers) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError("weights: one non-negative weight per sampler, not all zero")
        self.samplers = list(samplers)
        self.cdf = np.cumsum(w / w.sum())
        self.seed = int(seed)
        self.songs_reuse = max(1, int(block))
        self.song_cache = max(getattr(s, "song_cache", 1) for s in samplers)
        self.sample_rate, self.length, self.channels = shapes.pop()

    def which(self, index: int) -> int:
        u = np.random.default_rng([self.seed, 0xB1E, int(index) // self.songs_reuse]).random()
        return int(min(np.searchsorted(self.cdf, u, side="right"), len(self.samplers) - 1))

    def example(self, index: int) -> Example:
        return self.samplers[self.which(index)].example(index)


def heldout_set(task: str, n: int = 16, seed: int = 1234, sample_rate: int = 48000, seconds: float = 6.0,
                channels: int = 2, studio: bool = False) -> list[Example]:
    """``n`` fixed evaluation examples for ``task`` (a name from TASKS), no prompt dropout.

    They come from a stream of their own (stream 1 + task number), so no training sampler with
    the default stream 0 ever draws the same random numbers.  ``studio``: every song placed as
    a studio mix (``MixtureSampler.studio_mix``): the same songs, crops and levels, mixed so.
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; known: {', '.join(TASKS)}")
    sampler = MixtureSampler(seed=seed, sample_rate=sample_rate, seconds=seconds, channels=channels, tasks=[task],
                             dropout=0.0, songs_reuse=1, song_cache=2, stream=1 + TASKS.index(task),
                             studio_mix=1.0 if studio else 0.0)
    return [sampler.example(i) for i in range(n)]
