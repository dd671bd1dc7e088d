"""The native network as a stateful seplive plugin.

Each call gets only the new hop (``(groups, channels, hop)``; hop a multiple of the STFT
hop, 128 samples) and returns ``(prompts, groups, channels, hop)``: the stems of the hop
ending ``delay_samples`` (128 = 2.7 ms at 48 kHz) before the newest input sample.  Caches
(the analysis buffer, the GRU states, the trunk output of the last frames) are
prompt-independent, so any prompt can join at any hop with exact output (see
:meth:`~seplive.models.native.model.NativeNet.step`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..base import Layout, Separator, SeparatorError
from .checkpoint import load_checkpoint, shipped_checkpoint
from .config import PRESETS
from .model import Kernels, NativeNet, StreamState

__all__ = ["NativeSeparator", "DEFAULT_HOP_FRAMES"]

log = logging.getLogger(__name__)

#: STFT frames per engine hop by default: 3 x 128 = 384 samples (8 ms) at 48 kHz; the
#: per-call overhead is most of the cost, so 3 frames per call leave the most headroom
DEFAULT_HOP_FRAMES = 3


class NativeSeparator(Separator):
    """seplive's own causal streaming separator (all eight prompts, 48 kHz, stereo).

    Parameters
    ----------
    checkpoint:
        a native checkpoint (``.pt`` with its ``.json`` sidecar); without it the weights
        shipped in ``seplive/models/native/weights/`` are used (an error if none ship).
    device:
        torch device; overrides the one given to :meth:`prepare` when set.
    model:
        an already built :class:`NativeNet` (wins over ``checkpoint``): tests, training.
    unit_mask:
        replace every mask by 1: each stem is the input delayed by the model delay.  A
        check of the latency bookkeeping, not a separator.
    threads:
        torch intra-op threads set in :meth:`prepare` on CPU (1: per-hop work is small and
        one thread is steadiest on a busy machine; ``None`` leaves torch's setting).
    traced:
        on a CPU, run each hop through TorchScript traces of the network made in
        :meth:`prepare` (:meth:`NativeNet.traced_kernels`: the same operations, ~30 % less
        time per hop live); ``False`` runs it eagerly.
    """

    name = "native"
    windowed = False
    # class-level values are the shipped preset's (for listings); instances take their
    # model's config
    sample_rate = PRESETS["small"]["sample_rate"]
    channels = PRESETS["small"]["channels"]
    prompts: tuple[str, ...] = tuple(PRESETS["small"]["prompts"])
    hop_multiple = PRESETS["small"]["hop"]
    default_hop_samples = DEFAULT_HOP_FRAMES * PRESETS["small"]["hop"]
    delay_samples = PRESETS["small"]["synthesis_window"] - PRESETS["small"]["hop"]
    # three quarters of a hop: the traced path's paced p99 measured 43-55 % of the hop on
    # the 2-core VM (docs/benchmarks/native.md), so a quarter of a hop is latency it never used
    compute_budget_hops = 0.75
    description = "seplive's own causal streaming network (8 prompts, 48 kHz stereo, 2.7 ms model delay)"

    def __init__(
        self,
        checkpoint: str | Path | None = None,
        device: str | None = None,
        model: NativeNet | None = None,
        unit_mask: bool = False,
        threads: int | None = 1,
        traced: bool = True,
    ) -> None:
        super().__init__()
        self._fixed_device = device
        if model is None:
            model = load_checkpoint(checkpoint if checkpoint is not None else shipped_checkpoint())
        if not isinstance(model, NativeNet):
            raise SeparatorError(f"native: model must be a NativeNet, got {type(model).__name__}")
        self.model = model.eval()
        self.model.unit_mask = bool(unit_mask)
        cfg = self.model.cfg
        self.sample_rate = cfg.sample_rate
        self.channels = cfg.channels
        self.prompts = tuple(cfg.prompts)
        self.hop_multiple = cfg.hop
        self.default_hop_samples = DEFAULT_HOP_FRAMES * cfg.hop
        self.delay_samples = self.model.delay_samples
        self.threads = threads
        self.traced = bool(traced)
        self._kernels: Kernels | None = None
        self._index = {p: i for i, p in enumerate(self.prompts)}
        self._state: StreamState | None = None
        self._groups = -1
        self._ftz_thread: int | None = None
        self.device = device or "cpu"
        self._move()

    def _move(self) -> None:
        try:
            self.model.to(self.device)
        except (RuntimeError, AssertionError, ValueError) as exc:
            raise SeparatorError(f"native: cannot use device '{self.device}': {exc}") from None

    def pick_device(self, requested: str | None) -> str:
        return self._fixed_device or requested or "cpu"

    def start(self, layout: Layout) -> None:
        """Move to the device, trace the network for the hop (on a CPU), forget the state."""
        self._move()
        cpu = str(self.device).startswith("cpu")
        if self.threads is not None and cpu:
            torch.set_num_threads(int(self.threads))
        # traced with the weights as they are now (a plugin is prepared after they load)
        self._kernels = self.model.traced_kernels(max(1, self.hop_samples // self.hop_multiple)) \
            if self.traced and cpu and not self.model.unit_mask else None
        self.reset()

    def reset(self) -> None:
        self._state = None
        self._groups = -1

    def process(self, window: np.ndarray, prompts: Sequence[str]) -> np.ndarray:
        """``(groups, channels, hop)`` -> ``(n_prompts, groups, channels, hop)``."""
        self.check_prompts(prompts)
        x = np.asarray(window, dtype=np.float32)
        c = self.channels
        if x.ndim != 3 or x.shape[1] != c or x.shape[2] % self.hop_multiple:
            raise SeparatorError(
                f"native: window must be (groups, {c}, k * {self.hop_multiple}), got shape {tuple(x.shape)}"
            )
        g, _, n = x.shape
        if g == 0 or n == 0:
            return np.zeros((len(prompts), g, c, n), np.float32)
        if self._ftz_thread != threading.get_ident() and threading.current_thread() is not threading.main_thread():
            # recurrent states decaying in silence reach denormals, which are 10-100x slower
            # on x86: flush them to zero on the live engine's worker thread (a per-thread
            # CPU flag; the main thread's float mode, shared with everything else, is left alone)
            torch.set_flush_denormal(True)
            self._ftz_thread = threading.get_ident()
        device = next(self.model.parameters()).device
        if self._state is None or self._groups != g:
            self._state = self.model.init_state(g, device)
            self._groups = g
        ids = tuple(self._index[p] for p in prompts)
        with torch.inference_mode():
            out, self._state = self.model.step(torch.from_numpy(x).to(device), ids, self._state, self._kernels)  # (G, P, C, n)
            return np.ascontiguousarray(out.transpose(0, 1).float().cpu().numpy())
