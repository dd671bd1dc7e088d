"""The native network: low-latency STFT, causal full forward == streaming, prompts."""

import numpy as np
import pytest
import torch

from seplive.models.native import ConfigError, NativeNet, make_config
from seplive.models.native.model import repeat_index
from seplive.models.native.stft import AsymmetricStft, asymmetric_windows
from seplive.models.prompts import PROMPTS

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize(("n_fft", "synth", "hop"), [(1024, 384, 128), (512, 512, 128), (1024, 256, 128)])
def test_asymmetric_windows_overlap_add_to_one(n_fft, synth, hop):
    a, s = asymmetric_windows(n_fft, synth, hop)
    prod = (a * s).numpy()
    assert np.all(prod[: n_fft - synth] == 0)  # the synthesis window is short
    total = np.zeros(8 * n_fft)
    for start in range(0, 7 * n_fft, hop):  # frames every hop: constant where they all overlap
        total[start : start + n_fft] += prod
    np.testing.assert_allclose(total[n_fft : 6 * n_fft], 1.0, atol=1e-12)
    if synth == n_fft:  # the symmetric case is the familiar sqrt-Hann pair
        np.testing.assert_allclose(a.numpy(), s.numpy() * n_fft / (2 * hop), atol=1e-12)


def test_stft_gives_the_input_back_delayed_by_synthesis_window_minus_hop():
    st = AsymmetricStft(1024, 128, 384)
    x = torch.randn(2, 3, 128 * 40)
    y = st.synthesise(st.analyse(x))
    d = st.delay_samples
    assert d == 256
    torch.testing.assert_close(y[..., d:], x[..., :-d], atol=1e-5, rtol=0)
    assert (y[..., d - 1 : -1] - x[..., :-d]).abs().max() > 0.1  # one sample off is far off


def test_unit_mask_network_is_a_pure_delay():
    net = NativeNet("tiny")
    net.unit_mask = True
    x = torch.randn(1, 2, 5000)
    ids = torch.tensor([[3, 0]])
    with torch.no_grad():
        causal = net.forward_causal(x, ids)
        aligned = net(x, ids)
    d = net.delay_samples
    torch.testing.assert_close(causal[0, 1, :, d:], x[0, :, :-d], atol=1e-5, rtol=0)
    torch.testing.assert_close(aligned[0, 0], x[0], atol=1e-5, rtol=0)


def test_forward_is_causal_and_aligned_with_the_causal_output():
    torch.manual_seed(0)
    net = NativeNet("tiny").eval()
    x = 0.1 * torch.randn(2, 2, 6000)
    ids = torch.tensor([[0, 5], [3, 3]])
    with torch.no_grad():
        a = net.forward_causal(x, ids)
        x2 = x.clone()
        x2[..., 4096:] = torch.randn_like(x2[..., 4096:])  # change the future from a frame boundary on
        b = net.forward_causal(x2, ids)
        aligned = net(x, ids)
    torch.testing.assert_close(a[..., :4096], b[..., :4096], atol=1e-6, rtol=0)
    assert (a[..., 4096:] - b[..., 4096:]).abs().max() > 1e-3
    d = net.delay_samples
    torch.testing.assert_close(aligned[..., : 6000 - d], a[..., d:], atol=1e-6, rtol=0)
    assert aligned.shape == (2, 2, 2, 6000)


def test_padding_slots_are_zero_and_repeats_differ():
    torch.manual_seed(1)
    net = NativeNet("tiny").eval()
    x = 0.1 * torch.randn(1, 2, 2048)
    with torch.no_grad():
        y = net(x, torch.tensor([[4, 4, -1]]))
        alone = net(x, torch.tensor([[4]]))
    assert y[0, 2].abs().max() == 0
    assert (y[0, 0] - y[0, 1]).abs().max() > 1e-5  # a repeated prompt is another slot
    torch.testing.assert_close(y[0, 0], alone[0, 0], atol=1e-6, rtol=0)  # slots do not interact
    assert repeat_index(torch.tensor([0, 3, 0, 0, 3])).tolist() == [0, 0, 1, 2, 1]


@pytest.mark.parametrize("traced", [False, True], ids=["eager", "traced"])
@pytest.mark.parametrize(("preset", "synthesis_window"), [("tiny", 256), ("small", 256), ("tiny", 384), ("tiny", 512)])
def test_streaming_equals_the_full_causal_forward_across_prompt_switches(preset, synthesis_window, traced):
    """Hops of 1-3 STFT frames, prompt sets changing (joins, leaves, repeats, the same
    prompts in another order): every hop's
    output equals the same samples of the full-sequence causal forward of its prompts
    (longer synthesis windows: joining prompts rebuild tails from more kept frames).  The
    same through the traced kernels, which were traced at another batch size (1), frame
    count (3) and prompt count (1) than most of these hops use."""
    torch.manual_seed(2)
    net = NativeNet(make_config(preset, synthesis_window=synthesis_window)).eval()
    kernels = net.traced_kernels() if traced else None
    assert (kernels is not None) == traced
    hop = net.cfg.hop
    plan = [(2, (0, 3)), (1, (0, 3)), (3, (0, 3)), (2, (3, 5, 5)), (2, (3, 5, 5)), (2, (5, 3)), (1, (3,)),
            (1, (5, 3, 5)), (1, (7,)), (2, (0, 7)), (3, (5, 1)), (2, ()), (2, (5, 1)), (1, (6,)),
            (2, (2, 4, 6))]  # fmt: skip
    total = sum(k for k, _ in plan) * hop
    x = 0.2 * torch.randn(2, 2, total)
    refs = {}
    with torch.no_grad():
        for _, ids in plan:
            if ids and ids not in refs:
                refs[ids] = net.forward_causal(x, torch.tensor([ids, ids]))
        state = net.init_state(2)
        pos, worst = 0, 0.0
        for k, ids in plan:
            out, state = net.step(x[..., pos : pos + k * hop], ids, state, kernels)
            if ids:
                ref = refs[ids][..., pos : pos + k * hop]
                worst = max(worst, float((out - ref).abs().max()))
            else:  # a hop with no prompt still advances the stream
                assert out.shape == (2, 0, 2, k * hop)
            pos += k * hop
    assert worst <= 1e-4, worst


def test_traced_kernels_are_kept_until_the_weights_change():
    """The traces hold the weights they were made from: asked again with the same weights,
    the same traces come back (a plugin per example costs one trace); after an optimiser-like
    in-place change, new traces that follow the new weights."""
    torch.manual_seed(3)
    net = NativeNet("tiny").eval()
    first = net.traced_kernels()
    assert first is not None and net.traced_kernels() is first
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(1.5)
    again = net.traced_kernels()
    assert again is not first
    x = 0.2 * torch.randn(1, 2, 3 * net.cfg.hop)
    with torch.no_grad():
        eager, _ = net.step(x, (2, 5), net.init_state(1))
        traced, _ = net.step(x, (2, 5), net.init_state(1), again)
        stale, _ = net.step(x, (2, 5), net.init_state(1), first)
    torch.testing.assert_close(traced, eager, atol=1e-6, rtol=0)
    assert (stale - eager).abs().max() > 1e-3  # the old traces were the old weights


def test_step_refuses_a_hop_that_is_not_whole_frames():
    net = NativeNet("tiny")
    with pytest.raises(ValueError, match="k \\* 128"):
        net.step(torch.zeros(1, 2, 100), (0,), net.init_state(1))


def test_configs_are_json_data_and_validated():
    import json

    cfg = make_config("small")
    assert make_config(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert cfg.prompts == PROMPTS and cfg.sample_rate == 48000
    assert cfg.algorithmic_latency_samples / cfg.sample_rate * 1000 <= 12.0
    with pytest.raises(ConfigError, match="unknown key 'dims'"):
        make_config("tiny", dims=3)
    with pytest.raises(ConfigError, match="bands cover"):
        make_config("tiny", bands=[[4, 10]])
    with pytest.raises(ConfigError, match="synthesis_window"):
        make_config("tiny", synthesis_window=200)
    with pytest.raises(ConfigError, match="unknown config"):
        make_config("huge")


def test_small_fits_the_size_budget():
    net = NativeNet("small")
    n = net.parameter_count()
    assert 3e5 < n and 4 * n < 20e6  # float32 weights under 20 MB


def test_the_network_learns_a_fixed_example():
    """A few Adam steps on one mixture (a tone in noise, prompt 'vocals' -> the tone) raise
    the SNR of the aligned training output: gradients reach every part that matters."""
    torch.manual_seed(3)
    net = NativeNet("tiny")
    t = torch.arange(24000) / 48000
    tone = 0.3 * torch.sin(2 * torch.pi * 440 * t).expand(1, 2, -1)
    mix = tone + 0.3 * torch.randn(1, 2, 24000)
    ids = torch.tensor([[PROMPTS.index("vocals")]])
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)

    def snr_db() -> torch.Tensor:
        est = net(mix, ids)[:, 0]
        return 10 * torch.log10(tone.square().sum() / (tone - est).square().sum())

    with torch.no_grad():
        first = float(snr_db())
    for _ in range(30):
        opt.zero_grad()
        (-snr_db()).backward()
        opt.step()
    with torch.no_grad():
        last = float(snr_db())
    assert last > first + 3.0, (first, last)


def test_the_trainer_builds_and_reloads_it(tmp_path):
    from seplive.models.architectures import ArchitectureError, build
    from seplive.models.native import load_checkpoint
    from seplive.models.weights import save_weights

    net = build("native", {"preset": "tiny", "dim": 8, "heads": 2}, sample_rate=44100, channels=1)
    assert net.cfg.sample_rate == 44100 and net.cfg.channels == 1 and net.cfg.dim == 8
    side = {"architecture": "native", "config": {"model": {"architecture": "native", "options": {"preset": "tiny", "dim": 8}}},
            "data": {"sample_rate": 44100, "channels": 1}}  # fmt: skip
    path = save_weights(tmp_path / "m.pt", net, side)
    again = load_checkpoint(path)
    assert again.cfg == net.cfg
    with pytest.raises((ArchitectureError, ValueError), match="unknown key 'dimm'"):
        build("native", {"dimm": 3})
