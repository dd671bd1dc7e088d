"""Bounded rendering: MIDI parts through tinysoundfont, and capped subprocesses.

Every renderer here has a hard cap on output length and (for subprocesses) on wall time and
bytes read, because an unbounded one can fill a disk: the fluidsynth command renders until every
voice is silent, and one note-on without a note-off once wrote 78 GB.  In the synth renderer
every note that is still open at the end of a part is closed, release tails are cut at a fixed
length, and nothing is rendered past ``max_seconds``.
"""

from __future__ import annotations

import subprocess
import time

import numpy as np

from .midi import DRUM_CHANNEL, Part
from .soundfonts import synth_for

#: release time rendered after the last note-off before the part is cut
TAIL_SECONDS = 1.0
#: no part is ever rendered longer than this, whatever is asked
MAX_SECONDS = 600.0
_CHUNK = 4096


class RenderError(RuntimeError):
    """A renderer failed or went over its bounds in a way that left no usable audio."""


def part_events(part: Part, seconds_per_beat: float) -> list[tuple[float, int, int, int]]:
    """(time s, kind, a, b) sorted; kind 0 = note off, 1 = note on, 2 = pitch bend (a = value)."""
    events: list[tuple[float, int, int, int]] = []
    for n in part.notes:
        t0 = n.start * seconds_per_beat
        t1 = (n.start + n.length) * seconds_per_beat
        events.append((t0, 1, n.pitch, n.velocity))
        events.append((t1, 0, n.pitch, 0))
        if part.vibrato > 0 and t1 - t0 > 0.25:
            # delayed vibrato by pitch bend (bend range set to 2 semitones)
            rate = 5.5
            for t in np.arange(t0 + 0.15, t1, 0.02):
                depth = part.vibrato * min(1.0, (t - t0 - 0.15) / 0.2)
                bend = 8192 + int(round(depth / 2.0 * 8191 * np.sin(2 * np.pi * rate * (t - t0))))
                events.append((float(t), 2, bend, 0))
            events.append((t1, 2, 8192, 0))
    events.sort(key=lambda e: (e[0], e[1]))
    return events


def render_part(
    part: Part,
    seconds_per_beat: float,
    soundfont: str,
    sample_rate: int,
    seconds: float,
    bank: int = 0,
    preset: int | None = None,
    max_seconds: float = MAX_SECONDS,
) -> np.ndarray:
    """Render one part to (2, N) float32, N = ``min(seconds, max_seconds)`` * rate exactly.

    Notes starting after the end are dropped, notes still sounding at the end are released
    there, and the sound is cut at the end: the output length never depends on the notes.
    """
    length = int(round(min(float(seconds), float(max_seconds), MAX_SECONDS) * sample_rate))
    if length <= 0:
        return np.zeros((2, 0), np.float32)
    synth, sfid = synth_for(soundfont, sample_rate)
    drums = part.channel == DRUM_CHANNEL
    chan = part.channel
    program = part.program if preset is None else preset
    synth.program_select(chan, sfid, bank, program, is_drums=drums)
    synth.pitchbend_range(chan, 2.0)
    synth.pitchbend(chan, 8192)
    out = np.zeros((length, 2), np.float32)
    pos = 0
    held: set[int] = set()
    for t, kind, a, b in part_events(part, seconds_per_beat):
        at = min(length, int(round(t * sample_rate)))
        if at > pos:
            out[pos:at] = np.frombuffer(synth.generate(at - pos), np.float32).reshape(-1, 2)
            pos = at
        if pos >= length:
            break
        if kind == 1:
            synth.noteon(chan, a, b)
            held.add(a)
        elif kind == 0:
            synth.noteoff(chan, a)
            held.discard(a)
        else:
            synth.pitchbend(chan, a)
    if pos < length:
        for a in held:  # close anything left open, then let the tails ring to the end
            synth.noteoff(chan, a)
        held.clear()
        while pos < length:
            n = min(_CHUNK * 16, length - pos)
            out[pos : pos + n] = np.frombuffer(synth.generate(n), np.float32).reshape(-1, 2)
            pos += n
    synth.sounds_off()
    return np.ascontiguousarray(out.T)


def run_capped(cmd: list[str], timeout: float, max_bytes: int, stdin: bytes | None = None) -> bytes:
    """Run ``cmd``, return its stdout; kill it past ``timeout`` seconds or ``max_bytes`` of output.

    A command that goes over either cap is killed and RenderError names the cap, so a stuck
    renderer costs at most ``timeout`` seconds and ``max_bytes`` of memory, never disk.
    """
    import selectors

    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    except OSError as exc:
        raise RenderError(f"cannot run {cmd[0]}: {exc}") from None
    if stdin is not None:
        try:
            proc.stdin.write(stdin)
            proc.stdin.close()
        except BrokenPipeError:
            pass
    chunks: list[bytes] = []
    total = 0
    deadline = time.monotonic() + timeout
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    reason = None
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                reason = f"took longer than {timeout:g} s"
                break
            if not sel.select(timeout=min(left, 0.5)):
                continue
            data = proc.stdout.read1(65536)
            if not data:
                break
            chunks.append(data)
            total += len(data)
            if total > max_bytes:
                reason = f"wrote more than {max_bytes} bytes"
                break
    finally:
        sel.close()
        if reason is not None:
            proc.kill()
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()) if reason is None else 5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            reason = reason or f"took longer than {timeout:g} s"
        proc.stdout.close()
    if reason is not None:
        raise RenderError(f"{cmd[0]} {reason}; killed")
    if proc.returncode != 0:
        raise RenderError(f"{cmd[0]} exited with status {proc.returncode}")
    return b"".join(chunks)
