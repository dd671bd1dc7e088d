"""LaSAFT-Net-v2 checkpoint loading: layouts, configuration inference, clear failures."""

from __future__ import annotations

import pickle

import pytest

torch = pytest.importorskip("torch")

from seplive.models.base import SeparatorError  # noqa: E402
from seplive.models.lasaft import (  # noqa: E402
    TINY,
    V2_LARGE,
    V2_LIGHT,
    build_model,
    infer_config,
    load_checkpoint,
)


def _lightning(state: dict) -> dict:
    """What a Lightning ModelCheckpoint writes (weights-only loadable parts)."""
    return {
        "epoch": 669,
        "global_step": 1234,
        "pytorch-lightning_version": "1.5.10",
        "state_dict": state,
        "callbacks": {"ModelCheckpoint{'monitor': 'val_loss'}": {"best_model_score": torch.tensor(0.1)}},
        "optimizer_states": [{"state": {}, "param_groups": [{"lr": 5e-4, "params": [0, 1]}]}],
        "lr_schedulers": [],
    }


@pytest.fixture(scope="module")
def tiny():
    return build_model(TINY, seed=3)


def _outputs_equal(a, b, n_hops: int = 15) -> None:
    wave = torch.randn(1, 2, 128 * n_hops, generator=torch.Generator().manual_seed(0)) * 0.1
    with torch.inference_mode():
        torch.testing.assert_close(a.separate(wave, ["drums"]), b.separate(wave, ["drums"]))


@pytest.mark.parametrize("layout", ["lightning", "bare", "prefixed", "unet_only"])
def test_roundtrip_layouts(tmp_path, tiny, layout):
    sd = tiny.state_dict()
    if layout == "lightning":
        obj = _lightning(sd)
    elif layout == "bare":
        obj = sd
    elif layout == "prefixed":
        obj = {"state_dict": {"model." + k: v for k, v in sd.items()}}
    else:
        obj = {k.removeprefix("spec2spec."): v for k, v in sd.items() if k.startswith("spec2spec.")}
    path = tmp_path / "m.ckpt"
    torch.save(obj, path)
    net = load_checkpoint(path)
    assert not net.training
    assert net.cfg == TINY
    _outputs_equal(net, tiny)


@pytest.mark.parametrize("cfg", [V2_LIGHT, V2_LARGE], ids=["v2_light", "v2_large"])
def test_infers_published_configurations(cfg):
    """Light vs large, n_fft, channels, levels, latent sources, activation: all from shapes."""
    sd = build_model(cfg).state_dict()
    got = infer_config(sd)
    assert got == cfg
    assert (got.n_fft, got.hop_length, got.n_latent, got.activation) == (
        (2048, 1024, 12, "leaky_relu") if cfg is V2_LIGHT else (4096, 1024, 16, "relu")
    )


def test_v2_light_file_roundtrip(tmp_path):
    ref = build_model(V2_LIGHT, seed=1)
    path = tmp_path / "epoch=669.ckpt"
    torch.save(_lightning(ref.state_dict()), path)
    net = load_checkpoint(path, device="cpu")
    assert net.cfg == V2_LIGHT
    for k, v in ref.state_dict().items():
        assert torch.equal(net.state_dict()[k], v), k


@pytest.mark.parametrize(
    "listen", [(False, False), (True, False), (False, True)], ids=["original", "query_only", "key_only"]
)
def test_infers_listening_variant(tmp_path, listen):
    cfg = TINY.replace(query_listen=listen[0], key_listen=listen[1])
    ref = build_model(cfg)
    torch.save(ref.state_dict(), tmp_path / "v.pt")
    net = load_checkpoint(tmp_path / "v.pt")
    assert (net.cfg.query_listen, net.cfg.key_listen) == listen
    _outputs_equal(net, ref)


def test_activation_override(tmp_path, tiny):
    torch.save(tiny.state_dict(), tmp_path / "t.pt")
    assert load_checkpoint(tmp_path / "t.pt", activation="relu").cfg.activation == "relu"


# -- failures: one SeparatorError naming what differs -------------------------------------
def _fails(tmp_path, obj, *needles: str, raw: bytes | None = None) -> str:
    path = tmp_path / "bad.ckpt"
    if raw is not None:
        path.write_bytes(raw)
    else:
        torch.save(obj, path)
    with pytest.raises(SeparatorError) as info:
        load_checkpoint(path)
    msg = str(info.value)
    assert "\n" not in msg.strip()
    for needle in needles:
        assert needle in msg, msg
    return msg


def test_missing_file(tmp_path):
    with pytest.raises(SeparatorError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "nope.ckpt")


def test_garbage_file(tmp_path):
    _fails(tmp_path, None, "cannot be read", raw=b"\x00not a checkpoint at all" * 10)


def test_not_weights_only(tmp_path):
    """Pickled objects other than tensors are refused by weights_only loading."""
    path = tmp_path / "obj.ckpt"
    with open(path, "wb") as fh:
        pickle.dump({"state_dict": {"x": torch.nn.Linear(2, 2)}}, fh, protocol=2)
    with pytest.raises(SeparatorError, match="weights_only"):
        load_checkpoint(path)


def test_wrong_architecture(tmp_path):
    other = {"model.separator.encoder.weight": torch.zeros(3, 3), "model.separator.bias": torch.zeros(3)}
    _fails(tmp_path, other, "not a LaSAFT-Net checkpoint", "model.separator.encoder.weight")


def test_not_a_state_dict(tmp_path):
    _fails(tmp_path, [1, 2, 3], "expected a state_dict")
    _fails(tmp_path, {"state_dict": {"a": 1}}, "not tensors")


def test_missing_key(tmp_path, tiny):
    sd = dict(tiny.state_dict())
    del sd["spec2spec.decoders.1.tfc_lightsaft.LaSIFT.1.weight"]
    del sd["spec2spec.upsamplings.0.1.running_var"]
    _fails(
        tmp_path, {"state_dict": sd}, "missing keys",
        "spec2spec.decoders.1.tfc_lightsaft.LaSIFT.1.weight", "spec2spec.upsamplings.0.1.running_var",
    )  # fmt: skip


def test_missing_key_needed_for_inference(tmp_path, tiny):
    sd = dict(tiny.state_dict())
    del sd["spec2spec.embedding.weight"]
    _fails(tmp_path, sd, "missing key", "spec2spec.embedding.weight")


def test_unexpected_key(tmp_path, tiny):
    sd = dict(tiny.state_dict())
    sd["spec2spec.extra_head.weight"] = torch.zeros(2)
    _fails(tmp_path, sd, "unexpected keys", "spec2spec.extra_head.weight")
    sd = dict(tiny.state_dict())
    sd["ema.spec2spec.first_conv.1.weight"] = torch.zeros(6)
    # two copies of the network: the shortest prefix wins, the other copy is unexpected
    _fails(tmp_path, sd, "unexpected keys", "ema.spec2spec.first_conv.1.weight")


def test_misshaped_key(tmp_path, tiny):
    sd = dict(tiny.state_dict())
    sd["spec2spec.decoders.0.pocm_generator.2.weight_v"] = torch.zeros(7, 8)
    msg = _fails(tmp_path, sd, "mis-shaped", "spec2spec.decoders.0.pocm_generator.2.weight_v", "[7, 8]")
    assert "[42, 8]" in msg  # what it should have been (6 * 6 + 6 generated weights)


def test_inconsistent_window(tmp_path, tiny):
    sd = dict(tiny.state_dict())
    sd["stft.stft.window"] = torch.hann_window(512)
    _fails(tmp_path, sd, "window", "n_fft 256")


def test_truncated_file(tmp_path, tiny):
    path = tmp_path / "full.ckpt"
    torch.save(tiny.state_dict(), path)
    data = path.read_bytes()
    _fails(tmp_path, None, "cannot be read", raw=data[: len(data) // 2])
