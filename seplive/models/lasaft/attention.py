"""Accumulate and save the per-frame latent-source attention of a stream.

Saved layout (``.npy``, float32)::

    (n_prompts, groups, frames, n_blocks, n_latent)

- ``n_prompts``: every prompt seen, in order of first appearance (listed in the JSON
  sidecar); a call that did not ask for a prompt leaves NaN in its frames.
- ``groups``: the stereo pairs of the stream (usually 1).
- ``frames``: STFT frames of the *new hop* of each call, concatenated in call order, so
  frame ``i`` is centred at ``i * hop_length`` samples (44.1 kHz) after the first hop's
  start; ``hop / hop_length`` frames per call (1024 -> 23.2 ms per frame).
- ``n_blocks``: the decoder blocks, coarsest first (light: 4x, 2x, 1x time down-sampling);
  a block working at ``k``-times-coarser time resolution repeats each weight ``k`` times.
- ``n_latent``: softmax weights over the latent sources (they sum to 1).

Alongside ``PATH.npy``: ``PATH.json`` (layout, prompt order, frame duration) and, if
matplotlib is importable, ``PATH.png`` (one panel per prompt and block, first group).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["AttentionRecorder"]

log = logging.getLogger(__name__)


class AttentionRecorder:
    """Collects ``(P, G, frames, n_blocks, L)`` arrays per call and writes them out."""

    def __init__(self, path: str | Path, frame_seconds: float) -> None:
        p = Path(path)
        self.path = p if p.suffix == ".npy" else p.with_name(p.name + ".npy")
        self.frame_seconds = frame_seconds
        self.records: list[tuple[tuple[str, ...], np.ndarray]] = []

    def add(self, prompts: Sequence[str], weights: np.ndarray) -> None:
        """``weights``: ``(len(prompts), G, frames, n_blocks, L)`` for one call's new hop."""
        self.records.append((tuple(prompts), np.asarray(weights, dtype=np.float32)))

    def clear(self) -> None:
        self.records.clear()

    def assemble(self) -> tuple[np.ndarray, list[str]]:
        """All calls as one ``(n_prompts, G, frames, n_blocks, L)`` array and the prompt order."""
        if not self.records:
            return np.zeros((0, 0, 0, 0, 0), np.float32), []
        order: list[str] = []
        for prompts, _ in self.records:
            order.extend(p for p in prompts if p not in order)
        g = max(w.shape[1] for _, w in self.records)
        nb, nl = self.records[0][1].shape[3:]
        total = sum(w.shape[2] for _, w in self.records)
        out = np.full((len(order), g, total, nb, nl), np.nan, np.float32)
        pos = 0
        for prompts, w in self.records:
            f = w.shape[2]
            for i, name in enumerate(prompts):
                out[order.index(name), : w.shape[1], pos : pos + f] = w[i]
            pos += f
        return out, order

    def save(self) -> Path:
        """Write ``.npy`` + ``.json`` (+ ``.png``); returns the ``.npy`` path."""
        arr, order = self.assemble()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        np.save(self.path, arr)
        meta = {
            "layout": ["prompt", "group", "frame", "decoder_block", "latent_source"],
            "shape": list(arr.shape),
            "prompts": order,
            "decoder_blocks": "coarsest first",
            "frame_seconds": self.frame_seconds,
        }
        self.path.with_suffix(".json").write_text(json.dumps(meta, indent=1))
        self._plot(arr, order)
        return self.path

    def _plot(self, arr: np.ndarray, order: list[str]) -> None:
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except Exception:  # noqa: BLE001 - matplotlib is optional
            return
        if arr.size == 0:
            return
        n_p, _, n_f, n_b, n_l = arr.shape
        fig, axes = plt.subplots(n_b, n_p, figsize=(3 + 3 * n_p, 1.2 + 1.4 * n_b), squeeze=False, sharex=True)
        extent = (0.0, n_f * self.frame_seconds, n_l - 0.5, -0.5)
        for pi in range(n_p):
            for bi in range(n_b):
                ax = axes[bi][pi]
                ax.imshow(arr[pi, 0, :, bi].T, aspect="auto", extent=extent, vmin=0.0,
                          interpolation="nearest")  # fmt: skip
                if bi == 0:
                    ax.set_title(order[pi])
                if pi == 0:
                    ax.set_ylabel(f"block {bi}\nlatent")
            axes[-1][pi].set_xlabel("s")
        fig.tight_layout()
        try:
            fig.savefig(self.path.with_suffix(".png"), dpi=80)
        except Exception as exc:  # noqa: BLE001
            log.warning("lasaft: could not write the attention plot: %s", exc)
        finally:
            plt.close(fig)
