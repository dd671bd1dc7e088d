"""Models too slow for real time in paced file runs (``realtime=True``): the misses are
counted, the output stays continuous and the latency fixed, and the run advises once."""

import logging
import time

import numpy as np
import soundfile as sf

from seplive.models.dsp import Identity
from seplive.session import Session, SessionConfig


class SlowIdentity(Identity):
    """Sleeps longer than a hop every few calls."""

    def __init__(self, every: int, sleep_s: float):
        super().__init__()
        self.every, self.sleep_s, self.calls = every, sleep_s, 0

    def process(self, window, prompts):
        self.calls += 1
        if self.calls % self.every == 0:
            time.sleep(self.sleep_s)
        return super().process(window, prompts)


def test_slow_plugin_realtime_misses_counted_output_continuous_and_latency_fixed(tones, tmp_path):
    sr = 16000
    x = tones(sr, 3.0, [300, 700, 1100], 1, amp=0.2)
    src = tmp_path / "in.wav"
    out = tmp_path / "out.wav"
    sf.write(src, x, sr, subtype="FLOAT")
    plugin = SlowIdentity(every=10, sleep_s=0.08)  # hop = 32 ms at 16 kHz; 80 ms stalls
    s = Session(SessionConfig(input=str(src), output=str(out), model="identity", prompts=["vocals"], realtime=True, plugin=plugin))
    t0 = time.perf_counter()
    rep = s.run()
    assert time.perf_counter() - t0 >= 2.5  # it really was paced
    y, _ = sf.read(out, dtype="float32", always_2d=True)
    assert len(y) == len(x)
    assert rep["deadline_misses"] > 0
    L = rep["latency_samples"]
    # every sample, missed hop or not, is the input delayed by the same latency: missed
    # hops play the delayed dry input, so nothing moves in time and nothing drops out
    np.testing.assert_allclose(y[L:, 0], x[: len(x) - L, 0], atol=1e-5)


def test_too_slow_model_counts_misses_keeps_latency_and_advises_once(tones, tmp_path, caplog):
    class Slow(Identity):
        def process(self, window, prompts):
            time.sleep(1.6 * self.hop / self.rate_hz)
            return super().process(window, prompts)

        def start(self, layout):
            super().start(layout)
            self.hop, self.rate_hz = layout.hop, layout.rate

    rate = 16000
    x = tones(rate, 2.0, [300.0, 900.0], 1, amp=0.3)
    sf.write(tmp_path / "in.wav", x, rate, subtype="FLOAT")
    s = Session(SessionConfig(input=str(tmp_path / "in.wav"), output=str(tmp_path / "out.wav"), model="identity",
                              prompts=["vocals"], realtime=True, plugin=Slow()))
    latency = s.latency_samples
    with caplog.at_level(logging.WARNING, logger="seplive.engine"):
        rep = s.run()
    assert rep["deadline_misses"] > rep["hops"] // 4
    assert rep["latency_samples"] == latency
    y, _ = sf.read(tmp_path / "out.wav", dtype="float32")
    assert len(y) == len(x)
    np.testing.assert_allclose(y[latency:], x[: len(x) - latency, 0], atol=1e-5)  # dry or wet: same timing
    advice = [r.getMessage() for r in caplog.records if "too slow" in r.getMessage()]
    assert len(advice) == 1 and "--hop" in advice[0] and "--context" in advice[0] and "GPU" in advice[0], advice
    assert rep["overload_advice"] == advice[0]
