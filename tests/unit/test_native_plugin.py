"""The native plugin: through the engine (latency, prompt switches), checkpoints."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from seplive.models import SeparatorError, registry
from seplive.models.base import StreamSpec
from seplive.models.native import NativeNet, NativeSeparator, load_checkpoint, save_checkpoint
from seplive.models.native.checkpoint import WEIGHTS_DIR
from seplive.stream.engine import Engine, EngineConfig, process_array
from seplive.stream.mix import MixSettings

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def isolate(*stems):
    return MixSettings.from_cli(list(stems), [], {})


def tiny(seed=0, unit_mask=False, **kw):
    torch.manual_seed(seed)
    return NativeSeparator(model=NativeNet("tiny"), unit_mask=unit_mask, threads=None, **kw)


@pytest.mark.parametrize("hop", [128, 384, 512])
def test_reported_latency_is_the_measured_latency(hop):
    """With unit masks every stem is the input delayed by the model's declared delay: the
    engine's output, shifted back by the latency it reports, must be the input exactly."""
    x = (0.2 * np.random.default_rng(hop).standard_normal((24000, 2))).astype(np.float32)
    plugin = tiny(unit_mask=True)
    assert plugin.delay_samples == 128 and plugin.default_hop_samples == 384
    eng = Engine(plugin, isolate("vocals"), EngineConfig(source_rate=48000, channels=2, hop_samples=hop))
    y = process_array(eng, x, align=False)
    L = eng.latency_samples
    np.testing.assert_allclose(y[L:], x[: len(x) - L], atol=1e-5)
    # and not one sample either side
    assert np.abs(y[L + 1 :] - x[: len(x) - L - 1]).max() > 0.05
    assert np.abs(y[L - 1 : -1] - x[: len(x) - L]).max() > 0.05
    assert eng.counters.plugin_errors == 0


def test_the_default_model_reports_at_most_12_ms_in_file_mode():
    """model delay 128 + three quarters of a 384 hop of compute budget + a 2 ms miss fade"""
    eng = Engine(tiny(), isolate("vocals"), EngineConfig(source_rate=48000, channels=2))
    assert eng.latency_samples == 128 + 288 + 96
    assert eng.latency_samples <= 0.012 * 48000


def test_latency_through_the_resamplers_by_cross_correlation(tones):
    """At 44.1 kHz the engine resamples around the 48 kHz model; a band-limited signal
    comes back where the reported latency says, to the sample."""
    sr = 44100
    x = tones(sr, 1.0, [220.0, 1375.0, 5010.0], 2, amp=0.2)
    x[sr // 3 : sr // 3 + 20] += 0.5  # a click to pin the lag
    eng = Engine(tiny(unit_mask=True), isolate("speech"), EngineConfig(source_rate=sr, channels=2))
    assert eng.model_rate == 48000
    y = process_array(eng, x, align=False)
    L = eng.latency_samples
    n = len(x) - 4096
    lags = range(L - 40, L + 41)
    score = [float(np.sum(y[lag : lag + n, 0] * x[:n, 0])) for lag in lags]
    assert lags[int(np.argmax(score))] == L


def test_prompt_switches_through_the_engine_are_seamless(tones, stream_switching):
    """Unit-mask stems are the input whatever the prompt: isolating one prompt after
    another gives the input back at every sample, including the hops where a prompt joins
    (its overlap-add tail is rebuilt from the kept frames)."""
    sr = 48000
    x = tones(sr, 1.0, [310.0, 1234.0], 2, amp=0.3)
    eng = Engine(tiny(unit_mask=True), isolate("vocals"), EngineConfig(source_rate=sr, channels=2, hop_samples=256))
    B = eng.block
    x = x[: len(x) // B * B]
    y = stream_switching(eng, x, {10: ["drums"], 13: ["bass"], 14: ["speech"], 15: ["other"], 30: ["sfx"], 31: ["musicbg"]})
    L = eng.latency_samples
    np.testing.assert_allclose(y[L:], x[: len(x) - L], atol=1e-5)
    assert eng.prompts == ["musicbg"]


def test_a_prompt_joining_mid_stream_is_exact_at_once():
    """Random (untrained) weights: the stems of a prompt that joins at hop 5 equal those of
    a plugin that computed that prompt from the start."""
    x = (0.2 * np.random.default_rng(3).standard_normal((2, 2, 256 * 12))).astype(np.float32)
    a, b = tiny(seed=4), tiny(seed=4)
    for p in (a, b):
        p.configure(StreamSpec(rate=48000, channels=2, hop_samples=256))
    for h in range(12):
        w = x[..., h * 256 : (h + 1) * 256]
        ref = a.process(w, ["vocals", "drums", "bass"])
        got = b.process(w, ["vocals"] if h < 5 else ["bass", "vocals"])
        assert got.shape == (1 if h < 5 else 2, 2, 2, 256)
        np.testing.assert_allclose(got[-1], ref[0], atol=1e-5)
        if h >= 5:
            np.testing.assert_allclose(got[0], ref[2], atol=1e-5)


def test_the_traced_path_is_the_default_on_a_cpu_and_gives_the_eager_output():
    """configure() traces the network (the default on a CPU); hop for hop, with prompts
    joining and leaving, the stems are the eager plugin's."""
    x = (0.2 * np.random.default_rng(5).standard_normal((1, 2, 384 * 10))).astype(np.float32)
    fast, slow = tiny(seed=6), tiny(seed=6, traced=False)
    for p in (fast, slow):
        p.configure(StreamSpec(rate=48000, channels=2, hop_samples=384))
    assert fast._kernels is not None and slow._kernels is None
    plan = [["vocals"], ["vocals"], ["vocals", "drums"], ["drums"], ["speech", "speech", "sfx"]] * 2
    for h, prompts in enumerate(plan):
        w = x[..., h * 384 : (h + 1) * 384]
        np.testing.assert_allclose(fast.process(w, prompts), slow.process(w, prompts), atol=1e-6)


def test_a_failed_trace_leaves_the_plugin_eager_and_working(monkeypatch, caplog):
    """A torch whose TorchScript cannot trace (or has none): one warning, then the same
    stems from the eager path.  (The failure is forced: this torch traces.)"""

    def refuse(*args, **kwargs):
        raise RuntimeError("no TorchScript here")

    monkeypatch.setattr(torch.jit, "trace", refuse)
    p = tiny(seed=6)
    with caplog.at_level("WARNING"):
        p.configure(StreamSpec(rate=48000, channels=2, hop_samples=384))
    assert p._kernels is None
    assert any("tracing failed" in r.getMessage() for r in caplog.records)
    out = p.process(np.zeros((1, 2, 384), np.float32), ["vocals"])
    assert out.shape == (1, 1, 2, 384) and np.isfinite(out).all()


def test_mono_input_through_the_stereo_model(tones):
    x = tones(48000, 0.3, [440.0], 1, amp=0.3)
    eng = Engine(tiny(unit_mask=True), isolate("vocals"), EngineConfig(source_rate=48000, channels=1))
    np.testing.assert_allclose(process_array(eng, x), x, atol=1e-5)


def test_checkpoint_round_trip_and_weights_only_load(tmp_path):
    torch.manual_seed(5)
    net = NativeNet("tiny")
    path = save_checkpoint(net, tmp_path / "native-tiny.pt", steps=0)
    side = json.loads((tmp_path / "native-tiny.json").read_text())
    assert side["architecture"] == "native" and side["steps"] == 0 and side["data"]["sample_rate"] == 48000
    assert side["config"]["model"]["options"]["dim"] == 16  # the trainer's layout
    loaded = load_checkpoint(path)
    for k, v in net.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])
    x = (0.1 * np.random.default_rng(0).standard_normal((1, 2, 512))).astype(np.float32)
    p1 = NativeSeparator(checkpoint=str(path), threads=None)
    p2 = NativeSeparator(model=net, threads=None)
    np.testing.assert_array_equal(p1.process(x, ["speech"]), p2.process(x, ["speech"]))
    # a pickle that would run code is refused by weights_only loading
    evil = tmp_path / "evil.pt"
    torch.save({"w": torch.zeros(1), "f": print}, evil)  # a function: not plain data
    (tmp_path / "evil.json").write_text(json.dumps(side))
    with pytest.raises(SeparatorError, match="not a readable weights file"):
        load_checkpoint(evil)


def test_bad_checkpoints_are_one_clear_line(tmp_path):
    torch.manual_seed(6)
    path = save_checkpoint(NativeNet("tiny"), tmp_path / "t.pt")
    side = json.loads((tmp_path / "t.json").read_text())
    # weights of another config (a bare config dict as sidecar config): the mismatch is named
    side_small = dict(side, config=NativeNet("small").cfg.to_dict())
    (tmp_path / "t.json").write_text(json.dumps(side_small))
    with pytest.raises(SeparatorError, match="does not fit the config in its sidecar: .*mis-shaped") as e:
        load_checkpoint(path)
    assert "\n" not in str(e.value)
    (tmp_path / "t.json").write_text(json.dumps(dict(side, architecture="tuss")))
    with pytest.raises(SeparatorError, match="architecture 'tuss'"):
        load_checkpoint(path)
    (tmp_path / "t.json").unlink()
    with pytest.raises(SeparatorError, match="no sidecar"):
        load_checkpoint(path)
    junk = tmp_path / "junk.pt"
    junk.write_text("not weights")
    (tmp_path / "junk.json").write_text(json.dumps(side))
    with pytest.raises(SeparatorError, match="not a readable weights file"):
        load_checkpoint(junk)
    with pytest.raises(SeparatorError, match="not found"):
        load_checkpoint(tmp_path / "nothing.pt")


@pytest.mark.skipif(any(WEIGHTS_DIR.glob("*.pt")), reason="trained weights ship")
def test_without_shipped_weights_the_registry_says_so_in_one_line(tmp_path):
    with pytest.raises(SeparatorError, match="no trained weights ship"):
        registry.create("native")
    import soundfile as sf

    sf.write(tmp_path / "in.wav", np.zeros((4800, 2), np.float32), 48000)
    r = subprocess.run([sys.executable, "-m", "seplive", "-i", tmp_path / "in.wav", "-m", "native", "-p", "speech"],
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert "no trained weights" in r.stderr


def test_checkpoint_through_the_cli(tmp_path):
    import soundfile as sf

    torch.manual_seed(7)
    path = save_checkpoint(NativeNet("tiny"), tmp_path / "m.pt")
    x = (0.1 * np.random.default_rng(1).standard_normal((24000, 2))).astype(np.float32)
    sf.write(tmp_path / "in.wav", x, 48000, subtype="FLOAT")
    r = subprocess.run(
        [sys.executable, "-m", "seplive", "-i", tmp_path / "in.wav", "-o", tmp_path / "out.wav", "-m", "native",
         "--checkpoint", path, "-p", "speech", "drums", "--report", tmp_path / "r.json", "-q"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    rep = json.loads((tmp_path / "r.json").read_text())
    y, _ = sf.read(tmp_path / "out.wav")
    assert y.shape == x.shape and np.isfinite(y).all() and np.abs(y).max() > 0
    assert rep["plugin_errors"] == 0 and rep["hop_samples"] == 384


def test_wrong_window_shape_is_refused():
    p = tiny()
    p.configure(StreamSpec(rate=48000, channels=2, hop_samples=256))
    with pytest.raises(SeparatorError, match="window must be"):
        p.process(np.zeros((1, 2, 100), np.float32), ["speech"])
    with pytest.raises(SeparatorError, match="no prompt 'query'"):
        p.process(np.zeros((1, 2, 256), np.float32), ["query"])
    # a 44.1 kHz stream: the plugin answers its own rate (the engine resamples)
    assert p.configure(StreamSpec(rate=44100, channels=2, hop_samples=256)).rate == 48000


def test_the_evaluator_gets_the_stateful_plugin_from_a_checkpoint(tmp_path):
    from seplive.models.trained import plugin_for_checkpoint

    torch.manual_seed(8)
    path = save_checkpoint(NativeNet("tiny"), tmp_path / "m.pt")
    plugin = plugin_for_checkpoint(path, context_ms=500.0, threads=None)  # window options do not apply
    assert isinstance(plugin, NativeSeparator) and not plugin.windowed and plugin.delay_samples == 128


def _si_sdr(est: np.ndarray, ref: np.ndarray) -> float:
    ref, est = ref.ravel().astype(np.float64), est.ravel().astype(np.float64)
    target = np.dot(est, ref) / np.dot(ref, ref) * ref
    return float(10 * np.log10(np.sum(target**2) / np.sum((est - target) ** 2)))


@pytest.mark.skipif(not any(WEIGHTS_DIR.glob("*.pt")), reason="no trained weights ship")
def test_shipped_weights_load_by_default_and_separate_through_the_engine():
    """`-m native` with no --checkpoint plays the shipped weights, and they are a separator:
    on a held-out speech + sound-effects mixture the isolated speech is better than the
    mixture itself (the model card measures about +7 dB; random weights give about 0)."""
    from seplive.data import heldout_set

    plugin = registry.create("native")
    info = plugin.model.checkpoint_info
    assert info["architecture"] == "native" and info["step"] > 0
    ex = heldout_set("speech_sfx", n=1, seconds=3.0)[0]
    eng = Engine(plugin, isolate("speech"), EngineConfig(source_rate=48000, channels=2))
    y = process_array(eng, ex.mixture.T.copy())
    speech = ex.targets[ex.prompts.index("speech")].T
    skip = 24000  # the first half second: the recurrent state settles
    gain = _si_sdr(y[skip:], speech[skip:]) - _si_sdr(ex.mixture.T[skip:], speech[skip:])
    assert gain > 3.0, gain
