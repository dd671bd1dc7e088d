"""The streaming engine: blocks in, separated and remixed blocks out, at a fixed latency.

Data path for one block of ``block_samples`` source frames::

    source rate --conditioning--> in resampler --> model rate FIFO --hops--> model stage
         |                                                  (inline or thread)  |
         |                           mixer: overlap crossfade, mix, dry fallback, effects
         |                                                                      |
         +--dry FIFO (source rate)       out resampler <-- mix signal (MixColumns)
                     \\                        /
                      +---- mix at source rate: stem part + dry gain x dry, limiter ----> out

The engine is a conductor of named stages, each in its own module: input conditioning
(:mod:`.conditioning`), the latency plan (:mod:`.timing`), hop scheduling of mix changes
(:mod:`.schedule`), the model call (:mod:`.model_stage`), crossfade and mix
(:mod:`.mixer`), effects and limiter (:mod:`.effects`), meters (:mod:`.meters`) and
counters (:mod:`.counters`).  The plugin is configured once through
:meth:`~seplive.models.base.Separator.configure`, which answers the layout all of them use.

Timing is bookkept by absolute sample index, so the latency is exact by construction:
output sample ``k`` is the mix for input sample ``k - latency_samples`` (see
:mod:`.timing` for its parts).  A hop whose result is not there when the output needs it
(deadline miss), or whose plugin raised or returned the wrong shape, plays the delayed dry
input instead, crossfaded in and out over the crossfade length; it is counted, and stale
hops are skipped so latency never grows.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, replace

import numpy as np

from ..models.base import Separator, SeparatorError, StreamSpec, ms_to_samples
from ..models.prompts import REST
from .apply import process_array, stream_array
from .conditioning import InputConditioner
from .counters import BYPASSED, EngineCounters, HopHealth, miss_causes
from .effects import EffectsStage, limiter_delay, make_rack
from .fifo import IndexedFifo
from .meters import Meters
from .mix import MixSettings, MixState
from .mixer import MixColumns, Mixer
from .model_stage import ModelStage
from .resample import StreamResampler
from .runner import InlineRunner, Job, ThreadedRunner
from .schedule import HopScheduler
from .timing import LatencyPlan, simulate_slack

__all__ = ["Engine", "EngineConfig", "EngineCounters", "ms_to_samples", "process_array", "stream_array"]

log = logging.getLogger("seplive.engine")

#: default crossfades (ms): two windows of a windowed plugin overlap by this much ...
WINDOWED_CROSSFADE_MS = 5.0
#: ... and a stateful plugin's output fades to the dry input and back around a missed hop
#: over this much (held back from every hop, so it is latency; 2 ms of a raised-cosine fade
#: moves no energy above a few hundred Hz: no click, tests/unit/test_engine.py measures it)
MISS_FADE_MS = 2.0


@dataclass
class EngineConfig:
    """Settings of one engine.  Sample counts are at the model rate unless named otherwise."""

    source_rate: int
    channels: int
    #: frames per push/pull at the source rate (a device's block size; files use the hop)
    block_samples: int | None = None
    hop_samples: int | None = None
    context_samples: int | None = None
    lookahead_samples: int | None = None
    #: the same three in milliseconds, used where the sample count is None: converted at
    #: the model's rate, the hop rounded up to the plugin's hop multiple (see ms_to_samples)
    hop_ms: float | None = None
    context_ms: float | None = None
    lookahead_ms: float | None = None
    #: the overlap crossfade of windowed plugins and the miss fade of all; None: 5 ms for a
    #: windowed plugin (two windows' overlap), 2 ms for a stateful one (it fades only
    #: around a missed hop, and every sample of it is latency)
    crossfade_ms: float | None = None
    #: model time granted per hop live, in hops (part of the latency)
    compute_budget_hops: float | None = None
    resample_quality: str = "HQ"
    ramp_ms: float = 10.0
    device: str = "cpu"
    #: run the model on its own thread with deadlines (live and --realtime)
    threaded: bool = False
    #: SCHED_FIFO priority of the model thread (0: the normal scheduler; see stream/priority.py)
    rt_priority: int = 0
    #: also deliver the selected stems and rest one by one (``Engine.last_stems``)
    stem_outputs: bool = False
    #: master look-ahead limiter on the output (adds its look-ahead to the latency)
    limiter: bool = False
    limiter_ceiling_db: float = -0.5
    limiter_lookahead_ms: float = 1.5
    #: when several plugins share a session (one per prompt, see seplive.stream.lanes): the
    #: session's whole prompt vocabulary (the mix's rows, in this order) ...
    vocabulary: tuple[str, ...] | None = None
    #: ... and the prompts this engine's plugin computes (None: all it knows)
    serves: tuple[str, ...] | None = None


def stream_spec(cfg: EngineConfig, windowed: bool) -> StreamSpec:
    """What an engine with ``cfg`` asks of its plugin (``windowed``: the plugin's kind)."""
    fade_ms = cfg.crossfade_ms if cfg.crossfade_ms is not None else (
        WINDOWED_CROSSFADE_MS if windowed else MISS_FADE_MS)
    return StreamSpec(rate=int(cfg.source_rate), channels=int(cfg.channels), hop_samples=cfg.hop_samples,
                      hop_ms=cfg.hop_ms, context_samples=cfg.context_samples, context_ms=cfg.context_ms,
                      lookahead_samples=cfg.lookahead_samples, lookahead_ms=cfg.lookahead_ms,
                      crossfade_ms=fade_ms, device=cfg.device)  # fmt: skip


def _planned(name: str, doc: str) -> property:
    """A read-only view of the latency plan's ``name``."""
    return property(lambda self: getattr(self.timing, name), doc=doc)


class Engine:
    """Runs a :class:`Separator` over a stream of blocks.  See the module docstring."""

    hop = _planned("hop", "Model samples per hop.")
    context = _planned("context", "Past model samples a windowed plugin gets per hop.")
    lookahead = _planned("lookahead", "Future model samples the plugin gets per hop (latency).")
    crossfade = _planned("crossfade", "Model samples of the overlap / miss fade.")
    compute_budget = _planned("compute_budget", "Output samples of model time per hop live.")
    block = _planned("block", "Source frames per push/pull.")
    slack = _planned("slack", "Output samples the stem signal may lag (buffering).")
    align_delay = _planned("align_delay", "Output samples waited to line up with a slower lane.")
    limiter_delay = _planned("limiter_delay", "Output samples of the limiter's look-ahead.")
    mix_latency = _planned("mix_latency", "Input to the mix, before the master limiter, in output samples.")
    latency_samples = _planned("latency", "Input to output, in output samples.")

    def __init__(self, plugin: Separator, mix: MixSettings, config: EngineConfig) -> None:
        self.plugin, self.config, cfg = plugin, config, config
        self.source_rate = self.out_rate = int(cfg.source_rate)
        self.channels = int(cfg.channels)
        if self.channels < 1:
            raise SeparatorError("the input has no channels")
        self.vocabulary = list(dict.fromkeys(cfg.vocabulary or plugin.prompts))
        self.serves = frozenset(plugin.prompts if cfg.serves is None else cfg.serves)
        plugin.check_prompts(sorted(self.serves))
        self.check_prompts(mix.stems)
        if not mix.stems:
            raise SeparatorError("no stems selected: give --prompts or --mute")
        lay = self.layout = plugin.configure(stream_spec(cfg, plugin.windowed))
        self.model_rate, self.windowed = lay.rate, lay.windowed
        #: stems also delivered one by one (``pull`` then sets ``last_stems``), for --stems-out
        self.stem_tap: list[str] = list(mix.stems) if cfg.stem_outputs else []
        self.columns = MixColumns(self.channels, tuple(self.stem_tap))
        self.last_stems: np.ndarray | None = None
        plan = LatencyPlan.make(lay, self.source_rate, cfg.block_samples, cfg.compute_budget_hops,
                                limiter_delay(cfg, self.out_rate))
        self.timing = replace(plan, slack=simulate_slack(plan, self.channels, self.columns.width, cfg.resample_quality))
        self.mix = MixState(mix, self.vocabulary, ramp_samples=round(cfg.ramp_ms * lay.rate / 1000.0))
        self.counters = EngineCounters()
        self._meters = Meters()
        #: per-stem effects (None: none configured and pyo missing); chains start lazily
        self.fx = make_rack(cfg, mix, self.check_prompts, lay.rate, self.channels, lay.hop, self.mix.ramp_samples)
        self.effects = EffectsStage(cfg, self.fx, self.out_rate, self.channels, len(self.stem_tap))
        # a stem leaving the selection is still computed while it fades out
        linger = int(math.ceil((self.mix.ramp_samples + lay.crossfade) / lay.hop)) + 1
        self.schedule = HopScheduler(self.mix, self.serves, linger, self.counters, self.check_prompts,
                                     self.effects.check_change)
        self.model = ModelStage(plugin, lay)
        self.mixer = Mixer(self.mix, self.columns, lay.hop, lay.crossfade, lay.windowed)
        self.health = HopHealth(self.counters, plugin.name, 1000.0 * lay.hop / lay.rate, lay.windowed)
        self._input = InputConditioner(self.source_rate, self.channels, self.counters, self._meters)
        self._runner: InlineRunner | ThreadedRunner | None = None
        self.reset_stream()

    # ------------------------------------------------------------------------------------
    def reset_stream(self) -> None:
        """Start a fresh stream: empty buffers, sample index 0."""
        self.plugin.reset()
        cfg, t, C = self.config, self.timing, self.channels
        self._in_rs = StreamResampler(t.source_rate, t.model_rate, C, cfg.resample_quality)
        self._out_rs = StreamResampler(t.model_rate, t.out_rate, self.columns.width, cfg.resample_quality)
        self._mfifo = IndexedFifo(C, capacity=4 * (t.context + t.hop + t.lookahead) + 4096)
        self._mfifo.push(np.zeros((t.align_pad, C), np.float32))
        self._dry = IndexedFifo(C, capacity=4 * (t.latency + t.block) + 4096)
        self._z = IndexedFifo(self.columns.width, capacity=4 * (t.behind + t.block) + 4096)
        self._next_submit = 0  # next hop whose window is submitted
        self._next_final = 0  # next hop to finalise
        self._out_pos = 0  # absolute index of the next output sample
        self.mixer.reset()
        self.schedule.reset()
        self.effects.reset()
        if self._runner is not None:
            self._runner.close()
        if cfg.threaded:
            skip_cb = None if self.windowed else self.plugin.reset
            self._runner = ThreadedRunner(self.model.compute, skip_stale=True, on_skip=skip_cb,
                                          rt_priority=cfg.rt_priority)
        else:
            self._runner = InlineRunner(self.model.compute, skip_stale=False)

    def align_to(self, mix_latency: int) -> None:
        """Delay this engine's output to ``mix_latency`` samples (at least its own): the
        stems of several plugins then meet at the output.  Restarts the stream."""
        try:
            self.timing = self.timing.aligned(mix_latency)
        except ValueError:
            raise SeparatorError(f"cannot align model '{self.plugin.name}' to {mix_latency} samples:"
                                 f" it needs {self.mix_latency}") from None
        self.reset_stream()

    def close(self) -> None:
        """Stop the model thread and let the plugin finish (save what it records...)."""
        self._runner.close()
        self.health.summary()
        self.effects.close()
        finish = getattr(self.plugin, "close", None)
        if callable(finish):
            try:
                finish()
            except Exception as exc:  # a plugin failing to close must not lose the output
                log.warning("closing model '%s' failed: %s", self.plugin.name, exc)

    # -- introspection -------------------------------------------------------------------
    @property
    def prompts(self) -> list[str]:
        """The current selection."""
        return list(self.mix.settings.stems)

    @property
    def meters(self) -> dict[str, tuple[float, float]]:
        """Latest levels, linear (peak, RMS): ``input``, ``output`` and each stem."""
        return self._meters.levels

    @property
    def limiter(self):
        """The master limiter (None unless configured)."""
        return self.effects.limiter

    @property
    def compute_stats(self):
        return self._runner.stats

    @property
    def skipped_hops(self) -> int:
        """Stale hops the model thread never computed (their time had passed)."""
        return self._runner.skipped

    def latency_breakdown(self) -> dict[str, float]:
        """Parts of the latency, in milliseconds."""
        return self.timing.breakdown(self.fx.delay_samples if self.fx is not None else 0)

    def check_prompts(self, names) -> None:
        """Raise SeparatorError for a stem nobody in this session serves."""
        if self.config.vocabulary is None:
            self.plugin.check_prompts([n for n in names if n != REST])
            return
        for n in names:
            if n != REST and n not in self.vocabulary:
                raise SeparatorError(f"no model in this session serves '{n}'; they serve: {' '.join(self.vocabulary)}")

    def miss_causes(self) -> dict[str, float | int | None]:
        """Deadline misses by cause and the model thread's timings (see EngineCounters)."""
        return miss_causes(self.counters, self._runner)

    # -- streaming -----------------------------------------------------------------------
    def push(self, block: np.ndarray) -> None:
        """Feed ``(frames, channels)`` float32 input at the source rate."""
        block = self._input.clean(block)
        self._dry.push(block)
        self._mfifo.push(self._in_rs.process(block))
        self.schedule.take_changes(self._next_submit)
        t = self.timing
        while True:
            lo, hi = t.window_bounds(self._next_submit)
            if self._mfifo.end < hi:
                break
            if not self.counters.bypassed:
                prompts = self.schedule.job_prompts(self._next_submit)
                self._runner.submit(Job(self._next_submit, self._mfifo.read(lo, hi - lo), prompts))
            self._next_submit += 1
            self._mfifo.discard_before(t.window_bounds(self._next_submit)[0])
        while self._next_final < self._next_submit and self._next_final in self._runner.results:
            self._finalise(self._next_final, self._runner.take(self._next_final))

    def _finalise(self, hop: int, result: object) -> None:
        """Mix hop ``hop`` (``result``: see :mod:`.counters`) and send it to the out resampler."""
        g = self.schedule.hop_gains(hop, self.hop, self.crossfade)
        self.health.note(result, hop, self._runner.stats)
        hs = self.mixer.split(result)
        if hs.body is not None:
            self._meters.stems(hs.body, hs.prompts)
        part, env = self.mixer.crossfade_pieces(*self.mixer.mixed_pieces(hs, g))
        if self.fx is not None:
            self.effects.apply_hop(part, g, hs, self.mix, self.hop, self.mixer.crossfade_pieces)
        self._z.push(self._out_rs.process(self.mixer.columns_for(part, env, g, hs)))
        self._next_final = hop + 1
        self._runner.first_useful_hop = hop + 1

    def pull(self, frames: int, deadline: float | None = None) -> np.ndarray:
        """Return the next ``(frames, channels)`` output block.

        A hop the block needs whose result is not there yet is waited for until
        ``deadline`` (``time.monotonic()``; live outputs pass the time their buffer runs
        dry), then played dry and counted as a miss.
        """
        z, dry = self.pull_mix(frames, deadline)
        return self.finish_block(z, dry)

    def pull_mix(self, frames: int, deadline: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The next ``frames`` of the mix as its two signals, before they are combined:
        ``z`` (frames, :class:`MixColumns` width): the stem part of the mix, the gain of the
        dry input, then the tapped stems; and ``dry`` (frames, C), the input delayed to line up."""
        t, cols = self.timing, self.columns
        pos, behind = self._out_pos, t.behind
        if deadline is not None:
            self.counters.deadline_pulls += 1
        self._finalise_until(pos + frames - behind, deadline)
        zlo = pos - behind
        z = self._z.read(zlo, frames)
        if self._z.end < zlo + frames:  # never computed (underflow): play dry there
            z[max(self._z.end - zlo, 0) :, cols.dry_gain] = 1.0
            z[max(self._z.end - zlo, 0) :, cols.tapped] = 0.0
        dry = self._dry.read(pos - t.mix_latency, frames)
        self._z.discard_before(zlo + frames)
        self._dry.discard_before(pos - t.mix_latency + frames)
        self._out_pos += frames
        return z, dry

    def _finalise_until(self, need_end: int, deadline: float | None) -> None:
        """Finalise hops until the mix signal reaches ``need_end`` (output samples), waiting
        for a threaded model's results until ``deadline``; count an underflow short of it."""
        runner, asked = self._runner, None
        while self._z.end < need_end and self._next_final < self._next_submit:
            hop = self._next_final
            if runner.threaded:
                asked = time.monotonic() if asked is None else asked
                # one wait per stall: while a hop that already missed is still being computed
                # the worker is held up, and waiting again would only drain the output ring
                # block by block down to its reserve; play dry at once until it is back
                if deadline is not None and hop not in runner.results and not runner.stalled:
                    runner.wait_for(hop, deadline)
                result = runner.take(hop, missed_at=asked if deadline is None else deadline)
                self.health.count_deadline(result, asked, deadline, self.compute_budget / self.out_rate)
            else:
                result = runner.take(hop)
            self._finalise(hop, result)
        if self.counters.bypassed:
            while self._next_final < self._next_submit:
                self._finalise(self._next_final, BYPASSED)
        runner.drop_before(self._next_final)
        if self._z.end < need_end:
            self.counters.underflows += 1

    def finish_block(self, z: np.ndarray, dry: np.ndarray) -> np.ndarray:
        """Combine :meth:`pull_mix`'s signals into the output block: the stem part plus
        the dry input at its gain, the tapped stems and rest, the master limiter, meters."""
        cols, C = self.columns, self.channels
        out = z[:, cols.stems] + z[:, cols.dry_gain : cols.dry_gain + 1] * dry
        stems = None
        if self.stem_tap:
            tapped = z[:, cols.tapped].reshape(len(z), len(self.stem_tap), C)
            stems = np.concatenate([tapped, (dry - tapped.sum(axis=1))[:, None]], axis=1)
        out, stems = self.effects.limit(out, stems)
        if stems is not None:
            self.last_stems = stems
        self._meters.signal("output", out)
        return out
