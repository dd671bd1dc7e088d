"""Timing: the latency plan of one engine, fixed before the first sample.

Output sample ``k`` is the mix for input sample ``k - latency``.  The latency (output
samples) is

* ``stem_delay``: crossfade + plugin delay + alignment pad (model samples; the pad makes
  the stem signal's delay a whole number of output samples), plus
* ``slack``: the most the stem signal ever lags behind what the output needs, found once
  by running the same resamplers and hop logic on silence (hop buffering, lookahead and
  the resamplers' bursts), plus
* ``compute_budget``: the model time per hop live (``compute_budget_hops`` hops), plus
* ``align_delay``: a wait to line up with a slower plugin of the same session, plus
* ``limiter_delay``: the master limiter's look-ahead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ..models.base import Layout
from .resample import StreamResampler


@dataclass(frozen=True)
class LatencyPlan:
    """Sample counts at the model rate: ``hop``, ``context``, ``lookahead``, ``crossfade``,
    ``plugin_delay``, ``align_pad``; at the output rate: ``stem_delay``, ``slack``,
    ``compute_budget``, ``align_delay``, ``limiter_delay``; ``block`` at the source rate."""

    source_rate: int
    model_rate: int
    out_rate: int
    block: int
    hop: int
    context: int
    lookahead: int
    windowed: bool
    crossfade: int
    plugin_delay: int
    align_pad: int
    stem_delay: int
    compute_budget: int
    limiter_delay: int
    slack: int = 0
    align_delay: int = 0

    @classmethod
    def make(cls, layout: Layout, source_rate: int, block: int | None, budget_hops: float | None,
             limiter_delay: int) -> LatencyPlan:
        """The plan for ``layout`` (slack still 0: see :func:`simulate_slack`)."""
        model_rate, out_rate = layout.rate, source_rate
        q = model_rate // math.gcd(model_rate, out_rate)
        align_pad = (-(layout.crossfade + layout.delay)) % q
        stem_delay = (layout.crossfade + layout.delay + align_pad) * out_rate // model_rate
        hops = layout.compute_budget_hops if budget_hops is None else budget_hops
        return cls(
            source_rate=source_rate, model_rate=model_rate, out_rate=out_rate,
            block=int(block or max(1, round(layout.hop * source_rate / model_rate))),
            hop=layout.hop, context=layout.context, lookahead=layout.lookahead, windowed=layout.windowed,
            crossfade=layout.crossfade, plugin_delay=layout.delay, align_pad=align_pad, stem_delay=stem_delay,
            compute_budget=int(math.ceil(hops * layout.hop * out_rate / model_rate)), limiter_delay=limiter_delay,
        )  # fmt: skip

    @property
    def behind(self) -> int:
        """Output samples the stem signal may lag behind the output position."""
        return self.slack + self.compute_budget + self.align_delay

    @property
    def mix_latency(self) -> int:
        """Input to the mix, before the master limiter, in output samples."""
        return self.stem_delay + self.behind

    @property
    def latency(self) -> int:
        """Input to output, in output samples."""
        return self.mix_latency + self.limiter_delay

    def window_bounds(self, hop: int) -> tuple[int, int]:
        """Model-rate sample range ``[start, end)`` of hop ``hop``'s input window."""
        start = hop * self.hop - (self.context if self.windowed else 0)
        return start, (hop + 1) * self.hop + self.lookahead

    def aligned(self, mix_latency: int) -> LatencyPlan:
        """The same plan waiting ``align_delay`` so the mix latency is ``mix_latency``
        (ValueError if that is below its own)."""
        extra = int(mix_latency) - (self.mix_latency - self.align_delay)
        if extra < 0:
            raise ValueError(f"it needs {self.mix_latency - self.align_delay}")
        return replace(self, align_delay=extra)

    def breakdown(self, fx_delay: int) -> dict[str, float]:
        """Parts of the latency in milliseconds (``fx_delay``: model samples of effects)."""
        to_ms, out_ms = 1000.0 / self.model_rate, 1000.0 / self.out_rate
        return {
            "crossfade_ms": self.crossfade * to_ms,
            "model_delay_ms": self.plugin_delay * to_ms,
            "alignment_ms": self.align_pad * to_ms + self.align_delay * out_ms,
            "buffering_ms": self.slack * out_ms,
            "compute_budget_ms": self.compute_budget * out_ms,
            "hop_ms": self.hop * to_ms,
            "lookahead_ms": self.lookahead * to_ms,
            "fx_ms": fx_delay * to_ms,
            "limiter_ms": self.limiter_delay * out_ms,
        }


def simulate_slack(plan: LatencyPlan, channels: int, width: int, quality: str) -> int:
    """Run the resamplers and the hop logic on silence; return the largest lag (output
    samples) of the stem signal (``width`` columns) behind what the output needs."""
    in_rs = StreamResampler(plan.source_rate, plan.model_rate, channels, quality)
    out_rs = StreamResampler(plan.model_rate, plan.out_rate, width, quality)
    zin = np.zeros((plan.block, channels), np.float32)
    zhop = np.zeros((plan.hop, width), np.float32)
    m_end, hop, z_end, worst = plan.align_pad, 0, 0, 0
    blocks = max(64, int(math.ceil(4.0 * plan.source_rate / plan.block)),
                 8 * int(math.ceil(plan.hop * plan.source_rate / plan.model_rate / plan.block)))
    for n in range(blocks):
        m_end += len(in_rs.process(zin))
        while m_end >= plan.window_bounds(hop)[1]:
            z_end += len(out_rs.process(zhop))
            hop += 1
        worst = max(worst, (n + 1) * plan.block - z_end)
    return worst
