"""One chunked apply: a whole array through an engine, block by block, as live.

Used by files, tests, benchmarks and the evaluator (which also wants the tapped stems).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Streamer(Protocol):
    """What the apply needs of an engine (an Engine or a LaneEngine)."""

    block: int
    latency_samples: int
    stem_tap: list[str]
    last_stems: np.ndarray | None

    def push(self, block: np.ndarray) -> None: ...

    def pull(self, frames: int) -> np.ndarray: ...


def stream_array(engine: Streamer, audio: np.ndarray, align: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Stream ``(frames, channels)`` audio (source rate) through ``engine`` block by block
    (the live code path, as fast as it runs); return the output ``(frames, channels)`` and,
    when the engine taps stems, those ``(frames, taps + 1, channels)`` (the last: rest).

    With ``align`` the results are shifted back by the engine's latency (and flushed with
    silence) so that they line up with ``audio``; without it, output sample ``k`` is the
    mix for input sample ``k - latency_samples``, as live.
    """
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[:, None]
    n, ch = audio.shape
    block = engine.block
    extra = engine.latency_samples if align else 0
    total = n + extra
    padded = np.zeros((-(-total // block) * block, ch), np.float32)
    padded[:n] = audio
    out = np.empty_like(padded)
    stems = np.empty((len(padded), len(engine.stem_tap) + 1, ch), np.float32) if engine.stem_tap else None
    for i in range(0, len(padded), block):
        engine.push(padded[i : i + block])
        out[i : i + block] = engine.pull(block)
        if stems is not None:
            stems[i : i + block] = engine.last_stems
    return out[extra : extra + n], None if stems is None else stems[extra : extra + n]


def process_array(engine: Streamer, audio: np.ndarray, align: bool = True) -> np.ndarray:
    """The output of :func:`stream_array` alone."""
    return stream_array(engine, audio, align)[0]
