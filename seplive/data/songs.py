"""Rendering one synthetic song of ``seplive.data.mixing.MixtureSampler``: a composed MIDI song
played on soundfonts (or sung/spoken by espeak-ng), placed and produced as the sampler's shares
say, as four stems.
"""

from __future__ import annotations

import numpy as np

from . import augment, clips, kits, midi, produce, singing
from .example import INSTRUMENTS
from .render import render_part


def render_song(sampler, song: int) -> dict[str, np.ndarray]:
    """The four stems ``drums``, ``bass``, ``vocals``, ``other`` of song number ``song``, each
    (2, N) float32 at ``sampler.sample_rate`` Hz, stems near 0.1 RMS: a pure function of the
    sampler's settings (seed, stream, shares, soundfonts) and ``song``.

    ``sampler`` is a :class:`seplive.data.mixing.MixtureSampler`."""
    rng = np.random.default_rng([sampler.seed, 0x50, sampler.stream, song])
    pans = np.random.default_rng([sampler.seed, 0x53, sampler.stream, song]) if sampler.studio(song) else None
    prod = np.random.default_rng([sampler.seed, 0x55, sampler.stream, song]) if sampler.produced(song) else None
    seconds = max(2 * sampler.seconds, 8.0)
    s = midi.compose(rng, seconds)
    _two_hands(sampler, s, song)
    total = s.seconds
    stems = {role: np.zeros((2, int(round(total * sampler.sample_rate))), np.float32) for role in INSTRUMENTS}
    for part in s.parts:
        if part.role == "vocals" and rng.random() < sampler.sung_vocals:
            sung = singing.sing(part, s.seconds_per_beat, sampler.sample_rate, total,
                                np.random.default_rng([sampler.seed, 0x51, sampler.stream, song]))
            if sung is not None:
                stems["vocals"] += sung * (0.1 / max(augment.rms(sung), 1e-6))
                continue
        if part.role == "drums":
            font = sampler.drum_fonts[int(rng.integers(len(sampler.drum_fonts)))]
            bank, preset = font.kits[int(rng.integers(len(font.kits)))]
        else:
            fonts = [f for f in sampler.melodic if part.program in f.programs] or sampler.melodic
            font = fonts[int(rng.integers(len(fonts)))]
            bank, preset = 0, (part.program if part.program in font.programs else min(font.programs))
        kit = sampler.real_kit(song) if part.role == "drums" else None
        if kit is not None:  # recorded hits in place of the soundfont's (the draws above stay put)
            hits = np.random.default_rng([sampler.seed, 0x5A, sampler.stream, song])
            audio = kits.render_drums(part.notes, s.seconds_per_beat, sampler.sample_rate, total, kit, hits)
        else:
            audio = render_part(part, s.seconds_per_beat, font.path, sampler.sample_rate, total, bank=bank,
                                preset=preset)
        if prod is not None and part.role == "other":
            audio = produce.comping(prod, audio, sampler.sample_rate, part.program)
        level = augment.rms(audio)
        if level > 1e-6:  # comping parts at random relative levels inside "other"
            if pans is not None and part.role == "other":
                audio = augment.pan_mono(audio, float(pans.choice([-1.0, 1.0]) * pans.uniform(0.25, 0.9)))
            stems[part.role] += audio * (float(rng.uniform(0.5, 1.0)) * 0.1 / level)
    if sampler.spoken(song):  # the sung lead is rendered all the same, so the other draws stay put
        voice = np.random.default_rng([sampler.seed, 0x57, sampler.stream, song])
        if sampler.recorded_speech > 0 and voice.random() < sampler.recorded_speech:
            said = clips.recorded_speech(voice, total, sampler.sample_rate, sampler.letter_voices)[: stems["vocals"].shape[-1]]
            lead = np.zeros_like(stems["vocals"])
            lead[:, : len(said)] = said
            stems["vocals"] = lead
        else:
            stems["vocals"] = produce.spoken_lead(voice, total, s.beats_per_bar * s.seconds_per_beat,
                                                  sampler.sample_rate, sampler.flite_speech > 0)
    if prod is not None:
        for role in ("drums", "bass", "vocals"):
            stems[role] = produce.stem(prod, stems[role], sampler.sample_rate, role)
    return stems


def _two_hands(sampler, s: midi.Song, song: int) -> None:
    """In ``sampler.two_hands`` of the songs, the piano, organ and string parts of ``other``
    get a low left hand (:func:`seplive.data.midi.left_hand`).  Its own random stream: the
    notes grow, every other draw of the song stays put."""
    if sampler.two_hands <= 0:
        return
    hands = np.random.default_rng([sampler.seed, 0x5C, sampler.stream, song])
    if hands.random() < sampler.two_hands:
        for part in s.part("other"):
            if part.program in midi.TWO_HANDED:
                part.notes = part.notes + midi.left_hand(hands, s, part)
