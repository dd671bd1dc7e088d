import numpy as np
import pytest


def tones(rate: int, seconds: float, freqs, channels: int = 1, seed: int = 0, amp: float = 0.05) -> np.ndarray:
    """Sum of sines at random phases, (frames, channels) float32; channel c gets its own phases."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * seconds)) / rate
    out = np.zeros((len(t), channels), np.float32)
    for c in range(channels):
        out[:, c] = amp * sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) for f in freqs)
    return out


def db(x) -> float:
    return float(10 * np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-30))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
