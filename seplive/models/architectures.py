"""Trainable architectures by name: ``build(options, sample_rate=, channels=) -> nn.Module``.

Every trainable model has one calling convention, so the training loop, the checkpoint
loader and the evaluator never need to know which network they hold::

    model(mix: Tensor (B, C, T), prompt_ids: LongTensor (B, P)) -> Tensor (B, P, C, T)

``prompt_ids`` index :data:`seplive.models.prompts.PROMPTS`; ``-1`` is padding (its output
is zeros and the loss ignores it).  Optional attributes a model may set: ``hop_multiple``
(window lengths it prefers to be a multiple of, for the streaming plugin) and
``streaming_plugin(sidecar, **options) -> Separator`` (its own live plugin; otherwise the
evaluator wraps it in :class:`seplive.models.trained.CheckpointSeparator`) and
``ddp_find_unused = True`` when some parameters may get no gradient in a step (DDP then
looks for them).

Adding one is a single line in ``_ARCHITECTURES`` below (``"name": "module:build"``), or a
call ``register("name", build, live_plugin="plugin-name")`` at import time; ``live_plugin``
names a plugin of :mod:`seplive.models.registry` that plays the architecture's checkpoints
live (created with ``checkpoint=PATH``), as ``native`` does.

Builders get the ``[model.options]`` table of the training config as a dict and must
reject keys they do not know (:func:`check_options` does it with a "did you mean").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from ..config import NamedFactories, did_you_mean
from .prompts import PROMPTS

__all__ = ["register", "available", "build", "get_builder", "check_options", "live_plugin", "ArchitectureError"]

Builder = Callable[..., nn.Module]

class ArchitectureError(ValueError):
    """Unknown architecture or bad options (one line, names the key)."""


#: name -> builder or "module:attribute" (imported on first use)
_ARCHITECTURES: NamedFactories[Builder] = NamedFactories("architecture", {
    "lasaft": "seplive.models.architectures:build_lasaft",
    "tuss": "seplive.models.architectures:build_tuss",
    "native": "seplive.models.native.training:build",
}, ArchitectureError, listing="known")

#: architecture -> registry name of its own live plugin, built as ``create(name, checkpoint=PATH)``
#: (otherwise a trained checkpoint plays through the generic windowed CheckpointSeparator)
_LIVE_PLUGINS: dict[str, str] = {"native": "native"}


def register(name: str, builder: str | Builder, live_plugin: str | None = None) -> None:
    """Add or replace an architecture: ``builder`` is a callable or ``"module:attr"``;
    ``live_plugin``: the registry name of a plugin that plays its checkpoints live."""
    _ARCHITECTURES.register(name, builder)
    if live_plugin:
        _LIVE_PLUGINS[name] = live_plugin


def live_plugin(name: str) -> str | None:
    """Registry name of architecture ``name``'s own live plugin, if it has one."""
    return _LIVE_PLUGINS.get(name)


def available() -> list[str]:
    return _ARCHITECTURES.names()


def get_builder(name: str) -> Builder:
    """The builder of architecture ``name`` (imported now if named by a string)."""
    return _ARCHITECTURES.load(name)


def build(name: str, options: Mapping[str, Any] | None = None, sample_rate: int = 48000, channels: int = 2) -> nn.Module:
    """Build architecture ``name`` with ``options`` for audio at ``sample_rate`` / ``channels``."""
    return get_builder(name)(dict(options or {}), sample_rate=int(sample_rate), channels=int(channels))


def check_options(arch: str, options: Mapping[str, Any], known: list[str] | tuple[str, ...]) -> None:
    """Raise :class:`ArchitectureError` for the first key of ``options`` not in ``known``."""
    for key in options:
        if key not in known:
            hint = did_you_mean(key, known)
            raise ArchitectureError(f"{arch}: unknown model option '{key}'{hint}; known: {', '.join(known)}")


def _zero_padding(out: Tensor, ids: Tensor) -> Tensor:
    """Zero the outputs of padding slots (``ids < 0``): ``out`` ``(B, P, C, T)``."""
    return out * (ids >= 0)[:, :, None, None].to(out.dtype)


# ---------------------------------------------------------------------------------------
# LaSAFT-Net-v2


class LasaftTrainable(nn.Module):
    """LaSAFT-GPoCM U-Net over the whole prompt vocabulary (one embedding row per prompt).

    The encoder is unconditioned, so it runs once per mixture; the decoder runs once per
    (mixture, prompt) pair.  Inputs are zero-padded on the past side to the U-Net's valid
    length and the padding is cut from the output (as the streaming plugin does).
    """

    def __init__(self, cfg: Any, prompts: tuple[str, ...] = PROMPTS) -> None:
        super().__init__()
        from .lasaft.model import LasaftNet, init_random

        self.net = init_random(LasaftNet(cfg, labels=prompts), seed=None)
        self.prompts = prompts
        self.hop_multiple = int(cfg.hop_length)

    def forward(self, mix: Tensor, prompt_ids: Tensor) -> Tensor:
        b, c, n = mix.shape
        p = prompt_ids.shape[1]
        full = self.net.valid_length(n)
        wave = F.pad(mix, (full - n, 0))
        spec = self.net.stft.to_spec(wave)
        mid, skips = self.net.spec2spec.encode(spec)
        mid = mid.repeat_interleave(p, dim=0)
        skips = [s.repeat_interleave(p, dim=0) for s in skips]
        cond = self.net.spec2spec.embedding(prompt_ids.clamp(min=0).reshape(-1))
        out_spec, _ = self.net.spec2spec.decode(mid, skips, cond)
        out = self.net.stft.to_wave(out_spec, full).reshape(b, p, c, full)[..., full - n :]
        return _zero_padding(out, prompt_ids)


def build_lasaft(options: dict[str, Any], sample_rate: int = 44100, channels: int = 2) -> nn.Module:
    """``options``: ``preset`` (``tiny``, ``v2_light``, ``v2_large``; default ``v2_light``)
    plus any :class:`~seplive.models.lasaft.config.LasaftConfig` field to override."""
    from .lasaft.config import LasaftConfig, preset

    fields = [f for f in LasaftConfig.__dataclass_fields__ if f not in ("spec_channels", "n_labels")]
    check_options("lasaft", options, ["preset", *fields])
    opts = dict(options)
    try:
        cfg = preset(str(opts.pop("preset", "v2_light")))
    except KeyError as exc:
        raise ArchitectureError(f"lasaft: {exc.args[0]}") from None
    if "kernel" in opts:
        opts["kernel"] = tuple(opts["kernel"])
    if channels not in (1, 2):
        raise ArchitectureError(f"lasaft: trains on mono or stereo, not {channels} channels")
    cfg = cfg.replace(**opts, spec_channels=2 * channels, n_labels=len(PROMPTS))
    return LasaftTrainable(cfg)


# ---------------------------------------------------------------------------------------
# TUSS


def _bands(n_fft: int, sample_rate: int, width: int) -> tuple[int, ...]:
    """The published band split when it fits the rate, else equal bands of ``width`` bins."""
    from .tuss.model import default_bands

    try:
        return default_bands(n_fft, sample_rate)
    except ValueError:
        n_bins = n_fft // 2 + 1
        k = max(1, n_bins // width)
        return tuple([width] * (k - 1) + [n_bins - width * (k - 1)])


class TussTrainable(nn.Module):
    """TUSS (mono network) on ``C``-channel audio: the channels become batch items.

    TUSS attends across its prompts, so padding slots cannot simply be filled in: the
    items of a batch are grouped by their real prompt count and each group runs with
    exactly its own prompts.
    """

    def __init__(self, cfg: Any) -> None:
        super().__init__()
        from .tuss.model import TussModel

        self.model = TussModel(cfg)
        self.prompts = tuple(cfg.prompts)
        self.hop_multiple = int(cfg.hop_length)
        #: the prompt vectors of prompts absent from a batch get no gradient (DDP must know)
        self.ddp_find_unused = True

    def forward(self, mix: Tensor, prompt_ids: Tensor) -> Tensor:
        b, c, n = mix.shape
        p = prompt_ids.shape[1]
        out = mix.new_zeros(b, p, c, n)
        valid = prompt_ids >= 0
        counts = valid.sum(dim=1).tolist()
        names = [[self.prompts[i] for i in row if i >= 0] for row in prompt_ids.tolist()]
        for count in sorted(set(counts)):
            if count == 0:
                continue
            items = [i for i, k in enumerate(counts) if k == count]
            x = mix[items].reshape(len(items) * c, n)
            rows = [names[i] for i in items for _ in range(c)]
            y = self.model(x, rows)[..., :n]  # (items*C, count, n)
            y = y.reshape(len(items), c, count, n).transpose(1, 2)
            for j, i in enumerate(items):
                slots = valid[i].nonzero().flatten()
                out[i, slots] = y[j]
        return out


def build_tuss(options: dict[str, Any], sample_rate: int = 48000, channels: int = 2) -> nn.Module:
    """``options``: ``size`` (``medium``/``large``: the published sizes) or explicit
    ``emb_dim``, ``blocks`` [cross, tse], ``attention_dim`` [cross, tse], ``heads``,
    ``ffn_dim``, ``groups``; ``n_fft``, ``hop``, ``band_width`` (bins, when the published
    band split does not fit the rate)."""
    from .tuss.model import FFNConfig, StackConfig, TussConfig, published_config

    known = ["size", "emb_dim", "blocks", "attention_dim", "heads", "ffn_dim", "groups", "n_fft", "hop", "band_width"]
    check_options("tuss", options, known)
    n_fft = int(options.get("n_fft", 2048))
    hop = int(options.get("hop", n_fft // 4))
    bands = _bands(n_fft, sample_rate, int(options.get("band_width", 8)))
    if "size" in options:
        try:
            cfg = published_config(str(options["size"]))
        except ValueError as exc:
            raise ArchitectureError(f"tuss: {exc}") from None
        cfg = cfg.replace(sample_rate=sample_rate, n_fft=n_fft, hop_length=hop, bands=bands)
    else:
        emb = int(options.get("emb_dim", 16))
        n_cross, n_tse = (int(v) for v in options.get("blocks", [1, 1]))
        att_cross, att_tse = (int(v) for v in options.get("attention_dim", [16, 16]))
        heads = int(options.get("heads", 2))
        ffn = int(options.get("ffn_dim", 32))
        groups = int(options.get("groups", 4))

        def stack(n: int, att: int) -> StackConfig:
            f = (FFNConfig(ffn, 4),) * 2
            return StackConfig(n_blocks=n, attention_dim=att, n_heads=heads, num_groups=groups, freq_ffns=f, frame_ffns=f)

        try:
            cfg = TussConfig(
                prompts=PROMPTS, emb_dim=emb, cross_prompt=stack(n_cross, att_cross), cond_tse=stack(n_tse, att_tse),
                bands=bands, sample_rate=sample_rate, n_fft=n_fft, hop_length=hop,
            )  # fmt: skip
        except ValueError as exc:
            raise ArchitectureError(f"tuss: {exc}") from None
    return TussTrainable(cfg)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

