"""Random but musical multitrack songs as MIDI (the Slakh recipe): one part per stem.

A song is a key, a tempo, a chord progression and four parts written against it: a drum
groove with fills and crashes (GM channel 10 key map), a bass line on the chord roots, one or
two comping parts (block chords, arpeggios or stabs on pianos, organs, guitars, strings, brass,
pads...) and a lead melody on chord tones for the vocals.  Everything comes from one
``numpy.random.Generator``, so a song is a pure function of its seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mido
import numpy as np

TICKS = 480  # ticks per beat
DRUM_CHANNEL = 9

SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
}
# chord progressions as scale degrees (0-based)
PROGRESSIONS = (
    (0, 4, 5, 3), (0, 5, 3, 4), (1, 4, 0, 0), (0, 3, 4, 3), (5, 3, 0, 4),
    (0, 6, 5, 4), (0, 3, 0, 4), (0, 0, 3, 4), (5, 4, 3, 4), (0, 2, 3, 4),
)
BASS_PROGRAMS = (32, 33, 34, 35, 36, 37, 38, 39)
#: comping programs grouped by how they are played
SUSTAINED = (16, 17, 19, 20, 48, 49, 50, 52, 61, 88, 89, 90, 91, 92, 94, 95)
PLUCKED = (0, 1, 2, 4, 5, 6, 7, 8, 11, 12, 24, 25, 26, 27, 45, 46, 105, 107, 108)
STABS = (0, 4, 5, 16, 17, 56, 57, 61, 62, 63, 81, 26, 27, 29, 30)
#: voice-like GM programs for the sung lead when it is rendered by a soundfont
VOICE_PROGRAMS = (52, 53, 54, 85)

KICK, SNARE, CLAP, HAT, PEDAL_HAT, OPEN_HAT, CRASH, RIDE = 36, 38, 39, 42, 44, 46, 49, 51
TOMS = (41, 43, 45, 47, 48, 50)


@dataclass
class Note:
    start: float  # beats
    length: float  # beats
    pitch: int
    velocity: int


@dataclass
class Part:
    """One stem's notes; ``program`` is a GM program (ignored for drums)."""

    role: str  # drums, bass, other, vocals
    program: int
    notes: list[Note] = field(default_factory=list)
    channel: int = 0
    vibrato: float = 0.0  # semitones of pitch-bend vibrato on long notes (tinysoundfont ignores CC1)


@dataclass
class Song:
    bpm: float
    beats_per_bar: int
    bars: int
    root: int
    scale: str
    chords: list[tuple[int, ...]]  # per bar, MIDI pitches of the chord (root position, octave 4)
    parts: list[Part]
    #: the lead's syllable per note index (for sung vocals)
    seconds_per_beat: float = 0.5

    @property
    def seconds(self) -> float:
        return self.bars * self.beats_per_bar * self.seconds_per_beat

    def part(self, role: str) -> list[Part]:
        return [p for p in self.parts if p.role == role]


def _chord(root: int, scale: tuple[int, ...], degree: int, seventh: bool) -> tuple[int, ...]:
    notes = []
    for k in (0, 2, 4, 6) if seventh else (0, 2, 4):
        d = degree + k
        notes.append(root + scale[d % 7] + 12 * (d // 7))
    return tuple(notes)


def _drums(rng: np.random.Generator, bars: int, bpb: int) -> list[Note]:
    style = rng.choice(["rock", "four", "half", "break", "shuffle"])
    steps = bpb * 4
    kick = np.zeros(steps, bool)
    snare = np.zeros(steps, bool)
    if style == "four":
        kick[::4] = True
        snare[4::8] = True
    elif style == "half":
        kick[0] = True
        snare[8 % steps] = True
        kick[rng.integers(1, steps)] = rng.random() < 0.6
    elif style == "break":
        kick[[0, 10 % steps]] = True
        kick[rng.integers(2, steps)] = True
        snare[[4 % steps, 12 % steps]] = True
        snare[rng.integers(5, steps)] = rng.random() < 0.5
    else:
        kick[[0, 8 % steps]] = True
        if rng.random() < 0.5:
            kick[(6 + 4 * rng.integers(0, 2)) % steps] = True
        snare[4::8] = True
    hat_every = int(rng.choice([1, 2, 2, 4]))
    top = RIDE if rng.random() < 0.25 else HAT
    clap = rng.random() < 0.2
    swing = 0.08 if style == "shuffle" else 0.0
    notes: list[Note] = []
    for bar in range(bars):
        fill = bar % 4 == 3 and rng.random() < 0.7
        fill_from = steps - int(rng.choice([4, 8])) if fill else steps
        for s in range(steps):
            t = bar * bpb + s / 4 + (swing if s % 2 else 0.0)
            if s >= fill_from:
                if rng.random() < 0.75:
                    tom = TOMS[::-1][min(len(TOMS) - 1, (s - fill_from) * len(TOMS) // (steps - fill_from))]
                    notes.append(Note(t, 0.25, int(rng.choice([tom, SNARE])), int(rng.integers(70, 120))))
                continue
            if kick[s]:
                notes.append(Note(t, 0.25, KICK, int(rng.integers(95, 124))))
            if snare[s]:
                notes.append(Note(t, 0.25, CLAP if clap else SNARE, int(rng.integers(90, 122))))
            elif rng.random() < 0.04:
                notes.append(Note(t, 0.25, SNARE, int(rng.integers(30, 55))))  # ghost note
            if s % hat_every == 0:
                accent = 20 if s % 4 == 0 else 0
                pitch = OPEN_HAT if (s == steps - 2 and rng.random() < 0.3) else top
                notes.append(Note(t, 0.25, pitch, int(rng.integers(50, 80)) + accent))
        if bar % 4 == 0 and (bar > 0 or rng.random() < 0.5):
            notes.append(Note(bar * bpb, 1.0, CRASH, int(rng.integers(90, 120))))
    return notes


def _bass(rng: np.random.Generator, chords, bpb: int) -> list[Note]:
    pattern = rng.choice(["roots", "eighths", "octaves", "walk", "synco"])
    notes = []
    for bar, chord in enumerate(chords):
        root = chord[0] % 12 + 36
        if root < 40:
            root += 12
        t0 = bar * bpb
        if pattern == "roots":
            notes += [Note(t0 + b, 0.9, root, int(rng.integers(85, 115))) for b in range(bpb)]
        elif pattern == "eighths":
            notes += [Note(t0 + k / 2, 0.45, root, int(rng.integers(80, 110))) for k in range(2 * bpb)]
        elif pattern == "octaves":
            notes += [Note(t0 + k / 2, 0.45, root + 12 * (k % 2), int(rng.integers(80, 110))) for k in range(2 * bpb)]
        elif pattern == "walk":
            tones = [root, root + (chord[1] - chord[0]), root + (chord[2] - chord[0]), root + 12]
            for b in range(bpb):
                notes.append(Note(t0 + b, 0.95, int(tones[b % 4] if b else root), int(rng.integers(85, 115))))
        else:
            for t, ln in ((0, 1.5), (1.5, 1.0), (2.5, 0.5), (3, 1.0)):
                if t < bpb:
                    p = root if t == 0 or rng.random() < 0.6 else root + 7
                    notes.append(Note(t0 + t, min(ln, bpb - t) * 0.9, int(p), int(rng.integers(85, 115))))
    return notes


def _comp(rng: np.random.Generator, chords, bpb: int, style: str) -> list[Note]:
    notes = []
    octave = int(rng.choice([0, 0, 12, -12]))
    for bar, chord in enumerate(chords):
        voicing = [p + octave for p in chord]
        if rng.random() < 0.3:  # an inversion
            voicing = voicing[1:] + [voicing[0] + 12]
        t0 = bar * bpb
        if style == "sustained":
            notes += [Note(t0, bpb * 0.98, p, int(rng.integers(60, 95))) for p in voicing]
        elif style == "arpeggio":
            step = float(rng.choice([0.5, 0.25]))
            seq = voicing + [voicing[0] + 12]
            for k in range(int(bpb / step)):
                notes.append(Note(t0 + k * step, step * 1.8, seq[k % len(seq)], int(rng.integers(60, 100))))
        else:
            hits = sorted(set(rng.choice(np.arange(0, bpb, 0.5), size=int(rng.integers(2, 5)), replace=False)))
            for t in hits:
                notes += [Note(t0 + float(t), 0.4, p, int(rng.integers(70, 110))) for p in voicing]
    return notes


def _melody(rng: np.random.Generator, chords, bpb: int, root: int, scale: tuple[int, ...]) -> list[Note]:
    """A phrase-structured lead over chord tones and passing notes, roughly G3..C6."""
    pool = sorted({root + 12 * o + s for o in (-1, 0, 1, 2) for s in scale if 55 <= root + 12 * o + s <= 79})
    notes = []
    idx = int(rng.integers(len(pool) // 3, 2 * len(pool) // 3))
    bars = len(chords)
    for bar in range(bars):
        if bar % 2 == 1 and rng.random() < 0.25:
            continue  # a breath between phrases
        t = 0.0
        chord_pcs = {p % 12 for p in chords[bar]}
        while t < bpb - 0.25:
            length = float(rng.choice([0.5, 0.5, 1.0, 1.0, 1.5, 2.0, 0.25]))
            length = min(length, bpb - t)
            if rng.random() < 0.15:  # rest
                t += length
                continue
            idx = int(np.clip(idx + rng.choice([-2, -1, -1, 0, 1, 1, 2, 3, -3]), 0, len(pool) - 1))
            if t == int(t) and pool[idx] % 12 not in chord_pcs:  # land on chord tones on beats
                near = [i for i in range(len(pool)) if pool[i] % 12 in chord_pcs]
                idx = min(near, key=lambda i: abs(i - idx))
            notes.append(Note(bar * bpb + t, length * 0.92, int(pool[idx]), int(rng.integers(80, 115))))
            t += length
    return notes


#: GM programs that hold a low note (organs and the string section) and those that also
#: strike one (pianos and electric pianos): the parts that get a left hand
HELD_LOW = frozenset(range(16, 24)) | frozenset((48, 49, 50))
TWO_HANDED = frozenset(range(0, 8)) | HELD_LOW


def left_hand(rng: np.random.Generator, song: Song, part: Part) -> list[Note]:
    """Low notes for a keyboard, organ or strings comping ``part`` of ``song``: each bar's
    chord root an octave or two under the chord (MIDI 31-54, the bass player's register), held
    through the bar (a pedal, a low string line) or struck on the strong beats (a pianist's
    left hand), sometimes doubled at the octave."""
    held = part.program in HELD_LOW or rng.random() < 0.3
    octave = bool(rng.random() < 0.4)
    bpb = song.beats_per_bar
    starts, length = ([0.0, 2.0], 2.0) if bpb == 4 and not held else ([0.0], float(bpb))
    notes = []
    for bar, chord in enumerate(song.chords):
        low = chord[0] % 12 + 36
        if low > 48 or (low > 42 and rng.random() < 0.5):
            low -= 12
        low = max(low, 31)
        vel = int(rng.integers(60, 100))
        for t in starts:
            notes += [Note(bar * bpb + t, 0.95 * length, p, vel) for p in ([low, low + 12] if octave else [low])]
    return notes


def compose(rng: np.random.Generator, seconds: float) -> Song:
    """A song of at least ``seconds`` (whole bars) with drums, bass, other and vocals parts."""
    bpm = float(rng.uniform(70, 160))
    bpb = int(rng.choice([4, 4, 4, 3]))
    spb = 60.0 / bpm
    bars = max(1, int(np.ceil(seconds / (bpb * spb))))
    scale_name = str(rng.choice(list(SCALES)))
    scale = SCALES[scale_name]
    root = 60 + int(rng.integers(-5, 7))
    prog = PROGRESSIONS[int(rng.integers(len(PROGRESSIONS)))]
    seventh = rng.random() < 0.35
    chords = [_chord(root, scale, prog[b % len(prog)], seventh) for b in range(bars)]
    parts = [
        Part("drums", 0, _drums(rng, bars, bpb), channel=DRUM_CHANNEL),
        Part("bass", int(rng.choice(BASS_PROGRAMS)), _bass(rng, chords, bpb), channel=0),
    ]
    for k in range(int(rng.integers(1, 3))):
        style = str(rng.choice(["sustained", "arpeggio", "stabs"]))
        programs = {"sustained": SUSTAINED, "arpeggio": PLUCKED, "stabs": STABS}[style]
        parts.append(Part("other", int(rng.choice(programs)), _comp(rng, chords, bpb, style), channel=1 + k))
    parts.append(
        Part("vocals", int(rng.choice(VOICE_PROGRAMS)), _melody(rng, chords, bpb, root, scale), channel=4,
             vibrato=float(rng.uniform(0.15, 0.4)))
    )
    return Song(bpm, bpb, bars, root, scale_name, chords, parts, seconds_per_beat=spb)


def to_midi(song: Song) -> mido.MidiFile:
    """The song as a type-1 MIDI file, one track per part, every note closed."""
    mid = mido.MidiFile(type=1, ticks_per_beat=TICKS)
    meta = mido.MidiTrack()
    meta.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(song.bpm), time=0))
    meta.append(mido.MetaMessage("time_signature", numerator=song.beats_per_bar, denominator=4, time=0))
    mid.tracks.append(meta)
    for part in song.parts:
        track = mido.MidiTrack()
        track.append(mido.MetaMessage("track_name", name=part.role, time=0))
        if part.channel != DRUM_CHANNEL:
            track.append(mido.Message("program_change", channel=part.channel, program=part.program, time=0))
        events = []
        for n in part.notes:
            on = int(round(n.start * TICKS))
            off = max(on + 1, int(round((n.start + n.length) * TICKS)))
            events.append((on, 1, n.pitch, n.velocity))
            events.append((off, 0, n.pitch, 0))
        events.sort(key=lambda e: (e[0], e[1]))
        now = 0
        for tick, is_on, pitch, vel in events:
            kind = "note_on" if is_on else "note_off"
            track.append(mido.Message(kind, channel=part.channel, note=pitch, velocity=vel, time=tick - now))
            now = tick
        mid.tracks.append(track)
    return mid
