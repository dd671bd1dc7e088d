"""LaSAFT-Net-v2 streaming adapter: plugin contract, awkward sizes, audio query, attention export."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from seplive.models.base import Separator, SeparatorError, StreamSpec  # noqa: E402
from seplive.models.lasaft import TINY, LasaftSeparator, QueryEncoder, build_model  # noqa: E402
from seplive.models.lasaft.query import prepare_clip  # noqa: E402

LABELS = ("vocals", "drums", "bass", "other")


def _window(groups: int, n: int, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal((groups, 2, n))).astype(np.float32)


def _spec(hop: int, rate: int = 44100) -> StreamSpec:
    return StreamSpec(rate=rate, channels=2, hop_samples=hop)


@pytest.fixture(scope="module")
def light():
    """The default plugin: a random v2_light (no checkpoint)."""
    return LasaftSeparator(context_ms=100.0)


@pytest.fixture
def tiny():
    return LasaftSeparator(model=build_model(TINY), context_ms=20.0)


def test_contract_and_random_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="seplive.models.lasaft"):
        sep = LasaftSeparator()
    assert "RANDOMLY INITIALISED" in caplog.text and sep.random_weights
    assert isinstance(sep, Separator)
    assert (sep.name, sep.sample_rate, sep.channels, sep.windowed) == ("lasaft", 44100, 2, True)
    assert sep.prompts == LABELS
    assert (sep.hop_multiple, sep.default_hop_samples) == (1024, 4096)
    assert (sep.lookahead_samples, sep.delay_samples) == (0, 0)
    # ~1 s of context on the STFT grid: with the default hop the window is 48 frames
    assert sep.context_samples == 43 * 1024
    assert ((sep.context_samples + sep.default_hop_samples) // 1024 + 1) % 8 == 0
    assert sep.model.cfg.n_fft == 2048 and sep.model.cfg.n_latent == 12
    with pytest.raises(SeparatorError, match="multiple of 1024"):
        sep.configure(_spec(1000))
    # a 48 kHz stream: the plugin answers its own rate (the engine resamples)
    assert sep.configure(_spec(1024, rate=48000)).rate == 44100
    sep.configure(_spec(4096))
    assert sep.hop_samples == 4096


def test_v2_light_window(light):
    light.configure(_spec(1024))
    n = light.context_samples + 1024
    out = light.process(_window(1, n), ["vocals", "drums", "bass", "other"])
    assert out.shape == (4, 1, 2, n) and out.dtype == np.float32 and np.isfinite(out).all()
    with pytest.raises(SeparatorError, match="no prompt 'piano'"):
        light.process(_window(1, n), ["piano"])


@pytest.mark.parametrize("n", [1, 100, 127, 128, 129, 1000, 3 * 128 + 5, 5000, 12345])
def test_awkward_window_sizes(tiny, n):
    """Any window length works: padded on the past side to the U-Net's frame multiple."""
    out = tiny.process(_window(2, n), ["bass", "vocals"])
    assert out.shape == (2, 2, 2, n) and out.dtype == np.float32 and np.isfinite(out).all()


def test_awkward_sizes_v2_light(light):
    for n in (1000, 1025, 7 * 1024 + 3):
        out = light.process(_window(1, n), ["other"])
        assert out.shape == (1, 1, 2, n) and np.isfinite(out).all()


def test_lookahead_trims_output():
    sep = LasaftSeparator(model=build_model(TINY), context_ms=10.0, lookahead_ms=1.0)
    assert sep.lookahead_samples == 128  # rounded up to the STFT hop
    n = sep.context_samples + 256 + sep.lookahead_samples
    out = sep.process(_window(1, n), ["drums"])
    assert out.shape == (1, 1, 2, n - 128)
    assert sep.process(_window(1, 100), ["drums"]).shape == (1, 1, 2, 0)


def test_prompts_batched_equal_single_calls(tiny):
    w = _window(2, 2000, seed=3)
    together = tiny.process(w, ["other", "vocals", "bass"])
    np.testing.assert_allclose(together[1], tiny.process(w, ["vocals"])[0], rtol=1e-4, atol=1e-6)
    # groups are independent stereo pairs
    np.testing.assert_allclose(together[:, 1:], tiny.process(w[1:], ["other", "vocals", "bass"]), rtol=1e-4, atol=1e-6)
    assert tiny.process(w, []).shape == (0, 2, 2, 2000)


def test_window_content_matters_and_mono_window(tiny):
    a = tiny.process(_window(1, 1500, seed=1), ["vocals"])
    b = tiny.process(_window(1, 1500, seed=2), ["vocals"])
    assert not np.allclose(a, b)
    mono = tiny.process(_window(1, 1500)[:, :1], ["vocals"])
    assert mono.shape == (1, 1, 2, 1500)
    with pytest.raises(SeparatorError, match="groups, 2, samples"):
        tiny.process(np.zeros((2, 1500), np.float32), ["vocals"])


def test_registry_and_checkpoint_option(tmp_path):
    from seplive.models import registry

    net = build_model(TINY, seed=5)
    torch.save({"state_dict": net.state_dict()}, tmp_path / "tiny.ckpt")
    sep = registry.create("lasaft", checkpoint=str(tmp_path / "tiny.ckpt"), context_ms=10.0)
    assert isinstance(sep, LasaftSeparator) and not sep.random_weights
    assert sep.hop_multiple == 128
    ref = LasaftSeparator(model=net, context_ms=10.0)
    w = _window(1, 900)
    np.testing.assert_allclose(sep.process(w, ["drums"]), ref.process(w, ["drums"]), rtol=1e-5, atol=1e-6)
    with pytest.raises(SeparatorError, match="no such checkpoint"):
        LasaftSeparator(checkpoint=tmp_path / "missing.ckpt")
    with pytest.raises(SeparatorError, match="unknown LaSAFT preset"):
        LasaftSeparator(config="v3")


# -- audio query ----------------------------------------------------------------------------
def test_prepare_clip_layouts_and_level():
    rng = np.random.default_rng(0)
    mono = rng.standard_normal(4410).astype(np.float32)
    a = prepare_clip(mono)
    assert a.shape == (2, 4410) and np.allclose(a[0], a[1])
    np.testing.assert_allclose(prepare_clip(np.stack([mono, mono], 1)), a, rtol=1e-6)  # (N, ch)
    np.testing.assert_allclose(prepare_clip(mono[None]), a, rtol=1e-6)  # (1, N)
    np.testing.assert_allclose(prepare_clip(10 * mono), a, rtol=1e-5)  # level-normalised
    assert prepare_clip(mono, sample_rate=22050).shape == (2, 8820)  # resampled to 44.1 kHz
    with pytest.raises(SeparatorError, match="empty"):
        prepare_clip(np.zeros(0, np.float32))


def test_query_encoder_vector():
    net = build_model(TINY)
    enc = QueryEncoder.for_model(net).eval()
    t = np.arange(8000) / 44100.0
    v1 = enc.encode(net, np.sin(2 * np.pi * 440 * t).astype(np.float32))
    v2 = enc.encode(net, np.random.default_rng(0).standard_normal(8000).astype(np.float32))
    assert v1.shape == (TINY.embedding_dim,) and torch.isfinite(v1).all()
    assert not torch.allclose(v1, v2)


def test_query_end_to_end_v2_light(tmp_path, caplog):
    """query="clip.wav" (mono, 22.05 kHz) adds the prompt "query"; random model, all runs."""
    sf = pytest.importorskip("soundfile")
    t = np.arange(22050) / 22050.0
    sf.write(tmp_path / "clip.wav", (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), 22050)
    with caplog.at_level(logging.WARNING, logger="seplive.models.lasaft"):
        sep = LasaftSeparator(context_ms=50.0, query=str(tmp_path / "clip.wav"))
    assert "untrained" in caplog.text
    assert sep.prompts == LABELS + ("query",)
    sep.configure(_spec(1024))
    n = sep.context_samples + 1024
    w = _window(1, n)
    out = sep.process(w, ["query", "vocals"])
    assert out.shape == (2, 1, 2, n) and out.dtype == np.float32 and np.isfinite(out).all()
    assert not np.allclose(out[0], out[1])  # the query conditions differently from a label
    np.testing.assert_allclose(out[1], sep.process(w, ["vocals"])[0], rtol=1e-4, atol=1e-6)


def test_query_without_clip_is_unknown(tiny):
    with pytest.raises(SeparatorError, match="no prompt 'query'"):
        tiny.process(_window(1, 500), ["query"])


def test_query_from_array_and_trained_head(tmp_path):
    net = build_model(TINY)
    head = QueryEncoder.for_model(net)
    torch.save(head.state_dict(), tmp_path / "head.pt")
    clip = np.random.default_rng(1).standard_normal((2, 3000)).astype(np.float32)
    sep = LasaftSeparator(model=net, context_ms=10.0, query=clip, query_encoder=tmp_path / "head.pt")
    expected = head.eval().encode(net, clip)
    torch.testing.assert_close(sep._query_vec, expected)
    assert sep.process(_window(1, 700), ["query"]).shape == (1, 1, 2, 700)
    torch.save({"head.0.weight": torch.zeros(1)}, tmp_path / "bad.pt")
    with pytest.raises(SeparatorError, match="does not match"):
        LasaftSeparator(model=net, query=clip, query_encoder=tmp_path / "bad.pt")


# -- attention export ---------------------------------------------------------------------
def test_attention_export(tmp_path):
    out = tmp_path / "att" / "weights.npy"
    sep = LasaftSeparator(model=build_model(TINY), context_ms=20.0, attention_out=out)
    hop = 256
    sep.configure(_spec(hop))
    n = sep.context_samples + hop
    for i in range(3):
        sep.process(_window(1, n, seed=i), ["vocals", "bass"])
    sep.process(_window(1, n, seed=9), ["bass"])  # vocals absent in this call -> NaN
    arr, order = sep.attention()
    assert order == ["vocals", "bass"]
    n_frames = 4 * hop // 128
    assert arr.shape == (2, 1, n_frames, TINY.n_levels, TINY.n_latent)
    sep.close()
    saved = np.load(out)
    np.testing.assert_array_equal(saved, arr)
    np.testing.assert_allclose(saved[1].sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(saved[0, :, : 3 * hop // 128].sum(-1), 1.0, rtol=1e-5)
    assert np.isnan(saved[0, :, 3 * hop // 128 :]).all()
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["prompts"] == ["vocals", "bass"] and meta["shape"] == list(arr.shape)
    assert meta["layout"] == ["prompt", "group", "frame", "decoder_block", "latent_source"]
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert not out.with_suffix(".png").exists()
    else:
        assert out.with_suffix(".png").stat().st_size > 0


def test_attention_requires_recording(tiny):
    assert tiny.save_attention() is None
    with pytest.raises(SeparatorError, match="attention_out"):
        tiny.attention()


def test_v2_large_through_the_adapter():
    sep = LasaftSeparator(config="v2_large", context_ms=50.0)
    assert sep.model.cfg.n_fft == 4096 and sep.model.cfg.frame_multiple == 16
    assert sep.hop_multiple == 1024
    sep.configure(_spec(1024))
    n = sep.context_samples + 1024
    out = sep.process(_window(1, n), ["bass", "drums"])
    assert out.shape == (2, 1, 2, n) and np.isfinite(out).all()


def test_unusable_device_is_a_clear_error():
    with pytest.raises(SeparatorError, match="cannot use device 'no-such-device'"):
        LasaftSeparator(model=build_model(TINY), device="no-such-device")
