"""Training/eval examples from real stems on disk (a Musdb18 or StemsFolder reader).

``RealSampler(reader).example(i)`` picks a track and a crop from (seed, i), reads only that crop,
and mixes the track's stems (up to ``max_prompts`` of them, chosen at random when there are
more) with random gains in TUSS's ranges.  The contract is the synthetic one: ``mixture ==
targets.sum(0)`` exactly.  Real data follows whatever its folder holds, so TUSS's prompt rules
are not enforced here (a folder with both ``sfx`` and ``sfxbg`` gives both).
"""

from __future__ import annotations

import copy

import numpy as np

from .example import BACKGROUND, Example
from .readers import _Reader


class RealSampler:
    def __init__(self, reader: _Reader, seed: int = 0, sample_rate: int = 48000, seconds: float = 4.0,
                 channels: int = 2, max_prompts: int = 4, gains: bool = True) -> None:
        self.reader = copy.copy(reader)  # its rate and channels are set below; the caller's stays as it was
        self.seed = int(seed)
        self.sample_rate = int(sample_rate)
        self.seconds = float(seconds)
        self.channels = int(channels)
        self.max_prompts = int(max_prompts)
        self.gains = bool(gains)
        self.reader.sample_rate, self.reader.channels = self.sample_rate, self.channels
        self.names = self.reader.tracks()
        if not self.names:
            raise ValueError("no tracks in the reader's folder")
        self._durations: dict[str, float] = {}
        self.length = int(round(self.seconds * self.sample_rate))
        self.songs_reuse = 1

    def duration(self, name: str) -> float:
        if name not in self._durations:
            self._durations[name] = self.reader.duration(name)
        return self._durations[name]

    def example(self, index: int) -> Example:
        rng = np.random.default_rng([self.seed, 0x4EA1, int(index)])
        name = self.names[int(rng.integers(len(self.names)))]
        offset = float(rng.uniform(0, max(0.0, self.duration(name) - self.seconds)))
        stems, rate = self.reader.read(name, offset=offset, seconds=self.seconds)
        prompts = list(stems)
        if len(prompts) > self.max_prompts:
            keep = sorted(rng.choice(len(prompts), size=self.max_prompts, replace=False))
            prompts = [prompts[int(k)] for k in keep]
        targets = np.zeros((len(prompts), self.channels, self.length), np.float32)
        for i, p in enumerate(prompts):
            x = stems[p][:, : self.length]
            gain = 1.0
            if self.gains:
                low = -20.0 if p in BACKGROUND else -10.0
                level = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
                gain = 0.0 if level < 1e-6 else 0.1 / level * 10 ** (rng.uniform(low, 0.0) / 20)
            targets[i, :, : x.shape[1]] = x * np.float32(gain)
        mixture = targets.sum(axis=0)
        peak = float(np.max(np.abs(mixture)))
        if peak > 0.98:
            targets *= np.float32(0.98 / peak)
            mixture = targets.sum(axis=0)
        return Example(mixture=mixture, prompts=prompts, targets=targets, sample_rate=rate, task=f"real:{name}")
