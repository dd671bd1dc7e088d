"""A small, real example source for training tests: tones, noise bursts and chirps.

Same shape as ``seplive.data.Example`` (``mixture (C, T)``, ``prompts``, ``targets (P, C, T)``,
``sample_rate``) and deterministic in the index, so the training code can be tested without
the full synthetic generator.  Prompts: ``bass`` (low tones), ``drums`` (decaying noise
bursts), ``speech`` (vibrato tones, may repeat), plus a dropped ``other`` with a silent target.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ToyExample:
    mixture: np.ndarray
    prompts: list[str]
    targets: np.ndarray
    sample_rate: int


class ToySource:
    def __init__(self, sample_rate: int = 8000, seconds: float = 0.5, channels: int = 2, seed: int = 0) -> None:
        self.sample_rate, self.channels, self.seed = sample_rate, channels, seed
        self.n = int(sample_rate * seconds)

    def _pan(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        pan = rng.uniform(0.2, 0.8)
        gains = [np.sqrt(1 - pan), np.sqrt(pan)] if self.channels == 2 else [1.0] * self.channels
        return np.stack([g * x for g in gains]).astype(np.float32)

    def _source(self, kind: str, rng: np.random.Generator) -> np.ndarray:
        t = np.arange(self.n) / self.sample_rate
        if kind == "bass":
            f = rng.uniform(50, 120)
            x = np.sin(2 * np.pi * f * t) + 0.3 * np.sin(4 * np.pi * f * t)
        elif kind == "drums":
            x = np.zeros(self.n)
            period = int(rng.uniform(0.1, 0.2) * self.sample_rate)
            burst = rng.standard_normal(period) * np.exp(-np.arange(period) / (0.02 * self.sample_rate))
            for s in range(int(rng.integers(0, period)), self.n - period, period):
                x[s : s + period] += burst
        else:  # speech-like: a vibrato tone with harmonics
            f0 = rng.uniform(150, 400) * (1 + 0.03 * np.sin(2 * np.pi * rng.uniform(3, 7) * t))
            ph = 2 * np.pi * np.cumsum(f0) / self.sample_rate
            x = sum(np.sin(k * ph) / k for k in range(1, 6))
        x = x / (np.sqrt(np.mean(x**2)) + 1e-9) * 10 ** (rng.uniform(-10, 0) / 20) * 0.1
        return self._pan(x, rng)

    def example(self, index: int) -> ToyExample:
        rng = np.random.default_rng([self.seed, index])
        kind = int(rng.integers(0, 3))
        prompts = [["bass", "drums"], ["speech", "speech"], ["speech", "drums", "bass"]][kind]
        targets = [self._source(p, rng) for p in prompts]
        if rng.uniform() < 0.3:  # a dropped prompt: asked for, absent from the mixture
            prompts = prompts + ["other"]
            targets.append(np.zeros((self.channels, self.n), np.float32))
        tg = np.stack(targets)
        return ToyExample(tg.sum(axis=0), prompts, tg, self.sample_rate)
