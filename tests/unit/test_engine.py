"""The engine: exact latency, perfect reconstruction, resampling, fallbacks (models too
slow for real time: tests/devices/test_slow_models.py)."""


import numpy as np
import pytest

from seplive.models.base import Separator, SeparatorError
from seplive.models.dsp import Identity
from seplive.stream.engine import Engine, EngineConfig, process_array
from seplive.stream.mix import MixChange, MixSettings


def isolate(*stems):
    return MixSettings.from_cli(list(stems), [], {})


def live_output(engine: Engine, x: np.ndarray) -> np.ndarray:
    """Output exactly as live: same length as the input, delayed by the latency."""
    return process_array(engine, x, align=False)


@pytest.mark.parametrize("rate", [16000, 44100, 48000])
@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize(
    "hop,context,lookahead,block",
    [(512, 0, 0, None), (256, 1024, 0, None), (480, 960, 480, None), (1024, 300, 100, 256), (128, 0, 0, 441)],
)
def test_identity_is_input_delayed_by_reported_latency(rate, channels, hop, context, lookahead, block):
    x = np.random.default_rng(rate + channels).standard_normal((rate // 2, channels)).astype(np.float32) * 0.3
    eng = Engine(
        Identity(),
        isolate("vocals"),
        EngineConfig(source_rate=rate, channels=channels, hop_samples=hop, context_samples=context,
                     lookahead_samples=lookahead, block_samples=block),
    )
    y = live_output(eng, x)
    L = eng.latency_samples
    assert y.shape == x.shape
    assert L > 0
    np.testing.assert_allclose(y[L:], x[: len(x) - L], atol=1e-6, rtol=0)
    assert np.abs(y[:L]).max() == 0.0
    assert eng.counters.deadline_misses == 0 and eng.counters.underflows == 0


def test_latency_follows_lookahead_and_crossfade_exactly():
    base = dict(source_rate=48000, channels=1, hop_samples=512, block_samples=512)
    lat = {}
    for la in (0, 512, 1024):
        for xf in (2.0, 5.0):
            e = Engine(Identity(), isolate("vocals"), EngineConfig(lookahead_samples=la, crossfade_ms=xf, **base))
            lat[la, xf] = e.latency_samples
            x = np.random.default_rng(0).standard_normal((9000, 1)).astype(np.float32)
            y = live_output(e, x)
            np.testing.assert_allclose(y[e.latency_samples:], x[: len(x) - e.latency_samples], atol=1e-6)
    # each hop of lookahead adds exactly one hop; the crossfade adds exactly its length
    assert lat[512, 5.0] - lat[0, 5.0] == 512
    assert lat[1024, 5.0] - lat[0, 5.0] == 1024
    assert lat[0, 5.0] - lat[0, 2.0] == 240 - 96


@pytest.mark.parametrize("rate,model_rate", [(16000, 48000), (44100, 48000), (48000, 44100)])
@pytest.mark.parametrize("channels", [1, 2])
def test_identity_with_resampling_error_below_minus_60_db(tones, db, rate, model_rate, channels):
    top = 0.4 * min(rate, model_rate)
    freqs = np.random.default_rng(3).uniform(60, top, 16)
    x = tones(rate, 1.5, freqs, channels)
    eng = Engine(Identity(sample_rate=model_rate), isolate("vocals"), EngineConfig(source_rate=rate, channels=channels))
    assert eng.model_rate == model_rate
    y = process_array(eng, x, align=True)
    edge = rate // 10  # the stream starts from silence
    err = db(y[edge:-edge] - x[edge:-edge]) - db(x[edge:-edge])
    assert err <= -60.0, err


def test_all_stems_at_unity_sum_back_to_input():
    x = np.random.default_rng(5).standard_normal((20000, 2)).astype(np.float32) * 0.2
    from seplive.models.dsp import CenterSeparator

    eng = Engine(CenterSeparator(), MixSettings.from_cli(["vocals", "rest"], [], {}), EngineConfig(source_rate=44100, channels=2))
    y = process_array(eng, x)
    np.testing.assert_allclose(y, x, atol=1e-5)


def test_gain_db_and_mute_apply():
    x = np.random.default_rng(6).standard_normal((12000, 1)).astype(np.float32) * 0.2
    eng = Engine(Identity(), MixSettings.from_cli(["vocals"], [], {"vocals": -6.0}), EngineConfig(source_rate=48000, channels=1))
    y = process_array(eng, x)
    np.testing.assert_allclose(y, x * 10 ** (-6 / 20), atol=1e-6)
    eng = Engine(Identity(), MixSettings.from_cli([], ["vocals"], {}), EngineConfig(source_rate=48000, channels=1))
    assert np.abs(process_array(eng, x)).max() < 1e-6  # identity: input minus vocals is silence


def test_gain_change_is_ramped_not_stepped(tones, db):
    sr = 48000
    x = tones(sr, 1.0, [997.0], 1, amp=0.5)
    eng = Engine(Identity(), isolate("vocals"), EngineConfig(source_rate=sr, channels=1, ramp_ms=10.0))
    B = eng.block
    x = x[: len(x) // B * B]
    y = np.zeros_like(x)
    for i in range(0, len(x), B):
        if i == 20 * B:
            eng.mix.post(MixChange("gain_db", -40.0, "vocals"))
        eng.push(x[i : i + B])
        y[i : i + B] = eng.pull(B)
    jump = np.abs(np.diff(y[eng.latency_samples + 1 :, 0])).max()  # (the stream's own onset excluded)
    # a ramp-free reference: the largest step a 997 Hz sine of amplitude 0.5 makes on its own
    natural = np.abs(np.diff(x[:, 0])).max()
    assert jump <= natural * 1.01
    assert db(y[-2000:]) < db(x[-2000:]) - 39


class Broken(Identity):
    def __init__(self, mode):
        super().__init__()
        self.mode, self.calls = mode, 0

    def process(self, window, prompts):
        self.calls += 1
        if self.calls % 3 == 0:
            if self.mode == "raise":
                raise RuntimeError("boom")
            return np.zeros((1, 1, 1, 7), np.float32)
        return np.zeros((len(prompts), *window.shape), np.float32)  # silence when it works


@pytest.mark.parametrize("mode", ["raise", "shape"])
def test_failing_plugin_hops_fall_back_to_dry_with_crossfade(tones, db, mode):
    x = tones(48000, 1.0, [440.0], 1, amp=0.5)
    eng = Engine(Broken(mode), isolate("vocals"), EngineConfig(source_rate=48000, channels=1))
    y = process_array(eng, x)
    assert eng.counters.plugin_errors > 0
    assert np.isfinite(y).all()
    # the working hops are silent, the failed ones carry the dry input
    assert db(y) > db(x) - 12 and db(y) < db(x) - 2
    # crossfades: no step larger than the sine's own
    assert np.abs(np.diff(y[:, 0])).max() <= np.abs(np.diff(x[:, 0])).max() * 1.05


def test_persistently_failing_plugin_is_bypassed(tones):
    class AlwaysFails(Identity):
        def process(self, window, prompts):
            raise ValueError("nope")

    x = tones(48000, 1.0, [440.0], 1)
    eng = Engine(AlwaysFails(), isolate("vocals"), EngineConfig(source_rate=48000, channels=1))
    y = process_array(eng, x)
    assert eng.counters.bypassed
    np.testing.assert_allclose(y, x, atol=1e-6)  # dry, aligned


def test_nonfinite_input_is_counted_and_output_stays_finite(tones):
    x = tones(48000, 0.5, [440.0], 2)
    x[1000:1100] = np.nan
    x[5000] = np.inf
    eng = Engine(Identity(), isolate("vocals"), EngineConfig(source_rate=48000, channels=2))
    y = process_array(eng, x)
    assert np.isfinite(y).all()
    assert eng.counters.nonfinite_blocks >= 2


def test_unknown_prompt_and_bad_hop_are_refused():
    with pytest.raises(SeparatorError, match="no prompt 'vocalz'"):
        Engine(Identity(), isolate("vocalz"), EngineConfig(source_rate=48000, channels=1))

    class Needs512(Identity):
        hop_multiple = 512

    with pytest.raises(SeparatorError, match="multiple of 512"):
        Engine(Needs512(), isolate("vocals"), EngineConfig(source_rate=48000, channels=1, hop_samples=300))


def test_stereo_model_on_mono_and_multichannel_input():
    class StereoIdentity(Identity):
        channels = 2

    for ch in (1, 3, 6):
        x = np.random.default_rng(ch).standard_normal((8000, ch)).astype(np.float32) * 0.3
        eng = Engine(StereoIdentity(channels=2), isolate("vocals"), EngineConfig(source_rate=48000, channels=ch))
        np.testing.assert_allclose(process_array(eng, x), x, atol=1e-6)


def test_contract_violation_in_windowed_plugin_is_a_clear_error():
    class Short(Separator):
        name = "short"
        windowed = True
        prompts = ("vocals",)

        def process(self, window, prompts):
            return np.zeros((1, window.shape[0], 1, 10), np.float32)

    eng = Engine(Short(), isolate("vocals"), EngineConfig(source_rate=48000, channels=1))
    process_array(eng, np.zeros((4800, 1), np.float32))
    assert "returned shape" in eng.counters.last_error


class StatefulIdentity(Separator):
    """Stateful: sees only the new hop, returns it for every prompt."""

    name = "stateful-identity"
    prompts = ("vocals", "drums", "bass", "other")

    def process(self, window, prompts):
        return np.broadcast_to(window[None], (len(prompts), *window.shape)).copy()


@pytest.mark.parametrize("plugin_cls", [Identity, StatefulIdentity])
def test_prompt_switches_are_seamless(tones, stream_switching, plugin_cls):
    """Every identity stem is the input, so isolating one stem or another must give the
    input back at every sample, also while prompts switch (the leaving stem is still
    computed while it ramps out, the new one from the hop its ramp starts)."""
    sr = 48000
    x = tones(sr, 1.0, [310.0, 1234.0], 2, amp=0.3)
    eng = Engine(plugin_cls(), isolate("vocals"), EngineConfig(source_rate=sr, channels=2, hop_samples=256))
    B = eng.block
    x = x[: len(x) // B * B]
    # (two identity stems isolated together would play the input twice: switch one at a time)
    y = stream_switching(eng, x, {10: ["drums"], 13: ["bass"], 14: ["vocals"], 15: ["other"], 30: ["drums"], 31: ["bass"]})
    L = eng.latency_samples
    np.testing.assert_allclose(y[L:], x[: len(x) - L], atol=2e-6)
    assert eng.prompts == ["bass"]


def test_bad_changes_are_refused_and_the_audio_goes_on(tones):
    x = tones(48000, 0.5, [440.0], 1)
    eng = Engine(Identity(), isolate("vocals"), EngineConfig(source_rate=48000, channels=1))
    for c in (MixChange("gain_db", "loud", "vocals"), MixChange("prompts", ["nosuch"]), MixChange("frobnicate", 1),
              MixChange("gain_db", float("nan"), "vocals"), MixChange("mute", True, "nosuch")):
        eng.mix.post(c)
    y = process_array(eng, x)
    assert eng.counters.rejected_changes == 5
    np.testing.assert_allclose(y, x, atol=1e-6)


class BrokenStateful(Separator):
    """A stateful plugin whose stems are silence, failing every third hop."""

    name = "broken-stateful"
    prompts = ("vocals",)
    windowed = False
    default_hop_samples = 480

    def __init__(self):
        super().__init__()
        self.calls = 0

    def process(self, window, prompts):
        self.calls += 1
        if self.calls % 3 == 0:
            raise RuntimeError("boom")
        return np.zeros((len(prompts), *window.shape), np.float32)


@pytest.mark.parametrize("fade_ms", [None, 0.0])
def test_stateful_miss_fade_is_short_and_does_not_click(tones, db, fade_ms):
    """A stateful plugin holds back only its 2 ms miss fade (latency), and the switch to the
    dry input and back, every third hop here, stays smooth; with no fade it clicks."""
    x = tones(48000, 0.5, [440.0], 1, amp=0.5)
    eng = Engine(BrokenStateful(), isolate("vocals"), EngineConfig(source_rate=48000, channels=1, crossfade_ms=fade_ms))
    y = process_array(eng, x)[2000:-2000, 0]
    assert eng.counters.plugin_errors > 0 and db(y) > db(x) - 12
    curvature = np.abs(np.diff(y, 2)).max() / np.abs(np.diff(x[:, 0], 2)).max()
    if fade_ms is None:
        assert eng.crossfade == 96  # 2 ms at 48 kHz
        assert curvature < 3.0
    else:
        assert curvature > 30.0  # a step: what the fade prevents
