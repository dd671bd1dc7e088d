"""Any trained checkpoint as a live plugin: :class:`CheckpointSeparator`.

It runs the checkpoint's network (built from its sidecar through
:mod:`seplive.models.architectures`) on windows of ``context + hop + lookahead`` samples
and returns the stems of ``context + hop`` of them, the engine's windowed contract.  A
model that brings its own streaming plugin (an attribute ``streaming_plugin(sidecar,
**options) -> Separator``) gets that one from :func:`plugin_for_checkpoint` instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .base import Separator, SeparatorError
from .prompts import PROMPTS

__all__ = ["CheckpointSeparator", "plugin_for_checkpoint", "open_checkpoint"]


class CheckpointSeparator(Separator):
    """A trained checkpoint (``--checkpoint model.pt`` with ``model.json`` beside it).

    ``context_ms`` / ``lookahead_ms``: past and future audio per call (rounded to the
    model's ``hop_multiple``); ``device``: ``None`` = cuda when available.
    """

    name = "checkpoint"
    windowed = True
    prompts = PROMPTS
    description = "a model trained with 'seplive train' (needs --checkpoint model.pt + its .json sidecar)"

    def __init__(
        self,
        checkpoint: str | Path | None = None,
        model: nn.Module | None = None,
        sidecar: dict[str, Any] | None = None,
        device: str | None = None,
        context_ms: float = 1000.0,
        lookahead_ms: float = 0.0,
        **_: object,
    ) -> None:
        super().__init__()
        dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if model is None:
            if not checkpoint:
                raise SeparatorError("checkpoint: needs --checkpoint PATH (a model.pt trained by 'seplive train')")
            from .weights import load_model

            try:
                model, sidecar = load_model(checkpoint)
            except ValueError as exc:
                raise SeparatorError(str(exc)) from None
        if sidecar is None:
            raise SeparatorError("checkpoint: a model needs its sidecar (sample rate, channels)")
        self.model = model.eval().to(dev)
        self.device = dev
        self.sidecar = sidecar
        data = sidecar["data"]
        self.sample_rate = int(data["sample_rate"])
        ch = int(data["channels"])
        self.channels = ch if ch in (1, 2) else 0
        self.hop_multiple = int(getattr(model, "hop_multiple", 1))
        hm = self.hop_multiple
        self.default_hop_samples = max(hm, int(round(0.085 * self.sample_rate / hm)) * hm)
        try:
            ctx, la = float(context_ms), float(lookahead_ms)
        except (TypeError, ValueError):
            raise SeparatorError(f"checkpoint: context_ms / lookahead_ms must be numbers, got {context_ms!r}") from None
        if ctx < 0 or la < 0:
            raise SeparatorError("checkpoint: context_ms and lookahead_ms must be >= 0")
        self.context_samples = int(round(ctx * self.sample_rate / 1000.0 / hm)) * hm
        self.lookahead_samples = int(math.ceil(la * self.sample_rate / 1000.0 / hm)) * hm
        self.architecture = sidecar.get("architecture", "?")

    def pick_device(self, requested: str | None) -> str:
        """The device chosen at construction (the model lives there)."""
        return self.device

    def separate(self, x: torch.Tensor, prompts: Sequence[str]) -> torch.Tensor:
        """``(G, C, N)`` on the device -> ``(G, P, C, N)`` for ``prompts`` (repeats allowed)."""
        ids = torch.tensor([[PROMPTS.index(p) for p in prompts]] * x.shape[0], device=x.device)
        with torch.inference_mode():
            return self.model(x, ids).float()

    def process(self, window: np.ndarray, prompts: Sequence[str]) -> np.ndarray:
        self.check_prompts(prompts)
        w = np.asarray(window, dtype=np.float32)
        if w.ndim != 3:
            raise SeparatorError(f"checkpoint: window must be (groups, channels, samples), got {w.shape}")
        keep = w.shape[-1] - self.lookahead_samples
        if keep <= 0 or not prompts:
            return np.zeros((len(prompts), w.shape[0], w.shape[1], max(keep, 0)), np.float32)
        y = self.separate(torch.from_numpy(w).to(self.device), prompts)
        return np.ascontiguousarray(y.transpose(0, 1)[..., :keep].cpu().numpy())


def plugin_for_checkpoint(path: str | Path, **options: Any) -> Separator:
    """The live plugin for a trained checkpoint: the architecture's own plugin when it has
    one (``native``: built from the registry with ``checkpoint=path`` and ``device``), else a
    :class:`CheckpointSeparator` around the network."""
    from .architectures import live_plugin
    from .weights import load_model, read_sidecar

    try:
        own_plugin = live_plugin(read_sidecar(path)["architecture"])
        if own_plugin:
            from . import registry

            extra = {"device": options["device"]} if options.get("device") else {}
            return registry.create(own_plugin, checkpoint=str(path), **extra)
        model, sidecar = load_model(path)
    except ValueError as exc:
        raise SeparatorError(str(exc)) from None
    own = getattr(model, "streaming_plugin", None)
    if callable(own):
        return own(sidecar, **options)
    return CheckpointSeparator(model=model, sidecar=sidecar, **options)


def open_checkpoint(checkpoint: str | Path | None = None, **options: Any) -> Separator:
    """Registry factory (``seplive -m checkpoint --checkpoint model.pt``)."""
    if not checkpoint:
        raise SeparatorError("checkpoint: needs --checkpoint PATH (a model.pt trained by 'seplive train')")
    return plugin_for_checkpoint(checkpoint, **options)


# what 'seplive models' lists for the factory
open_checkpoint.prompts = PROMPTS  # type: ignore[attr-defined]
open_checkpoint.description = CheckpointSeparator.description  # type: ignore[attr-defined]
