"""TUSS network and checkpoints: equivalence with the reference outputs, the published
on-disk format, configuration from shapes, and clear errors for files that are not TUSS."""

from __future__ import annotations

import json
import shutil
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from seplive.models.base import SeparatorError
from seplive.models.tuss import TussConfig, TussModel, load_official, save_official
from seplive.models.tuss.checkpoint import infer_config, official_state_dict, read_state_dict
from seplive.models.tuss.model import PROMPTS, default_bands, published_config
from tests.support.paths import DATA as TEST_DATA

DATA = TEST_DATA / "tuss_tiny"
# the published models' manifests (every state_dict key and shape, their configuration),
# copied from the shared reference data; the shared copy is used if these are absent
MANIFESTS = (DATA, Path("/work/shared/reference/tuss"))
PROMPT_SETS = ["speech sfxbg musicbg", "vocals drums bass other", "sfx sfx"]


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_torch_thread):
    """Small tensors: one torch thread is faster and steadier here (see conftest)."""


@pytest.fixture(scope="module")
def tiny() -> TussModel:
    return load_official(DATA / "model.pth")


@pytest.fixture(scope="module")
def mix() -> torch.Tensor:
    return torch.from_numpy(np.load(DATA / "input_1s_48k.npy"))


def tiny_config() -> TussConfig:
    conf = json.loads((DATA / "config.json").read_text())
    return TussConfig.from_hparams(conf["model_conf"], conf["encoder_conf"], conf["variance_normalization"])


def manifest(size: str) -> dict:
    for folder in MANIFESTS:
        path = folder / f"tuss_{size}_manifest.json"
        if path.is_file():
            return json.loads(path.read_text())
    pytest.skip(f"tuss_{size}_manifest.json is not in this checkout")


# -- equivalence with the published implementation ---------------------------------------


@pytest.mark.parametrize("prompts", PROMPT_SETS)
def test_tiny_reproduces_reference_outputs(tiny: TussModel, mix: torch.Tensor, prompts: str) -> None:
    """The tiny random checkpoint gives the reference implementation's outputs (<= 1e-4)."""
    ref = np.load(DATA / f"output_{prompts.replace(' ', '_')}.npy")
    before = mix.clone()
    with torch.inference_mode():
        out = tiny(mix, [prompts.split()]).numpy()
    assert out.shape == ref.shape == (1, len(prompts.split()), 48128)
    assert np.abs(out - ref).max() <= 1e-4
    assert torch.equal(mix, before), "forward() must not modify the caller's tensor"


def test_batched_forward_matches_single_items(tiny: TussModel, mix: torch.Tensor) -> None:
    """Batch items with different prompts are separated independently."""
    other = torch.roll(mix, 4800, dims=-1) * 0.3
    batch = torch.cat([mix, other])
    with torch.inference_mode():
        both = tiny(batch, [["speech", "sfxbg", "musicbg"], ["sfx", "sfx", "speech"]])
        a = tiny(mix, [["speech", "sfxbg", "musicbg"]])
        b = tiny(other, [["sfx", "sfx", "speech"]])
    torch.testing.assert_close(both, torch.cat([a, b]), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("samples", [1000, 48001, 2048])
def test_output_length_is_padded_to_hop(tiny: TussModel, samples: int) -> None:
    x = torch.randn(2, samples)
    with torch.inference_mode():
        y = tiny(x, [["speech", "sfx"]] * 2)
    assert y.shape == (2, 2, -(-samples // 512) * 512)
    assert torch.isfinite(y).all()


def test_scale_equivariant_and_silence_safe(tiny: TussModel, mix: torch.Tensor) -> None:
    with torch.inference_mode():
        y1 = tiny(mix, [["speech", "sfx"]])
        y2 = tiny(mix * 8.0, [["speech", "sfx"]])
        z = tiny(torch.zeros(1, 4096), [["speech", "sfx"]])
    torch.testing.assert_close(y2, 8.0 * y1, atol=1e-5, rtol=1e-4)
    assert torch.isfinite(z).all() and z.abs().max() == 0


def test_forward_rejects_bad_prompts(tiny: TussModel, mix: torch.Tensor) -> None:
    with pytest.raises(ValueError, match="unknown prompt 'guitar'"):
        tiny(mix, [["guitar"]])
    with pytest.raises(ValueError, match="one prompt list per batch item"):
        tiny(mix, [["speech"], ["sfx"]])


def test_istft_matches_torch(tiny: TussModel) -> None:
    """Our graph-capturable overlap-add equals torch.istft(center=True)."""
    spec = torch.randn(3, 1025, 20, dtype=torch.complex64)
    ref = torch.istft(spec, 2048, 512, 2048, window=tiny.window, center=True)
    torch.testing.assert_close(tiny.istft(spec), ref, atol=1e-5, rtol=1e-4)


# -- configuration -------------------------------------------------------------------------


def test_config_inferred_from_shapes_and_sidecar(tiny: TussModel) -> None:
    assert tiny.cfg == tiny_config()
    assert tiny.cfg.cross_prompt.num_groups == 4  # from config.json next to model.pth
    assert tiny.config_source.endswith("config.json")
    assert not tiny.training


def test_default_bands_are_the_published_split() -> None:
    bands = default_bands(2048, 48000)
    assert len(bands) == 61 and sum(bands) == 1025
    assert bands[:3] == (2, 2, 2) and bands[-4:] == (66, 66, 66, 67)


def test_without_sidecar_num_groups_defaults_and_can_be_given(tmp_path: Path, mix: torch.Tensor) -> None:
    """num_groups has no tensor: published default 8 without a config file, or given."""
    shutil.copy(DATA / "model.pth", tmp_path / "model.pth")
    ref = torch.from_numpy(np.load(DATA / "output_sfx_sfx.npy"))
    bare = load_official(tmp_path / "model.pth")
    assert bare.cfg.cross_prompt.num_groups == 8
    given = load_official(tmp_path / "model.pth", num_groups=4)
    with torch.inference_mode():
        assert (bare(mix, [["sfx", "sfx"]]) - ref).abs().max() > 1e-3
        assert (given(mix, [["sfx", "sfx"]]) - ref).abs().max() <= 1e-4


def test_hparams_yaml_in_published_layout(tmp_path: Path, mix: torch.Tensor) -> None:
    """pretrained_models/<name>/hparams.yaml + checkpoints/model.pth, as published."""
    (tmp_path / "checkpoints").mkdir()
    shutil.copy(DATA / "model.pth", tmp_path / "checkpoints" / "model.pth")
    (tmp_path / "hparams.yaml").write_text(
        "decoder_conf: &id001\n  fft_size: 2048\n  hop_length: 512\n  normalize: null\n"
        "  window_length: 2048\n  window_type: sqrt_hann\nencoder_conf: *id001\n"
        "model_conf:\n"
        "  conf_cond_tse_module:\n    attention_dim: 24\n    frame_ffn_config:\n    - conf:\n"
        "        conv1d_kernel: 4\n        conv1d_shift: 1\n        dim_inner: 32\n"
        "    n_heads: 2\n    num_groups: 4\n    tf_order: ft\n"
        "  conf_cross_prompt_module:\n    attention_dim: 32\n    n_heads: 2\n    num_groups: 4\n"
        "    tf_order: ft\n  sample_rate: 48000\nvariance_normalization: true\n"
    )
    model = load_official(tmp_path / "checkpoints" / "model.pth")
    assert model.cfg == tiny_config()
    assert model.config_source.endswith("hparams.yaml")


@pytest.mark.parametrize("size", ["medium", "large"])
def test_published_sizes_match_manifest_and_round_trip(size: str, tmp_path: Path) -> None:
    """A random model of each published size has exactly the manifest's keys and shapes,
    and survives save -> load in the published on-disk format."""
    man = manifest(size)
    cfg = TussConfig.from_hparams(
        man["model_conf"], man["stft"]["encoder_conf"], man["audio"]["variance_normalization"]
    )
    assert cfg == published_config(size)
    assert list(cfg.bands) == man["band_split"]["bands_n_bins"]
    model = TussModel(cfg)
    got = [(k, list(v.shape)) for k, v in model.state_dict().items()]
    assert got == [(e["key"], e["shape"]) for e in man["state_dict"]]
    trainable = sum(p.numel() for p in model.parameters())
    assert trainable == man["param_counts"]["trainable_parameters"]

    path = save_official(model, tmp_path / "model.pth")
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert list(raw) == ["model." + e["key"] for e in man["state_dict"]]
    assert all(v.dtype == torch.float32 for v in raw.values())
    loaded = load_official(path)  # no config file: sizes from shapes, the rest published defaults
    assert loaded.cfg == cfg
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    if size == "medium":
        x = torch.randn(1, 3000)
        with torch.inference_mode():
            torch.testing.assert_close(loaded(x, [["vocals", "drums"]]), model.eval()(x, [["vocals", "drums"]]))


def test_round_trip_with_config_file(tmp_path: Path, tiny: TussModel) -> None:
    path = save_official(tiny, tmp_path / "x" / "model.pth", write_config=True)
    again = load_official(path)
    assert again.cfg == tiny.cfg
    assert all(torch.equal(again.state_dict()[k], v) for k, v in tiny.state_dict().items())


def test_other_layouts_of_the_same_weights(tmp_path: Path, tiny: TussModel) -> None:
    """A Lightning .ckpt wrapper and unprefixed keys load too."""
    sd = official_state_dict(tiny)
    torch.save({"state_dict": sd, "epoch": 3}, tmp_path / "a.ckpt")
    torch.save(OrderedDict((k[len("model.separator.") :], v) for k, v in sd.items()), tmp_path / "b.pth")
    for name in ("a.ckpt", "b.pth"):
        assert load_official(tmp_path / name).cfg.emb_dim == 16


# -- files that are not TUSS checkpoints ----------------------------------------------------


def _official(tiny: TussModel) -> OrderedDict:
    return official_state_dict(tiny)


def _expect(path: Path, *fragments: str) -> str:
    with pytest.raises(SeparatorError) as info:
        load_official(path)
    msg = str(info.value)
    assert "\n" not in msg
    for frag in fragments:
        assert frag in msg, msg
    return msg


def test_missing_unexpected_and_misshaped_keys_in_one_message(tmp_path: Path, tiny: TussModel) -> None:
    sd = _official(tiny)
    del sd["model.separator.cond_tse_module.0.frame_path.attn_norm.gamma"]
    del sd["model.separator.band_split_module.bandwise_decoding_module.3.1.bias"]
    sd["model.separator.extra.weight"] = torch.zeros(3)
    sd["model.separator.cross_prompt_module.0.frame_path.attn.aggregate_heads.0.weight"] = torch.zeros(16, 31)
    torch.save(sd, tmp_path / "m.pth")
    _expect(
        tmp_path / "m.pth",
        "not a TUSS checkpoint",
        "missing keys: 2",
        "attn_norm.gamma",
        "unexpected keys: 1 (e.g. model.separator.extra.weight)",
        "mis-shaped: 1",
        "[16, 31] vs expected [16, 32]",
    )


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b"\x00\x13garbage\xff" * 50, "not a readable torch weights file"),
        (b"just some text\nline two\n", "not a readable torch weights file"),
    ],
)
def test_unreadable_files(tmp_path: Path, content: bytes, fragment: str) -> None:
    path = tmp_path / "model.pth"
    path.write_bytes(content)
    _expect(path, "not a TUSS checkpoint", fragment)


def test_wrong_objects(tmp_path: Path) -> None:
    torch.save([torch.zeros(2)], tmp_path / "list.pth")
    _expect(tmp_path / "list.pth", "holds a list")
    torch.save({"model.separator.sos_token": torch.zeros(16, 1, 1), "model.separator.step": 3}, tmp_path / "n.pth")
    _expect(tmp_path / "n.pth", "not named tensors", "model.separator.step")
    torch.save(torch.nn.Linear(3, 4).state_dict(), tmp_path / "lin.pth")
    _expect(tmp_path / "lin.pth", "holds 2 tensors named e.g. weight, bias", "model.separator.prompts.<name>")
    _expect(tmp_path / "absent.pth", "not found")


class _Evil:
    def __reduce__(self):  # a plain pickle load would call print("executed")
        return (print, ("executed",))


def test_unsafe_pickle_is_refused(tmp_path: Path) -> None:
    """weights_only loading: an arbitrary pickled object is not executed, just refused."""
    torch.save({"x": _Evil()}, tmp_path / "evil.pth")
    _expect(tmp_path / "evil.pth", "not a TUSS checkpoint", "not a readable torch weights file")


def test_read_state_dict_normalises_prefix() -> None:
    state = read_state_dict(DATA / "model.pth")
    assert all(k.startswith("separator.") for k in state)
    assert infer_config(state, {"num_groups": 4}) == tiny_config()
    assert tiny_config().prompts == PROMPTS
