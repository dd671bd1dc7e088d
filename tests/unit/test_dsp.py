"""The weight-free separators, through the engine."""

import numpy as np
import pytest

from seplive.models.dsp import CenterSeparator, HPSSeparator
from seplive.models.stft import StftAnalyzer, StftSynthesizer
from seplive.stream.engine import Engine, EngineConfig, process_array
from seplive.stream.mix import MixSettings


@pytest.fixture
def gain_and_leak(db):
    """``gain_and_leak(y, want, unwanted)``: the gain (dB) of ``want`` in ``y`` by
    projection, and what is left relative to ``unwanted`` (dB)."""

    def measure(y, want, unwanted):
        g = float(np.sum(y * want) / np.sum(want * want))
        return 20 * np.log10(g), db(y - g * want) - db(unwanted)

    return measure


@pytest.mark.parametrize("rate", [44100, 48000])
def test_streaming_stft_reconstructs_exactly(rate):
    x = np.random.default_rng(0).standard_normal((2, 8192)).astype(np.float32)
    a, s = StftAnalyzer(1024, 256, 2), StftSynthesizer(1024, 256, 2)
    y = np.concatenate([s(a(x[:, i : i + 512])) for i in range(0, 8192, 512)], axis=1)
    d = s.delay_samples
    np.testing.assert_allclose(y[:, d + 1024 :], x[:, 1024 : 8192 - d], atol=1e-5)


def centre_mix(rate=48000, seconds=3.0, seed=1):
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * seconds)) / rate
    centre_tone = 0.2 * sum(np.sin(2 * np.pi * f * t) / k for k, f in enumerate([220, 440, 660, 880], 1))
    left = 0.2 * np.sin(2 * np.pi * 1250 * t) + 0.05 * rng.standard_normal(len(t))
    right = 0.2 * np.sin(2 * np.pi * 3100 * t) + 0.05 * rng.standard_normal(len(t))
    centre = np.stack([centre_tone, centre_tone], 1).astype(np.float32)
    side = np.stack([left, right], 1).astype(np.float32)
    return centre, side


@pytest.mark.parametrize("rate", [44100, 48000])
def test_center_isolates_centre_and_mute_removes_it(gain_and_leak, rate):
    centre, side = centre_mix(rate)
    x = centre + side
    skip = rate // 2  # the causal smoothing settles within a few frames; skip its start
    eng = Engine(CenterSeparator(), MixSettings.from_cli(["vocals"], [], {}), EngineConfig(source_rate=rate, channels=2))
    vocals = process_array(eng, x)[skip:]
    gain, leak = gain_and_leak(vocals, centre[skip:], side[skip:])
    assert abs(gain) <= 1.0, gain
    assert leak <= -20.0, leak
    eng = Engine(CenterSeparator(), MixSettings.from_cli([], ["vocals"], {}), EngineConfig(source_rate=rate, channels=2))
    karaoke = process_array(eng, x)[skip:]
    gain, leak = gain_and_leak(karaoke, side[skip:], centre[skip:])
    assert abs(gain) <= 1.0, gain
    assert leak <= -20.0, leak


def test_center_on_mono_input_keeps_everything_as_vocals(db):
    x = np.random.default_rng(2).standard_normal((24000, 1)).astype(np.float32) * 0.1
    eng = Engine(CenterSeparator(low_cut_hz=0, high_cut_hz=1e9), MixSettings.from_cli(["vocals"], [], {}), EngineConfig(source_rate=48000, channels=1))
    y = process_array(eng, x)
    assert db(y[4800:] - x[4800:]) - db(x) < -30


def chord_and_clicks(rate=48000, seconds=3.0, seed=3):
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * seconds)) / rate
    chord = 0.1 * sum(np.sin(2 * np.pi * f * t) for f in (261.6, 329.6, 392.0))
    clicks = np.zeros_like(t)
    for k in range(rate // 8, len(t) - 64, rate // 4):
        clicks[k : k + 48] += 0.8 * rng.standard_normal(48) * np.exp(-np.arange(48) / 8)
    return chord[:, None].astype(np.float32), clicks[:, None].astype(np.float32)


@pytest.mark.parametrize("lookahead_frames", [0, 2])
def test_hpss_separates_chord_and_clicks_by_10_db(db, lookahead_frames):
    chord, clicks = chord_and_clicks()
    x = chord + clicks
    skip = 24000
    for prompt, want in (("drums", clicks), ("other", chord)):
        plugin = HPSSeparator(lookahead_frames=lookahead_frames)
        eng = Engine(plugin, MixSettings.from_cli([prompt], [], {}), EngineConfig(source_rate=48000, channels=1))
        y = process_array(eng, x)[skip:]
        sdr = db(want[skip:]) - db(y - want[skip:])
        assert sdr >= 10.0, (prompt, sdr)


def test_hpss_lookahead_adds_its_frames_to_latency():
    lat = []
    for la in (0, 2):
        e = Engine(HPSSeparator(lookahead_frames=la), MixSettings.from_cli(["drums"], [], {}), EngineConfig(source_rate=48000, channels=1))
        lat.append(e.latency_samples)
    assert lat[1] - lat[0] == 2 * 256
