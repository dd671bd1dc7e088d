"""TUSS as a seplive plugin: a windowed separator over the published checkpoints.

Streaming
---------
TUSS is non-causal (full attention over its input, window-level normalisation), so the
engine calls it every hop on the newest ``context + hop + lookahead`` samples and keeps the
newest hop of what it returns (crossfading the rest with the previous call).  The window
length is a multiple of 512 and successive windows start ``hop`` samples apart with the hop
a multiple of 512 too, so every window sits on the model's 512-sample STFT grid: windows
that are not aligned to it give far worse estimates.  Each call is one batched forward pass
over all channel groups.

Prompt completion
-----------------
TUSS was trained to separate *every* source present in a mixture, with 2-4 prompts.  Asked
for ``vocals`` alone it has nowhere to put the drums, so by default (``completion="auto"``)
the plugin runs a complete prompt set internally and returns only the stems asked for (the
asked prompts come first internally, in the order given; the added ones follow):

====================================================  ======================================
asked prompts (all of them from ...)                  prompts added when missing
====================================================  ======================================
``vocals drums bass other`` (music stems)             ``vocals drums bass other``
``speech sfx sfxbg musicbg``, with speech or sfx      ``sfxbg musicbg``
``sfxbg musicbg`` only (backgrounds)                  ``speech sfxbg musicbg``
anything else (music stems mixed with the others)     nothing
any list with a repeated prompt (e.g. ``sfx sfx``)    nothing: an explicit set, passed through
====================================================  ======================================

So ``speech`` runs as ``speech sfxbg musicbg``, ``sfx`` as ``sfx sfxbg musicbg``,
``vocals`` as ``vocals drums bass other``, ``speech musicbg`` as ``speech musicbg sfxbg``.
``completion="none"`` runs exactly the asked prompts; a list (or a comma/space separated
string) of names completes with those names instead of the table (each added once unless
already asked).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..base import Layout, Separator, SeparatorError
from .model import PROMPTS

MUSIC_STEMS: tuple[str, ...] = ("vocals", "drums", "bass", "other")
FOREGROUND: tuple[str, ...] = ("speech", "sfx")
BACKGROUNDS: tuple[str, ...] = ("sfxbg", "musicbg")

#: accepted context range, ms (the training chunks were 6 s)
CONTEXT_RANGE_MS: tuple[float, float] = (1000.0, 6000.0)
#: default context: the trade-off measured in docs/benchmarks/tuss.md
DEFAULT_CONTEXT_MS = 2000.0


def complete_prompts(asked: Sequence[str], completion: str | Sequence[str] = "auto") -> tuple[str, ...]:
    """The prompt list to run so that ``asked`` are separated from a complete set.

    Returns ``asked`` followed by the prompts added (see the module docstring for the
    rule); the first ``len(asked)`` outputs of the model are the stems asked for.
    """
    asked = tuple(asked)
    if isinstance(completion, str) and completion == "none":
        return asked
    if not isinstance(completion, str) or completion != "auto":
        extra = tuple(completion)
    elif len(set(asked)) != len(asked) or not asked:
        return asked
    elif all(p in MUSIC_STEMS for p in asked):
        extra = MUSIC_STEMS
    elif all(p in FOREGROUND + BACKGROUNDS for p in asked):
        extra = BACKGROUNDS if any(p in FOREGROUND for p in asked) else ("speech",) + BACKGROUNDS
    else:
        return asked
    added: list[str] = []
    for p in extra:
        if p not in asked and p not in added:
            added.append(p)
    return asked + tuple(added)


def _parse_completion(value: Any, known: Sequence[str]) -> str | tuple[str, ...]:
    if value is None:
        return "auto"
    if isinstance(value, str):
        v = value.strip().lower()
        if v in ("auto", "none"):
            return v
        names = tuple(n for n in v.replace(",", " ").split() if n)
    else:
        names = tuple(str(n).strip().lower() for n in value)
    bad = [n for n in names if n not in known]
    if bad or not names:
        raise SeparatorError(
            f"tuss: completion must be 'auto', 'none' or prompt names ({' '.join(known)}); got {value!r}"
        )
    return names


def _ms_to_grid(ms: Any, what: str, rate: int, grid: int, lo_ms: float, hi_ms: float) -> int:
    try:
        value = float(ms)
    except (TypeError, ValueError):
        raise SeparatorError(f"tuss: {what} must be a number of milliseconds, got {ms!r}") from None
    if not lo_ms <= value <= hi_ms or math.isnan(value):
        raise SeparatorError(f"tuss: {what} {value:g} ms is outside {lo_ms:g}-{hi_ms:g} ms")
    return int(math.floor(value * rate / 1000.0 / grid + 0.5)) * grid


class TussSeparator(Separator):
    """TUSS (Saijo et al., ICASSP 2025) over a published checkpoint, as a windowed plugin.

    Parameters
    ----------
    checkpoint:
        path of the published ``model.pth`` (medium, large or any other size).
    device:
        ``None``: ``cuda`` when available, else ``cpu``.
    context_ms:
        past audio seen with each hop, 1000-6000 ms, rounded to the 512-sample grid
        (default 2000 ms = 96256 samples).
    lookahead_ms:
        future audio seen with each hop (adds that much latency), 0-6000 ms, rounded to
        the grid (default 0).
    completion:
        ``"auto"`` (default), ``"none"`` or prompt names; see the module docstring.
    model:
        an already built :class:`~seplive.models.tuss.model.TussModel` (or any module with
        the same ``forward(mix, prompts)``) instead of ``checkpoint``; used by tests.
    precision:
        ``"fp32"`` (default), ``"bf16"`` or ``"fp16"`` (autocast; fp16 needs CUDA).
    compile, cuda_graph:
        CUDA only, off by default: ``torch.compile`` the model, or capture each window
        shape/prompt set in a CUDA graph and replay it.  Not tested on a GPU yet.
    num_groups, config:
        passed to :func:`~seplive.models.tuss.checkpoint.load_official` for checkpoints
        whose configuration file is not next to them.

    ``process(window, prompts)``: ``window`` ``(groups, 1, context + hop + lookahead)``
    float32 -> ``(n_prompts, groups, 1, context + hop)`` float32.
    """

    name = "tuss"
    sample_rate = 48000
    channels = 1
    prompts = PROMPTS
    windowed = True
    hop_multiple = 512
    default_hop_samples = 2048
    delay_samples = 0
    description = "TUSS (Saijo et al. 2025) prompt-driven separation, 48 kHz; needs --checkpoint model.pth"

    def __init__(
        self,
        checkpoint: str | Path | None = None,
        device: str | None = None,
        context_ms: float = DEFAULT_CONTEXT_MS,
        lookahead_ms: float = 0.0,
        completion: str | Sequence[str] = "auto",
        model: nn.Module | None = None,
        precision: str = "fp32",
        compile: bool = False,
        cuda_graph: bool = False,
        num_groups: int | None = None,
        config: str | Path | None = None,
    ) -> None:
        super().__init__()
        dev = str(device) if device not in (None, "", "auto") else ("cuda" if torch.cuda.is_available() else "cpu")
        if dev.startswith("cuda") and not torch.cuda.is_available():
            raise SeparatorError(f"tuss: device {dev!r} asked for, but torch sees no CUDA device here")
        self.device = dev
        if model is None:
            if checkpoint in (None, ""):
                raise SeparatorError("tuss needs --checkpoint PATH (the published model.pth)")
            from .checkpoint import load_official

            model = load_official(checkpoint, device="cpu", config=config, num_groups=num_groups)
        self._model = model.eval().to(dev)
        cfg = getattr(model, "cfg", None)
        if cfg is not None:
            self.sample_rate = int(cfg.sample_rate)
            self.hop_multiple = int(cfg.hop_length)
            self.prompts = tuple(cfg.prompts)
        self.context_samples = _ms_to_grid(
            context_ms, "context", self.sample_rate, self.hop_multiple, *CONTEXT_RANGE_MS
        )
        self.lookahead_samples = _ms_to_grid(
            lookahead_ms, "lookahead", self.sample_rate, self.hop_multiple, 0.0, 6000.0
        )
        self.completion = _parse_completion(completion, self.prompts)

        precision = str(precision).lower()
        dtypes = {
            "fp32": None,
            "float32": None,
            "bf16": torch.bfloat16,
            "bfloat16": torch.bfloat16,
            "fp16": torch.float16,
            "float16": torch.float16,
        }
        if precision not in dtypes:
            raise SeparatorError(f"tuss: precision must be fp32, bf16 or fp16, got {precision!r}")
        self._amp_dtype = dtypes[precision]
        if self._amp_dtype is torch.float16 and not dev.startswith("cuda"):
            raise SeparatorError("tuss: fp16 needs a CUDA device (use bf16 or fp32 on the CPU)")
        self._compile = bool(compile)
        self._cuda_graph = bool(cuda_graph)
        if (self._compile or self._cuda_graph) and not dev.startswith("cuda"):
            raise SeparatorError("tuss: compile / cuda_graph are CUDA-only options")
        self._runner: Any = self._make_runner(dev)
        self._graphs: dict[tuple[Any, ...], tuple[Any, torch.Tensor, torch.Tensor]] = {}
        self._plans: dict[tuple[str, ...], tuple[str, ...]] = {}

    # -- lifecycle -----------------------------------------------------------------------
    def pick_device(self, requested: str | None) -> str:
        """``requested`` (``None`` or ``"auto"``: the device chosen at construction)."""
        target = self.device if requested in (None, "", "auto") else str(requested)
        if target.startswith("cuda") and not torch.cuda.is_available():
            raise SeparatorError(f"tuss: device {target!r} asked for, but torch sees no CUDA device here")
        return target

    def start(self, layout: Layout) -> None:
        """Move the model to the agreed device (its graphs and runner rebuilt there)."""
        if torch.device(self.device) != next(self._model.parameters()).device:
            self._model.to(self.device)
            self._graphs.clear()
            self._runner = self._make_runner(self.device)

    def _make_runner(self, device: str) -> Any:
        if self._compile and device.startswith("cuda"):
            return torch.compile(self._model, dynamic=False)
        return self._model

    def reset(self) -> None:
        """Nothing to forget: every window is separated on its own."""

    # -- processing ----------------------------------------------------------------------
    def internal_prompts(self, prompts: Sequence[str]) -> tuple[str, ...]:
        """The prompt list actually run for ``prompts`` (see :func:`complete_prompts`)."""
        key = tuple(prompts)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = complete_prompts(key, self.completion)
        return plan

    def process(self, window: np.ndarray, prompts: Sequence[str]) -> np.ndarray:
        """Separate one window: ``(groups, 1, samples)`` -> ``(n_prompts, groups, 1, samples - lookahead)``."""
        prompts = tuple(prompts)
        self.check_prompts(prompts)
        w = np.asarray(window, dtype=np.float32)
        if w.ndim != 3 or w.shape[1] != 1:
            raise SeparatorError(f"tuss: expected a (groups, 1, samples) window, got shape {w.shape}")
        groups, _, n = w.shape
        keep = n - self.lookahead_samples
        if keep <= 0 or n < 2:
            raise SeparatorError(f"tuss: a window of {n} samples is too short for lookahead {self.lookahead_samples}")
        if not prompts:
            return np.zeros((0, groups, 1, keep), np.float32)
        x = torch.from_numpy(np.ascontiguousarray(w[:, 0, :])).to(self.device)
        y = self.separate(x, self.internal_prompts(prompts))  # (groups, S_internal, >= n)
        out = y[:, : len(prompts), :keep].transpose(0, 1).unsqueeze(2)
        return np.ascontiguousarray(out.float().cpu().numpy())

    def separate(self, mix: torch.Tensor, prompts: Sequence[str]) -> torch.Tensor:
        """Run the model: ``mix`` ``(batch, samples)`` on the plugin's device, the same
        ``prompts`` for every item -> ``(batch, len(prompts), ceil(samples/512)*512)``."""
        prompts = tuple(prompts)
        with torch.inference_mode():
            if self._cuda_graph and mix.is_cuda:
                return self._replay(mix, prompts).clone()
            return self._call(mix, prompts)

    def _autocast(self, device_type: str) -> Any:
        if self._amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device_type, dtype=self._amp_dtype, cache_enabled=not self._cuda_graph)

    def _call(self, mix: torch.Tensor, prompts: tuple[str, ...]) -> torch.Tensor:
        with self._autocast(mix.device.type):
            y = self._runner(mix, [list(prompts)] * mix.shape[0])
        return y.float()

    def _replay(self, mix: torch.Tensor, prompts: tuple[str, ...]) -> torch.Tensor:
        """CUDA-graph path: capture once per (shape, prompts), then copy in and replay."""
        key = (tuple(mix.shape), str(mix.device), prompts)
        entry = self._graphs.get(key)
        if entry is None:
            static_in = mix.clone()
            side = torch.cuda.Stream(device=mix.device)
            side.wait_stream(torch.cuda.current_stream(mix.device))
            with torch.cuda.stream(side):
                for _ in range(2):  # warm-up: cuFFT plans, allocator, autotuning
                    self._call(static_in, prompts)
            torch.cuda.current_stream(mix.device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                static_out = self._call(static_in, prompts)
            entry = self._graphs[key] = (graph, static_in, static_out)
        graph, static_in, static_out = entry
        static_in.copy_(mix)
        graph.replay()
        return static_out
