import os

import numpy as np
import pytest

# PortAudio inside the test process must never attach to a JACK server: one that outlives
# its server aborts the process at exit (pa_jack.c asserts).  Tests that use JACK run their
# PortAudio in subprocesses, and servers.JackServer points those at the real server.
os.environ["JACK_DEFAULT_SERVER"] = "seplive-tests-no-jack-here"


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


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tests on small tensors: one torch thread is faster and steadier on a shared 2-core
    machine (two threads stall each other when the other core is busy)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def no_user_config(tmp_path, monkeypatch):
    """No user config and no SEPLIVE_* variables: the run sees only its flags and presets."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    for k in list(os.environ):
        if k.startswith("SEPLIVE_"):
            monkeypatch.delenv(k)
