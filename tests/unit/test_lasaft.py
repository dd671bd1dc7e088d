"""LaSAFT-Net-v2: blocks, network structure against the reference manifest, attention."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from seplive.models.lasaft import (  # noqa: E402
    PRESETS,
    TDF,
    TFC,
    TFCTDF,
    TINY,
    GPoCM,
    GPoCMLaSAFTBlock,
    LasaftNet,
    TFCLaSAFT,
    WeightNormLinear,
    build_model,
    pointwise_conv,
)

MANIFEST = Path("/work/shared/reference/lasaft/lasaft_manifest.json")


def _manifest() -> dict:
    if not MANIFEST.is_file():
        pytest.skip("reference manifest not available")
    return json.loads(MANIFEST.read_text())


# -- structure = file format --------------------------------------------------------------
@pytest.mark.parametrize("name", ["v2_light", "v2_large"])
def test_state_dict_matches_manifest(name):
    """A random model of each preset has exactly the manifest's keys, shapes and dtypes."""
    ref = _manifest()[name]
    net = build_model(PRESETS[name])
    mine = {k: (list(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in net.state_dict().items()}
    theirs = {e["key"]: (e["shape"], e["dtype"]) for e in ref["state_dict"]}
    assert sorted(mine) == sorted(theirs)
    assert mine == theirs
    assert len(mine) == ref["state_dict_entries"]
    assert sum(v.numel() for v in net.state_dict().values()) == ref["state_dict_numel"]
    assert sum(p.numel() for p in net.parameters()) == ref["trainable_parameters"]


@pytest.mark.parametrize("name", ["v2_light", "v2_large"])
def test_preset_matches_manifest_configuration(name):
    conf = _manifest()[name]["model_conf"]
    cfg = PRESETS[name]
    s2s, blk = conf["spec2spec"], conf["spec2spec"]["mk_block_f"]
    assert (cfg.n_fft, cfg.hop_length, cfg.train_frames) == (conf["n_fft"], conf["hop_length"], conf["num_frame"])
    assert (cfg.channels, cfg.n_blocks, cfg.tfc_layers) == (
        s2s["internal_channels"],
        s2s["n_blocks"],
        s2s["n_internal_layers"],
    )
    assert (cfg.n_latent, cfg.dk, cfg.embedding_dim) == (blk["num_tdfs"], blk["dk"], s2s["embedding_dim"])
    assert (cfg.bn_factor, cfg.min_bn_units, cfg.tdf_bias) == (blk["bn_factor"], blk["min_bn_units"], blk["bias"])
    assert cfg.activation == blk["activation"] == s2s["first_conv_activation"]
    assert (cfg.query_listen, cfg.key_listen) == (blk["query_listen"], blk["key_listen"])


def test_training_window_shapes():
    """130048 samples -> 128 frames x 1025 bins into the U-Net, same shape out (manifest io)."""
    io = _manifest()["v2_light"]["io"]
    net = build_model(TINY.replace(n_fft=2048, hop_length=1024))
    wave = torch.zeros(1, 2, io["training_window_samples"])
    spec = net.stft.to_spec(wave)
    assert list(spec.shape) == io["spec_into_spec2spec"]


# -- blocks -------------------------------------------------------------------------------
def test_tfc_is_densely_connected():
    tfc = TFC(in_channels=5, growth=3, layers=4).eval()
    assert [layer[0].in_channels for layer in tfc.H] == [5, 8, 11, 14]
    x = torch.randn(2, 5, 6, 16)
    with torch.no_grad():
        y = tfc(x)
        # layer k sees (out_{k-1}, ..., out_0, x)
        o0 = tfc.H[0](x)
        o1 = tfc.H[1](torch.cat((o0, x), 1))
        o2 = tfc.H[2](torch.cat((o1, o0, x), 1))
        o3 = tfc.H[3](torch.cat((o2, o1, o0, x), 1))
    assert y.shape == (2, 3, 6, 16)
    torch.testing.assert_close(y, o3)


def test_tdf_and_tfctdf_shapes_and_residual():
    tdf = TDF(channels=4, f=32, hidden=8).eval()
    assert tdf.tdf[0].weight.shape == (8, 32) and tdf.tdf[3].weight.shape == (32, 8)
    assert tdf.tdf[0].bias is None
    block = TFCTDF(in_channels=4, growth=4, f=32, hidden=8, layers=2).eval()
    x = torch.randn(1, 4, 5, 32)
    with torch.no_grad():
        y = block(x)
        t = block.tfc(x)
        torch.testing.assert_close(y, t + block.tdf(t))
    assert y.shape == (1, 4, 5, 32)


def test_weight_norm_linear():
    lin = WeightNormLinear(6, 3)
    with torch.no_grad():
        lin.weight_g.copy_(torch.tensor([[2.0], [0.5], [-1.0]]))
    w = lin.weight
    torch.testing.assert_close(w.norm(dim=1), torch.tensor([2.0, 0.5, 1.0]))
    x = torch.randn(4, 6)
    torch.testing.assert_close(lin(x), x @ w.T + lin.bias)
    assert {k: tuple(v.shape) for k, v in lin.state_dict().items()} == {
        "weight_v": (3, 6),
        "weight_g": (3, 1),
        "bias": (3,),
    }


def test_pointwise_conv_equals_conv2d():
    x = torch.randn(3, 4, 5, 7)
    w = torch.randn(3, 4, 2)
    b = torch.randn(3, 2)
    y = pointwise_conv(x, w, b)
    for i in range(3):
        ref = F.conv2d(x[i : i + 1], w[i].T[:, :, None, None], b[i])
        torch.testing.assert_close(y[i : i + 1], ref, rtol=1e-5, atol=1e-5)


def test_gpocm_gate():
    gp = GPoCM(channels=3, condition_dim=5).eval()
    assert gp[2].weight_v.shape == (3 * 3 + 3, 5)
    x = torch.randn(2, 3, 4, 6)
    c = torch.randn(2, 5)
    with torch.no_grad():
        w = gp.generate(c)
        gate = torch.sigmoid(pointwise_conv(x, w[:, :9].reshape(2, 3, 3), w[:, 9:]))
        torch.testing.assert_close(gp(x, c), x * gate)
        # a generator that emits zeros gates everything by one half
        gp[2].weight_g.zero_()
        gp[2].bias.zero_()
        torch.testing.assert_close(gp(x, c), 0.5 * x)


def _halves_input(c: int, t: int, f: int, seed: int = 0) -> torch.Tensor:
    """(1, c, t, f): frames [0, t/2) all equal one random frame, [t/2, t) another."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(1, c, 1, f, generator=g)
    b = 3.0 * torch.randn(1, c, 1, f, generator=g)
    return torch.cat((a.expand(-1, -1, t // 2, -1), b.expand(-1, -1, t - t // 2, -1)), dim=2).contiguous()


def _lasaft(query_listen: bool, key_listen: bool) -> TFCLaSAFT:
    torch.manual_seed(0)
    blk = TFCLaSAFT(
        in_channels=6, channels=6, f=32, hidden=4, condition_dim=8, n_latent=5, dk=8, layers=2,
        query_listen=query_listen, key_listen=key_listen,
    )  # fmt: skip
    return blk.eval()


@pytest.mark.parametrize("listen", [(True, True), (True, False), (False, True)], ids=["qk", "q", "k"])
def test_listening_attention_varies_per_frame(listen):
    """Content that changes halfway: attention is constant within each half, differs between them."""
    blk = _lasaft(*listen)
    x = _halves_input(6, 8, 32)
    c = torch.randn(1, 8)
    with torch.no_grad():
        att = blk.attention(x, c)
    assert att.shape == (1, 8, 5)
    torch.testing.assert_close(att.sum(-1), torch.ones(1, 8))
    torch.testing.assert_close(att[:, :4], att[:, :1].expand(-1, 4, -1))  # per-frame: same frame, same weights
    torch.testing.assert_close(att[:, 4:], att[:, 4:5].expand(-1, 4, -1))
    assert (att[0, 0] - att[0, 7]).abs().max() > 1e-3


def test_original_lasaft_attention_is_frame_independent():
    """Listening disabled (original LaSAFT): one attention vector for every frame, any input."""
    blk = _lasaft(False, False)
    assert not blk.listening and isinstance(blk.keys, torch.nn.Parameter)
    assert blk.keys.shape == (1, 1, 8, 5) and "query_pocm_generator.0.weight_v" not in blk.state_dict()
    x = torch.randn(2, 6, 8, 32)
    c = torch.randn(2, 8)
    with torch.no_grad():
        att = blk.attention(x, c)
        att_other = blk.attention(_halves_input(6, 8, 32).expand(2, -1, -1, -1), c)
    assert att.shape == (2, 8, 5)
    torch.testing.assert_close(att, att[:, :1].expand(-1, 8, -1))
    torch.testing.assert_close(att, att_other)  # depends on the condition only
    assert (att[0] - att[1]).abs().max() > 1e-4  # ... which it does depend on


def test_decoder_block_is_gpocm_plus_lasaft():
    torch.manual_seed(1)
    blk = GPoCMLaSAFTBlock(12, 6, 32, 4, 8, n_latent=5, dk=8, layers=2).eval()
    x = torch.randn(2, 12, 4, 32)
    c = torch.randn(2, 8)
    with torch.no_grad():
        y, att = blk(x, c)
        g = blk.pocm_generator(blk.tfc_lightsaft.tfc(x), c)
        torch.testing.assert_close(y, g + blk.tfc_lightsaft.lasaft(g, c)[0])
    assert y.shape == (2, 6, 4, 32) and att.shape == (2, 4, 5)


# -- whole network ------------------------------------------------------------------------
def _changing_wave(n: int, seed: int = 0) -> torch.Tensor:
    """(1, 2, n): a low tone in the first half, loud noise in the second."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(n) / 44100.0
    first = 0.3 * torch.sin(2 * torch.pi * 220.0 * t)
    second = torch.randn(n, generator=g)
    w = torch.where(torch.arange(n) < n // 2, first, second)
    return torch.stack((w, 0.8 * w))[None]


@pytest.mark.parametrize("listen", [True, False], ids=["enhanced", "original"])
def test_network_attention_per_frame(listen):
    cfg = TINY.replace(query_listen=listen, key_listen=listen)
    net = build_model(cfg)
    n = net.valid_length(31 * 128)  # 32 frames
    wave = _changing_wave(n)
    cond = net.spec2spec.embedding.weight[:2]
    with torch.inference_mode():
        stems, atts = net.separate_multi(wave, cond, with_attention=True)
    assert stems.shape == (2, 1, 2, n) and torch.isfinite(stems).all()
    assert [a.shape for a in atts] == [(2, 1, 16, 4), (2, 1, 32, 4)]
    for a in atts:
        t = a.shape[2]
        first, second = a[:, :, : t // 4], a[:, :, -t // 4 :]
        if listen:
            assert (first.mean(2) - second.mean(2)).abs().max() > 1e-3
        else:
            torch.testing.assert_close(a, a[:, :, :1].expand_as(a))


def test_separate_multi_batches_prompts_like_single_calls():
    net = build_model(TINY)
    n = net.valid_length(2000)
    wave = torch.randn(2, 2, n) * 0.1
    emb = net.spec2spec.embedding.weight
    with torch.inference_mode():
        both, _ = net.separate_multi(wave, emb[[0, 3]])
        only3, _ = net.separate_multi(wave[1:], emb[[3]])
        spec_path = net.stft.to_wave(net(net.stft.to_spec(wave[1:]), torch.tensor([3])), n)
    torch.testing.assert_close(both[1, 1:], only3[0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(only3[0], spec_path, rtol=1e-4, atol=1e-5)


def test_frame_multiple_is_enforced_and_valid_length():
    net = build_model(TINY)  # 2 levels -> multiples of 4 frames, hop 128
    for n in (1, 127, 128, 383, 384, 385, 5000):
        full = net.valid_length(n)
        assert full >= n and (full // 128 + 1) % 4 == 0 and full % 128 == 0
    with pytest.raises(ValueError, match="multiple of 4"):
        net.separate_multi(torch.zeros(1, 2, 128 * 5), net.spec2spec.embedding.weight[:1])


def test_stft_roundtrip_and_channel_layout():
    net = LasaftNet(TINY)
    wave = torch.randn(1, 2, 128 * 15)
    spec = net.stft.to_spec(wave)
    assert spec.shape == (1, 4, 16, 129)
    ref = torch.stft(wave[0, 1], 256, 128, window=torch.hann_window(256), return_complex=True)
    torch.testing.assert_close(spec[0, 1], ref.real.T)  # re R
    torch.testing.assert_close(spec[0, 3], ref.imag.T)  # im R
    torch.testing.assert_close(net.stft.to_wave(spec, wave.shape[-1]), wave, rtol=1e-4, atol=1e-5)


def test_random_model_output_is_finite_on_silence_and_loud_input():
    net = build_model(TINY)
    n = net.valid_length(1000)
    with torch.inference_mode():
        for wave in (torch.zeros(1, 2, n), torch.ones(1, 2, n), 10 * torch.randn(1, 2, n)):
            out = net.separate(wave, ["vocals", "other"])
            assert out.shape == (2, 1, 2, n) and torch.isfinite(out).all()
    assert np.isfinite(out.numpy()).all()
