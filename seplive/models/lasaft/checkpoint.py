"""Load LASAFT-Net-v2 checkpoints, inferring the configuration from tensor shapes.

Accepted files (read with ``torch.load(..., weights_only=True)``):

- a Lightning checkpoint: a dict whose ``"state_dict"`` maps ``stft.stft.window`` and
  ``spec2spec.<...>`` to tensors (the layout of the published ``epoch=*.ckpt`` files);
- a bare state_dict of the same keys;
- either of these with every key under one extra prefix (``model.``, ``module.``, ...);
- a state_dict of the U-Net alone (keys ``first_conv.<...>``, no STFT window).

Loading is strict: every key the inferred architecture needs must be present with the
expected shape, and nothing else may be there.  Any mismatch raises one
:class:`~seplive.models.base.SeparatorError` that names the differences.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..base import SeparatorError
from ..checkpoints import describe_mismatch
from .config import PRESETS, LasaftConfig
from .model import LasaftNet

__all__ = ["load_checkpoint", "infer_config", "load_state_dict", "extract_state_dict"]

log = logging.getLogger(__name__)

_ANCHOR = "first_conv.0.weight"
_WINDOW = "stft.stft.window"
_MAX_LISTED = 6


def _fail(source: str, what: str) -> SeparatorError:
    return SeparatorError(f"lasaft: {source}: {what}")


def extract_state_dict(obj: Any, source: str = "checkpoint") -> tuple[dict[str, Tensor], bool]:
    """Find the network's tensors in a loaded checkpoint object.

    Returns ``(state, has_stft)`` where ``state`` has the keys relative to the network
    (``stft.stft.window``, ``spec2spec.<...>``) and ``has_stft`` tells whether the file had
    the full-network layout (False: a U-Net-only state_dict, re-keyed to ``spec2spec.``).
    """
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not obj:
        kind = type(obj).__name__
        raise _fail(source, f"not a LaSAFT checkpoint (expected a state_dict mapping, found {kind})")
    non_tensor = [str(k) for k, v in obj.items() if not isinstance(v, Tensor)]
    if non_tensor:
        keys = ", ".join(str(k) for k in list(obj)[:_MAX_LISTED])
        raise _fail(
            source,
            f"not a state_dict: {len(non_tensor)} entries are not tensors "
            f"(e.g. '{non_tensor[0]}'); top-level keys: {keys}",
        )
    anchors = sorted((k for k in obj if str(k).endswith(_ANCHOR)), key=len)
    if not anchors:
        sample = ", ".join(str(k) for k in list(obj)[:_MAX_LISTED])
        raise _fail(
            source,
            f"not a LaSAFT-Net checkpoint: no '*{_ANCHOR}' tensor (keys look like: {sample})",
        )
    prefix = anchors[0][: -len(_ANCHOR)]
    if prefix.endswith("spec2spec."):
        root = prefix[: -len("spec2spec.")]
        has_stft = True
    else:
        root = prefix
        has_stft = False
    state: dict[str, Tensor] = {}
    outside = []
    for k, v in obj.items():
        if not k.startswith(root):
            outside.append(k)
            continue
        rel = k[len(root) :]
        state[rel if has_stft else "spec2spec." + rel] = v
    if outside:
        raise _fail(
            source,
            f"unexpected keys outside the network prefix '{root}': {_listing(outside)}",
        )
    return state, has_stft


def _listing(keys: list[str]) -> str:
    shown = ", ".join(keys[:_MAX_LISTED])
    more = len(keys) - _MAX_LISTED
    return shown + (f" (+{more} more)" if more > 0 else "")


def _shape(state: Mapping[str, Tensor], key: str) -> tuple[int, ...]:
    try:
        return tuple(state[key].shape)
    except KeyError:
        raise KeyError(key) from None


def _indices(state: Mapping[str, Tensor], pattern: str) -> list[int]:
    rx = re.compile(pattern)
    return sorted({int(m.group(1)) for k in state if (m := rx.match(k))})


def _attention(state: Mapping[str, Tensor], dec: str) -> tuple[bool, bool, int, int]:
    """The decoder's LightSAFT attention: (query_listen, key_listen, n_latent, dk), from the
    first decoder block's keys (``dec`` is its key prefix)."""
    query_listen = (dec + "query_pocm_generator.0.weight_v") in state
    key_listen = (dec + "keys.0.weight") in state
    if key_listen:
        return query_listen, key_listen, _shape(state, dec + "keys.0.weight")[0], _shape(state, dec + "keys.3.weight")[0]
    dk, n_latent = _shape(state, dec + "keys")[-2:]
    return query_listen, key_listen, n_latent, dk


def _preset_activation(cfg: LasaftConfig) -> str:
    """The activation of the preset whose shapes ``cfg`` matches, else ``leaky_relu`` (logged)."""
    activation = "leaky_relu"
    for preset_cfg in PRESETS.values():
        if preset_cfg.replace(activation=activation) == cfg.replace(activation=activation):
            return preset_cfg.activation
    log.warning("lasaft: checkpoint does not match a known preset; assuming %s activations", activation)
    return activation


def infer_config(
    state: Mapping[str, Tensor], activation: str | None = None, hop_length: int | None = None
) -> LasaftConfig:
    """The architecture described by ``state`` (network-relative keys).

    Raises ``KeyError`` (missing key) or ``ValueError`` (inconsistent shapes).  Two
    settings cannot be seen in the weights: the activation comes from ``activation`` if
    given, else from the preset whose shapes match, else ``leaky_relu``; the STFT hop from
    ``hop_length`` if given, else ``min(1024, n_fft // 2)`` (1024 for both published models).
    """
    s = "spec2spec."
    c, spec_channels = _shape(state, s + "first_conv.0.weight")[:2]
    encoders = _indices(state, r"spec2spec\.encoders\.(\d+)\.")
    decoders = _indices(state, r"spec2spec\.decoders\.(\d+)\.")
    n_levels = len(encoders)
    if n_levels == 0 or encoders != list(range(n_levels)) or decoders != encoders:
        raise ValueError(f"encoder blocks {encoders} and decoder blocks {decoders} do not pair up")
    layers = len(_indices(state, r"spec2spec\.encoders\.0\.tfc\.H\.(\d+)\."))
    kernel = _shape(state, s + "encoders.0.tfc.H.0.0.weight")[-2:]
    hidden0, f0 = _shape(state, s + "encoders.0.tdf.tdf.0.weight")
    n_fft = 2 * f0
    bn_factor = max(1, f0 // hidden0)
    hiddens = [_shape(state, s + f"encoders.{i}.tdf.tdf.0.weight")[0] for i in encoders]
    hiddens.append(_shape(state, s + "mid_block.tdf.tdf.0.weight")[0])
    n_labels, embedding_dim = _shape(state, s + "embedding.weight")
    query_listen, key_listen, n_latent, dk = _attention(state, s + "decoders.0.tfc_lightsaft.")
    tdf_bias = (s + "encoders.0.tdf.tdf.0.bias") in state
    cfg = LasaftConfig(
        n_fft=n_fft,
        hop_length=hop_length or min(1024, n_fft // 2),
        spec_channels=spec_channels,
        channels=c,
        n_levels=n_levels,
        tfc_layers=layers,
        kernel=(int(kernel[0]), int(kernel[1])),
        bn_factor=bn_factor,
        min_bn_units=min(hiddens),
        tdf_bias=tdf_bias,
        n_labels=n_labels,
        embedding_dim=embedding_dim,
        n_latent=n_latent,
        dk=dk,
        query_listen=query_listen,
        key_listen=key_listen,
    )
    if _WINDOW in state and _shape(state, _WINDOW) != (n_fft,):
        raise ValueError(f"STFT window has shape {list(state[_WINDOW].shape)}, the U-Net implies n_fft {n_fft}")
    return cfg.replace(activation=activation or _preset_activation(cfg))


def load_state_dict(
    state: Mapping[str, Tensor],
    has_stft: bool = True,
    activation: str | None = None,
    source: str = "state_dict",
    hop_length: int | None = None,
) -> LasaftNet:
    """Build the inferred network and load ``state`` strictly (see :func:`extract_state_dict`)."""
    try:
        cfg = infer_config(state, activation, hop_length)
    except KeyError as exc:
        raise _fail(
            source,
            f"does not match the LaSAFT-Net-v2 architecture: missing key {exc.args[0]!r} "
            f"needed to infer the configuration",
        ) from None
    except (ValueError, IndexError) as exc:
        raise _fail(source, f"does not match the LaSAFT-Net-v2 architecture: {exc}") from None
    model = LasaftNet(cfg)
    expected = model.state_dict()
    state = dict(state)
    if not has_stft:
        state[_WINDOW] = expected[_WINDOW].clone()
    problem = describe_mismatch(expected, state)
    if problem:
        raise _fail(
            source,
            f"does not match the LaSAFT-Net-v2 architecture inferred from its shapes "
            f"(n_fft {cfg.n_fft}, {cfg.channels} channels, {cfg.n_levels} levels, "
            f"{cfg.n_latent} latent sources): {problem}",
        )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # dtype or other surprises
        raise _fail(source, f"cannot load the weights: {exc}") from None
    return model.eval()


def _load_reason(exc: Exception) -> str:
    """The informative part of a torch.load failure, on one line."""
    text = str(exc)
    marker = "WeightsUnpickler error:"
    if marker in text:
        text = text.split(marker, 1)[1]
    text = " ".join(text.split())
    for end in (". Please", ". If you", ". Check the", " Check the"):
        text = text.split(end, 1)[0]
    text = text.strip().rstrip(".")
    if len(text) > 160:
        text = text[:157] + "..."
    return text or type(exc).__name__


def load_checkpoint(
    path: str | Path,
    device: str | torch.device = "cpu",
    activation: str | None = None,
    hop_length: int | None = None,
) -> LasaftNet:
    """Load a LASAFT-Net-v2 checkpoint file; returns the eval-mode network on ``device``.

    The configuration (light/large, n_fft, channels, levels, latent sources, listening
    variant, ...) is inferred from the tensor shapes.  ``activation`` (``"leaky_relu"`` /
    ``"relu"``) and ``hop_length`` override the two settings the weights cannot reveal;
    by default they come from the matching preset (v2_light: leaky ReLU, v2_large: ReLU;
    both hop 1024).
    """
    source = str(path)
    p = Path(path)
    if not p.is_file():
        raise _fail(source, "no such checkpoint file")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets one clear message
        raise _fail(
            source,
            f"cannot be read as a PyTorch checkpoint with weights_only=True ({_load_reason(exc)}); "
            f"it is corrupted, not a checkpoint, or pickles objects other than tensors",
        ) from None
    state, has_stft = extract_state_dict(obj, source)
    model = load_state_dict(state, has_stft, activation, source, hop_length)
    return model.to(device)
