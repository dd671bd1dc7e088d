"""The model stage: one hop's window through the plugin, checked.

In: a :class:`~seplive.stream.runner.Job` whose window is ``(samples, channels)`` at the
model rate.  The channels are grouped as the agreed :class:`~seplive.models.base.Layout`
says, the plugin is called, its output checked (finite, the contract's shape) and
ungrouped.  Out: ``(stems, prompts)``, ``stems`` ``(hop [+ crossfade], prompts,
channels)`` float32: the newest ``hop + crossfade`` samples of a windowed plugin, the
``hop`` of a stateful one.  A failure raises (the engine counts it and plays dry).
"""

from __future__ import annotations

import numpy as np

from ..models.base import Layout, Separator, SeparatorError
from .runner import Job


class ModelStage:
    """Calls ``plugin`` for each job, as agreed in ``layout``."""

    def __init__(self, plugin: Separator, layout: Layout) -> None:
        self.plugin = plugin
        self.layout = layout
        #: samples per hop result: the hop, plus the overlap of a windowed plugin
        self.out_len = layout.hop + (layout.crossfade if layout.windowed else 0)
        self._idle = False  # the last hop had no prompt of this plugin's (it was not called)

    def compute(self, job: Job) -> tuple[np.ndarray, tuple[str, ...]]:
        lay = self.layout
        if not job.prompts:  # none of this plugin's stems is playing: it rests
            self._idle = True
            return np.zeros((self.out_len, 0, lay.stream_channels), np.float32), ()
        if self._idle and not lay.windowed:  # a stateful plugin back from rest: a fresh stream
            self.plugin.reset()
        self._idle = False
        out = self.plugin.process(lay.group(job.window.T), list(job.prompts))
        out = np.asarray(out, dtype=np.float32)
        if not np.isfinite(out).all():
            raise SeparatorError(f"model '{self.plugin.name}' returned non-finite samples (NaN or Inf)")
        self._check_shape(out, len(job.prompts))
        flat = lay.ungroup(out[..., -self.out_len :])
        return np.ascontiguousarray(flat.transpose(2, 0, 1)), job.prompts

    def _check_shape(self, out: np.ndarray, prompts: int) -> None:
        lay, want = self.layout, self.out_len
        shape = (prompts, lay.groups, lay.group_channels)
        if out.ndim != 4 or out.shape[:3] != shape or out.shape[3] < want or (
            not lay.windowed and out.shape[3] != lay.hop
        ):
            raise SeparatorError(
                f"model '{self.plugin.name}' returned shape {out.shape}, expected ({shape[0]}, {shape[1]}, "
                f"{shape[2]}, {'>=' if lay.windowed else ''}{want})"
            )
