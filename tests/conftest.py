"""Fixtures shared by tests/unit and tests/devices: test signals and their level, a seeded
generator, one torch thread, a run without the user's configuration."""

import os

import numpy as np
import pytest

# PortAudio inside the test process must never attach to a JACK server: one that outlives
# its server aborts the process at exit (pa_jack.c asserts).  Tests that use JACK run their
# PortAudio in subprocesses, and support.servers.JackServer points those at the real server.
os.environ["JACK_DEFAULT_SERVER"] = "seplive-tests-no-jack-here"


def _tones(rate: int, seconds: float, freqs, channels: int = 1, seed: int = 0, amp: float = 0.05) -> np.ndarray:
    """Sum of sines at random phases, (frames, channels) float32; channel c gets its own phases."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * seconds)) / rate
    out = np.zeros((len(t), channels), np.float32)
    for c in range(channels):
        out[:, c] = amp * sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) for f in freqs)
    return out


def _db(x) -> float:
    """Mean power of ``x`` in dB (re 1.0, so dBFS for audio in -1..1)."""
    return float(10 * np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-30))


def _high_band(y: np.ndarray, rate: int = 48000) -> float:
    """Largest magnitude above 8 kHz in channel 0 of ``y`` at ``rate`` Hz, after its first
    eighth of a second (the onset): what a click leaves in a signal with nothing up there."""
    from scipy.signal import butter, sosfilt

    sos = butter(8, 8000, "highpass", fs=rate, output="sos")
    return float(np.abs(sosfilt(sos, y[:, 0])[rate // 8 :]).max())


def _stream_switching(eng, x: np.ndarray, switches: dict) -> np.ndarray:
    """Stream ``x`` through ``eng`` block by block, posting a prompt change before block n
    for each ``n: [prompts]`` of ``switches``; the output, as live (not aligned)."""
    from seplive.stream.mix import MixChange

    B = eng.block
    y = np.zeros_like(x)
    for n, i in enumerate(range(0, len(x) - B + 1, B)):
        if n in switches:
            eng.mix.post(MixChange("prompts", switches[n]))
        eng.push(x[i : i + B])
        y[i : i + B] = eng.pull(B)
    return y


@pytest.fixture(scope="session")
def stream_switching():
    return _stream_switching


@pytest.fixture(scope="session")
def tones():
    """``tones(rate, seconds, freqs, channels=1, seed=0, amp=0.05)``: a sum of sines at
    random phases, (frames, channels) float32."""
    return _tones


@pytest.fixture(scope="session")
def db():
    """``db(x)``: the mean power of ``x`` in dB (dBFS for audio in -1..1)."""
    return _db


@pytest.fixture(scope="session")
def high_band():
    """``high_band(y, rate=48000)``: the peak above 8 kHz after the onset (a click's mark)."""
    return _high_band


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


@pytest.fixture
def idle_session(tmp_path):
    """An identity Session (``--prompts vocals``) on 0.5 s of 48 kHz stereo noise, built
    but not running: a target for controls that are driven by hand."""
    from seplive.session import Session, SessionConfig
    from tests.support.osc import write_input

    write_input(tmp_path / "in.wav", 0.5)
    return Session(SessionConfig(input=str(tmp_path / "in.wav"), model="identity", prompts=["vocals"]))
