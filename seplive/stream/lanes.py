"""Several plugins in one session, a plugin per prompt: one engine ("lane") per plugin.

Every lane is an :class:`~seplive.stream.engine.Engine` fed the same input, with its own
hop, windows, resamplers, model thread, deadlines and miss fallback.  All lanes share the
session's whole prompt vocabulary, so their mix states (gains, solo, rest, wet, master,
ramps) are the same: each change is posted to every lane.  A lane computes only the
prompts its plugin serves.

Each lane hands over its part of the mix as two signals (see ``Engine.pull_mix``): the
stem part, sum over its stems of (gain - rest gain) x stem, and the gain of the dry input.
The lanes are delayed to the slowest one's latency, their stem parts (and tapped stems, a
lane's tap of a stem it does not serve being silent) add up, and the dry input gets the
smallest lane's gain.  While every lane plays, those gains are equal; when one lane misses
a hop, its stems fall back into rest for that hop (every lane missing: the dry input, as
with one plugin).  ``rest`` stays the input minus the selected stems throughout.
"""

from __future__ import annotations

import copy
from dataclasses import fields, replace

import numpy as np

from ..models.base import Separator
from .engine import Engine, EngineConfig, EngineCounters
from .mix import MixChange, MixSettings

#: counters about the input (the same in every lane: taken from the first)
_INPUT_COUNTERS = {"nonfinite_blocks", "clipped_blocks", "denormal_blocks", "dc_blocks", "rejected_changes"}


class _MixFanout:
    """The lanes' mix states as one: changes go to every lane, reads come from the first."""

    def __init__(self, lanes: list[Engine]) -> None:
        self._lanes = lanes

    def post(self, change: MixChange) -> None:
        for lane in self._lanes:
            lane.mix.post(copy.deepcopy(change))

    def __getattr__(self, name: str):
        return getattr(self._lanes[0].mix, name)


class LaneEngine:
    """Runs ``routes``, a list of (plugin, prompts it serves), as aligned lanes.

    It answers what the session, the controls and the status view ask of an
    :class:`Engine` (push, pull, latency, mix, meters, counters); ``lanes`` are the
    engines, the first one the session's main model (its block, hop and limiter).
    """

    def __init__(self, routes: list[tuple[Separator, tuple[str, ...]]], mix: MixSettings, config: EngineConfig) -> None:
        vocabulary = tuple(dict.fromkeys(p for _, served in routes for p in served))
        self.lanes: list[Engine] = []
        try:
            for i, (plugin, served) in enumerate(routes):
                cfg = replace(config, vocabulary=vocabulary, serves=tuple(served))
                if i:  # the lanes advance together: one block size, one limiter (on the first);
                    # --hop and the windows are the first plugin's, the others keep their own
                    cfg = replace(cfg, block_samples=self.lanes[0].block, limiter=False, hop_samples=None,
                                  context_samples=None, lookahead_samples=None, hop_ms=None,
                                  context_ms=None, lookahead_ms=None)
                self.lanes.append(Engine(plugin, copy.deepcopy(mix), cfg))
            target = max(lane.mix_latency for lane in self.lanes)
            for lane in self.lanes:
                lane.align_to(target)
        except BaseException:
            for lane in self.lanes:
                lane.close()
            raise
        self.main = self.lanes[0]
        self.mix = _MixFanout(self.lanes)
        self.vocabulary = list(vocabulary)

    # -- what a session reads off its engine: the main lane's stream layout -----------------
    @property
    def block(self) -> int:
        return self.main.block

    @property
    def hop(self) -> int:
        return self.main.hop

    @property
    def model_rate(self) -> int:
        return self.main.model_rate

    @property
    def out_rate(self) -> int:
        return self.main.out_rate

    @property
    def channels(self) -> int:
        return self.main.channels

    @property
    def config(self) -> EngineConfig:
        return self.main.config

    @property
    def context(self) -> int:
        return self.main.context

    @property
    def lookahead(self) -> int:
        return self.main.lookahead

    @property
    def crossfade(self) -> int:
        return self.main.crossfade

    @property
    def compute_budget(self) -> int:
        return self.main.compute_budget

    @property
    def latency_samples(self) -> int:
        """The same in every lane once aligned (the limiter's look-ahead, if any, is the main's)."""
        return self.main.latency_samples

    @property
    def stem_tap(self) -> list[str]:
        return self.main.stem_tap

    @property
    def last_stems(self) -> np.ndarray | None:
        return self.main.last_stems

    @property
    def fx(self):
        """The main lane's effect rack (each lane runs the effects of the stems it serves)."""
        return self.main.fx

    def served_by(self) -> dict[str, str]:
        """Which plugin computes each prompt of the vocabulary."""
        return {p: lane.plugin.name for lane in self.lanes for p in lane.vocabulary if p in lane.serves}

    @property
    def prompts(self) -> list[str]:
        return self.main.prompts

    @property
    def slowest(self) -> Engine:
        """The lane the others wait for (no alignment delay of its own)."""
        return min(self.lanes, key=lambda lane: lane.align_delay)

    def latency_breakdown(self) -> dict[str, float]:
        return self.slowest.latency_breakdown()

    @property
    def compute_stats(self):
        """The compute times of the lane closest to its hop budget (p99 over hop)."""
        def load(lane: Engine) -> float:
            return lane.compute_stats.percentile_ms(99) * lane.model_rate / lane.hop
        return max(self.lanes, key=load).compute_stats

    def lane_report(self) -> list[dict]:
        """Per lane: the plugin, the prompts it serves, its hop, timings and misses."""
        out = []
        for lane in self.lanes:
            st, c = lane.compute_stats, lane.counters
            out.append({
                "model": lane.plugin.name,
                "serves": [p for p in lane.vocabulary if p in lane.serves],
                "hop_samples": lane.hop,
                "model_rate": lane.model_rate,
                "own_latency_samples": lane.mix_latency - lane.align_delay,
                "compute_ms_p50": st.percentile_ms(50),
                "compute_ms_p99": st.percentile_ms(99),
                "deadline_misses": c.deadline_misses,
                "plugin_errors": c.plugin_errors,
                "bypassed": c.bypassed,
            })
        return out

    @property
    def counters(self) -> EngineCounters:
        """The lanes' counters added up (input counters once; bypassed: any lane)."""
        total = EngineCounters()
        for f in fields(EngineCounters):
            values = [getattr(lane.counters, f.name) for lane in self.lanes]
            if f.name in _INPUT_COUNTERS:
                value = values[0]
            elif f.name == "bypassed":
                value = any(values)
            elif f.name == "deadline_margin_ms_min":
                known = [v for v in values if v is not None]
                value = min(known) if known else None
            elif f.name in ("last_error", "overload_advice"):
                value = next((v for v in values if v), "")
            elif f.name == "error_kinds":
                value = {}
                for v in values:
                    for k, n in v.items():
                        value[k] = value.get(k, 0) + n
            else:
                value = sum(values)
            setattr(total, f.name, value)
        return total

    @property
    def meters(self) -> dict[str, tuple[float, float]]:
        m = dict(self.main.meters)
        for lane in self.lanes[1:]:
            m.update({k: v for k, v in lane.meters.items() if k in lane.serves})
        return m

    def miss_causes(self) -> dict:
        causes = [lane.miss_causes() for lane in self.lanes]
        out: dict = {}
        for key in causes[0]:
            values = [c[key] for c in causes if c[key] is not None]
            if key == "deadline_margin_ms_min":
                out[key] = min(values) if values else None
            elif key.endswith("_max"):
                out[key] = max(values) if values else 0.0
            else:
                out[key] = sum(values)
        return out

    @property
    def skipped_hops(self) -> int:
        return sum(lane.skipped_hops for lane in self.lanes)

    # -- streaming ---------------------------------------------------------------------
    def push(self, block: np.ndarray) -> None:
        for lane in self.lanes:
            lane.push(block)

    def pull(self, frames: int, deadline: float | None = None) -> np.ndarray:
        parts = [lane.pull_mix(frames, deadline) for lane in self.lanes]
        dry_gain = self.main.columns.dry_gain
        z = parts[0][0].copy()
        for zi, _ in parts[1:]:
            z += zi
        z[:, dry_gain] = np.min(np.stack([zi[:, dry_gain] for zi, _ in parts]), axis=0)
        return self.main.finish_block(z, parts[0][1])

    def reset_stream(self) -> None:
        for lane in self.lanes:
            lane.reset_stream()

    def close(self) -> None:
        for lane in self.lanes:
            lane.close()
