"""The TUSS streaming adapter: plugin contract, prompt completion and streaming mechanics,
with a random model of the tiny configuration (fast)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from seplive.models import registry
from seplive.models.base import Separator, SeparatorError, StreamSpec
from seplive.models.tuss import PROMPTS, TussConfig, TussModel, TussSeparator, complete_prompts
from tests.support.paths import DATA as TEST_DATA

DATA = TEST_DATA / "tuss_tiny"
RATE = 48000
HOP = 2048


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_torch_thread):
    """Small tensors: one torch thread is faster and steadier here (see conftest)."""


@pytest.fixture(scope="module")
def model() -> TussModel:
    conf = json.loads((DATA / "config.json").read_text())
    torch.manual_seed(7)
    return TussModel(TussConfig.from_hparams(conf["model_conf"], conf["encoder_conf"])).eval()


@pytest.fixture(scope="module")
def signal() -> np.ndarray:
    """2.5 s of tones + bursts of noise, mono float32."""
    rng = np.random.default_rng(3)
    t = np.arange(int(2.5 * RATE)) / RATE
    x = 0.1 * np.sin(2 * np.pi * 220 * t) + 0.05 * np.sin(2 * np.pi * 3100 * t)
    x += 0.05 * rng.standard_normal(len(t)) * (np.sin(2 * np.pi * 1.5 * t) > 0.3)
    return x.astype(np.float32)


def offline(model: TussModel, window: np.ndarray, prompts: list[str]) -> np.ndarray:
    """The model on ``window`` (groups, 1, n) -> (S, groups, 1, n), groups run one by one."""
    outs = []
    with torch.inference_mode():
        for g in range(window.shape[0]):
            y = model(torch.from_numpy(window[g : g + 1, 0].copy()), [prompts])  # (1, S, >= n)
            outs.append(y[0, :, : window.shape[-1]].numpy())
    return np.stack(outs, axis=1)[:, :, None, :]


# -- contract ------------------------------------------------------------------------------


def test_contract_attributes(model: TussModel) -> None:
    sep = registry.create("tuss", model=model)
    assert isinstance(sep, Separator) and isinstance(sep, TussSeparator)
    assert (sep.name, sep.sample_rate, sep.channels, sep.windowed) == ("tuss", 48000, 1, True)
    assert sep.prompts == PROMPTS == ("speech", "sfx", "sfxbg", "drums", "bass", "vocals", "other", "musicbg")
    assert sep.hop_multiple == 512 and sep.default_hop_samples == 2048
    assert sep.context_samples == 96256  # 2 s on the 512 grid
    assert sep.lookahead_samples == 0 and sep.delay_samples == 0
    assert sep.device == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.parametrize("ms, samples", [(1000, 48128), (2000, 96256), (6000, 288256), (1500.5, 72192)])
def test_context_rounds_to_grid(model: TussModel, ms: float, samples: int) -> None:
    sep = TussSeparator(model=model, context_ms=ms, lookahead_ms=250)
    assert sep.context_samples == samples and samples % 512 == 0
    assert sep.lookahead_samples == 11776  # 250 ms = 23.4 STFT hops -> 23 * 512


def test_clear_errors(model: TussModel) -> None:
    with pytest.raises(SeparatorError, match=r"tuss needs --checkpoint PATH \(the published model.pth\)"):
        TussSeparator()
    with pytest.raises(SeparatorError, match="outside 1000-6000 ms"):
        TussSeparator(model=model, context_ms=500)
    with pytest.raises(SeparatorError, match="completion must be"):
        TussSeparator(model=model, completion="vocals guitar")
    with pytest.raises(SeparatorError, match="fp16 needs a CUDA device"):
        TussSeparator(model=model, device="cpu", precision="fp16")
    with pytest.raises(SeparatorError, match="not a TUSS checkpoint"):
        TussSeparator(checkpoint=DATA / "config.json")
    sep = TussSeparator(model=model, device="cpu")
    with pytest.raises(SeparatorError, match="not a multiple of 512"):
        sep.configure(StreamSpec(rate=48000, channels=1, hop_samples=1000))
    with pytest.raises(SeparatorError, match="no prompt 'guitar'"):
        sep.process(np.zeros((1, 1, sep.context_samples + HOP), np.float32), ["guitar"])


def test_checkpoint_path_loads(model: TussModel) -> None:
    sep = TussSeparator(checkpoint=str(DATA / "model.pth"), device="cpu", context_ms=1000)
    sep.configure(StreamSpec(rate=48000, channels=1, hop_samples=HOP))
    out = sep.process(np.zeros((1, 1, sep.context_samples + HOP), np.float32), ["speech"])
    assert out.shape == (1, 1, 1, sep.context_samples + HOP)


# -- prompt completion -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "asked, internal",
    [
        ("vocals", "vocals drums bass other"),
        ("drums bass", "drums bass vocals other"),
        ("vocals drums bass other", "vocals drums bass other"),
        ("speech", "speech sfxbg musicbg"),
        ("sfx", "sfx sfxbg musicbg"),
        ("speech musicbg", "speech musicbg sfxbg"),
        ("speech sfx", "speech sfx sfxbg musicbg"),
        ("musicbg", "musicbg speech sfxbg"),
        ("sfxbg musicbg", "sfxbg musicbg speech"),
        ("sfx sfx", "sfx sfx"),  # repeats: an explicit set, passed through
        ("speech vocals", "speech vocals"),  # mixed families: left alone
    ],
)
def test_auto_completion_table(asked: str, internal: str) -> None:
    assert complete_prompts(asked.split(), "auto") == tuple(internal.split())


def test_completion_none_and_custom() -> None:
    assert complete_prompts(["vocals"], "none") == ("vocals",)
    assert complete_prompts(["speech"], ("sfx", "speech", "musicbg")) == ("speech", "sfx", "musicbg")


def test_completion_returns_only_asked_stems(model: TussModel, signal: np.ndarray) -> None:
    """``vocals`` alone runs ``vocals drums bass other`` and returns the vocals row of it."""
    sep = TussSeparator(model=model, device="cpu", context_ms=1000)
    window = signal[None, None, : sep.context_samples + HOP].copy()
    got = sep.process(window, ["vocals"])
    full = offline(model, window, ["vocals", "drums", "bass", "other"])
    assert got.shape == (1, 1, 1, sep.context_samples + HOP)
    np.testing.assert_allclose(got[0], full[0], atol=1e-5)
    plain = TussSeparator(model=model, device="cpu", context_ms=1000, completion="none").process(window, ["vocals"])
    np.testing.assert_allclose(plain[0], offline(model, window, ["vocals"])[0], atol=1e-5)
    assert np.abs(plain - got).max() > 1e-4  # completion changes what the model does


# -- streaming mechanics ---------------------------------------------------------------------


def test_each_hop_equals_offline_on_its_window(model: TussModel, signal: np.ndarray) -> None:
    """Drive the adapter like the engine (stereo = 2 groups): every window's output equals the
    model's offline output on that window, and windows stay on the 512 grid."""
    sep = TussSeparator(model=model, device="cpu", context_ms=1000)
    sep.configure(StreamSpec(rate=48000, channels=1, hop_samples=HOP))
    ctx = sep.context_samples
    stereo = np.stack([signal, 0.5 * signal[::-1].copy()])[:, None, :]  # (2, 1, n)
    padded = np.concatenate([np.zeros((2, 1, ctx), np.float32), stereo], axis=-1)
    prompts = ["speech", "sfx", "sfx"]
    for k, start in enumerate(range(0, 4 * 5 * HOP, 5 * HOP)):  # 4 hops spread over the file
        window = padded[..., start : start + ctx + HOP].copy()
        before = window.copy()
        out = sep.process(window, prompts)
        assert out.shape == (3, 2, 1, ctx + HOP) and out.dtype == np.float32
        assert (start + ctx + HOP) % 512 == 0
        np.testing.assert_allclose(out, offline(model, window, prompts), atol=2e-5, err_msg=f"hop {k}")
        np.testing.assert_array_equal(window, before)


def test_lookahead_window_returns_context_plus_hop(model: TussModel, signal: np.ndarray) -> None:
    sep = TussSeparator(model=model, device="cpu", context_ms=1000, lookahead_ms=100)
    la = sep.lookahead_samples
    assert la == 4608  # 100 ms = 9.4 STFT hops -> 9 * 512
    window = signal[None, None, : sep.context_samples + HOP + la].copy()
    out = sep.process(window, ["drums", "bass"])
    assert out.shape == (2, 1, 1, sep.context_samples + HOP)
    full = offline(model, window, ["drums", "bass", "vocals", "other"])
    np.testing.assert_allclose(out, full[:2, :, :, : sep.context_samples + HOP], atol=2e-5)


def test_single_window_covering_the_file_is_one_forward_pass(model: TussModel, signal: np.ndarray) -> None:
    """With a lookahead covering the rest of a short file, the one window is the file, and
    the adapter's output is the offline separation of the whole file."""
    sep = TussSeparator(model=model, device="cpu", context_ms=1000, lookahead_ms=1000)
    n = sep.context_samples + HOP + sep.lookahead_samples
    clip = signal[:n]
    with torch.inference_mode():
        whole = model(torch.from_numpy(clip[None].copy()), [["speech", "sfxbg", "musicbg"]])[0].numpy()
    out = sep.process(clip[None, None], ["speech"])
    np.testing.assert_allclose(out[0, 0, 0], whole[0, : sep.context_samples + HOP], atol=2e-5)


def test_empty_prompts_and_silence(model: TussModel) -> None:
    sep = TussSeparator(model=model, device="cpu", context_ms=1000)
    n = sep.context_samples + HOP
    assert sep.process(np.zeros((2, 1, n), np.float32), []).shape == (0, 2, 1, n)
    out = sep.process(np.zeros((2, 1, n), np.float32), ["speech", "musicbg"])
    assert out.shape == (2, 2, 1, n) and np.all(out == 0)


def test_bf16_autocast_on_cpu_is_close(model: TussModel, signal: np.ndarray) -> None:
    """The autocast path (the GPU's bf16 mode) runs here on the CPU and stays close to fp32."""
    fp32 = TussSeparator(model=model, device="cpu", context_ms=1000)
    bf16 = TussSeparator(model=model, device="cpu", context_ms=1000, precision="bf16")
    window = signal[None, None, : fp32.context_samples + HOP].copy()
    a, b = fp32.process(window, ["speech", "sfx"]), bf16.process(window, ["speech", "sfx"])
    snr = 10 * np.log10(np.sum(a.astype(np.float64) ** 2) / np.sum((a - b).astype(np.float64) ** 2))
    assert b.dtype == np.float32 and snr > 20
