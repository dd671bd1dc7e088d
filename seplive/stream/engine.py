"""The streaming engine: blocks in, separated and remixed blocks out, at a fixed latency.

Data path for one block of ``block_samples`` source frames::

    source rate --in resampler--> model rate FIFO --hops--> plugin (inline or thread)
         |                                                      |
         |                                    finalise hop: overlap crossfade, dry fallback
         |                                                      |
         +--dry FIFO (source rate)       out resampler <--------+  (stems + wet envelope)
                     \\                        /
                      +---- mix at source rate: gains, rest = dry - stems, wet/dry ----> out

Timing is bookkept by absolute sample index, so the latency is exact by construction:
output sample ``k`` is the mix for input sample ``k - latency_samples``.  The latency is

* ``crossfade + plugin delay + alignment pad`` (the stem signal's own delay, made a whole
  number of output samples), plus
* ``slack``: the most the stem signal ever lags behind what the output needs, found once
  by running the same resamplers and hop logic on silence (hop buffering, lookahead and
  the resamplers' bursts), plus
* a compute budget of ``compute_budget_hops`` hops (by default the plugin's own
  ``compute_budget_hops``), the time the model gets per hop live.

A hop whose result is not there when the output needs it (deadline miss), or whose plugin
raised or returned the wrong shape, plays the delayed dry input instead, crossfaded in and
out over the crossfade length; it is counted, and stale hops are skipped so latency never
grows.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np

from ..control.mix import KINDS, MixChange, MixSettings, MixState
from ..fx import hooks as fx_hooks
from ..models.base import Separator, SeparatorError
from ..models.prompts import REST
from .fifo import IndexedFifo
from .resample import StreamResampler
from .runner import InlineRunner, Job, ThreadedRunner

log = logging.getLogger("seplive.engine")

#: after this many consecutive failing hops the model is bypassed for the session
MAX_CONSECUTIVE_FAILURES = 50
#: the result of a hop while the model is bypassed (plays dry; not a new failure)
_BYPASSED = RuntimeError("bypassed")
#: a mean input level over about a second beyond this is a DC offset (counted)
DC_LIMIT = 0.05
#: deadline misses (and at least 5 % of hops) before the too-slow advice is given, once
OVERLOAD_MISSES = 20
#: default crossfades (ms): two windows of a windowed plugin overlap by this much ...
WINDOWED_CROSSFADE_MS = 5.0
#: ... and a stateful plugin's output fades to the dry input and back around a missed hop
#: over this much (held back from every hop, so it is latency; 2 ms of a raised-cosine fade
#: moves no energy above a few hundred Hz: no click, tests/test_engine.py measures it)
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


@dataclass
class EngineCounters:
    hops: int = 0
    deadline_misses: int = 0
    #: the misses by cause: ``misses_no_time``, the output could not give the model its
    #: compute budget when it asked for the hop (its buffer was nearly dry already: the
    #: input came late or the loop was held up); ``misses_late``, the model had its budget
    #: or more and did not finish (a model too slow for the hop, or its thread stalled)
    misses_no_time: int = 0
    misses_late: int = 0
    #: the closest a hop the output waited for came to its deadline (ms; None: none waited)
    deadline_margin_ms_min: float | None = None
    #: output blocks pulled against a live output's deadline (0: nothing set one, e.g. files)
    deadline_pulls: int = 0
    skipped_hops: int = 0
    plugin_errors: int = 0
    underflows: int = 0
    nonfinite_blocks: int = 0
    #: input blocks at full scale (clipped before us), all-denormal (zeroed), with a large DC offset
    clipped_blocks: int = 0
    denormal_blocks: int = 0
    dc_blocks: int = 0
    rejected_changes: int = 0
    bypassed: bool = False
    last_error: str = ""
    #: the too-slow advice, once given ("" before)
    overload_advice: str = ""
    error_kinds: dict[str, int] = field(default_factory=dict)


def ms_to_samples(samples: int | None, ms: float | None, rate: int, multiple: int = 1) -> int | None:
    """A window length given in samples or in milliseconds, as samples at ``rate``: the
    sample count when given, else ``ms`` rounded up to a whole ``multiple`` (at least one).
    The one rule for ``--hop``/``--hop-ms`` and friends, in ``run`` and in ``eval``."""
    if samples is not None:
        return int(samples)
    if ms is None:
        return None
    m = max(int(multiple), 1)
    return max(m, int(math.ceil(round(float(ms) * rate / 1000.0, 6) / m)) * m) if m > 1 else int(
        math.ceil(round(float(ms) * rate / 1000.0, 6)))


class Engine:
    """Runs a :class:`Separator` over a stream of blocks.  See the module docstring."""

    def __init__(self, plugin: Separator, mix: MixSettings, config: EngineConfig) -> None:
        self.plugin = plugin
        self.config = config
        cfg = config
        self.source_rate = int(cfg.source_rate)
        self.out_rate = self.source_rate
        self.channels = int(cfg.channels)
        if self.channels < 1:
            raise SeparatorError("the input has no channels")
        self.model_rate = int(plugin.sample_rate or self.source_rate)
        plugin.bind_rate(self.model_rate)
        self.vocabulary = list(dict.fromkeys(cfg.vocabulary or plugin.prompts))
        self.serves = frozenset(plugin.prompts if cfg.serves is None else cfg.serves)
        plugin.check_prompts(sorted(self.serves))
        self.check_prompts(mix.stems)
        if not mix.stems:
            raise SeparatorError("no stems selected: give --prompts or --mute")

        # -- windowing -------------------------------------------------------------------
        mult = max(int(plugin.hop_multiple), 1)
        hop = ms_to_samples(cfg.hop_samples, cfg.hop_ms, self.model_rate, mult) or int(plugin.default_hop_samples)
        if hop % mult:
            raise SeparatorError(
                f"hop {hop} samples is not a multiple of {mult}, which model '{plugin.name}' needs"
            )
        self.hop = hop
        self.windowed = bool(plugin.windowed)
        fade_ms = cfg.crossfade_ms if cfg.crossfade_ms is not None else (
            WINDOWED_CROSSFADE_MS if self.windowed else MISS_FADE_MS)
        self.crossfade = min(hop // 2, int(round(fade_ms * self.model_rate / 1000.0)))
        if self.windowed:
            ctx = ms_to_samples(cfg.context_samples, cfg.context_ms, self.model_rate)
            la = ms_to_samples(cfg.lookahead_samples, cfg.lookahead_ms, self.model_rate)
            ctx = plugin.context_samples if ctx is None else ctx
            la = plugin.lookahead_samples if la is None else la
            if ctx < 0 or la < 0:
                raise SeparatorError("context and lookahead must be >= 0 samples")
            # the overlap crossfade needs at least `crossfade` samples of past context
            ctx = max(ctx, self.crossfade)
            ctx = -(-ctx // mult) * mult
            la = -(-la // mult) * mult
            plugin.context_samples = ctx
            plugin.lookahead_samples = la
        else:
            if cfg.context_samples or cfg.context_ms:
                log.info("model '%s' is stateful: --context is ignored", plugin.name)
            if cfg.lookahead_samples or cfg.lookahead_ms:
                raise SeparatorError(
                    f"model '{plugin.name}' is stateful and sets its own lookahead; drop --lookahead"
                )
            ctx, la = 0, int(plugin.lookahead_samples)
        self.context = ctx
        self.lookahead = la
        plugin.prepare(hop, cfg.device, self.model_rate)
        self.plugin_delay = int(plugin.delay_samples)

        # -- channel layout --------------------------------------------------------------
        if int(plugin.channels) not in (0, 1, 2):
            raise SeparatorError(f"model '{plugin.name}' declares {plugin.channels} channels; 0 (any), 1 or 2 supported")
        if plugin.channels == 0:  # takes every channel at once
            self.model_channels, self.groups = self.channels, 1
        elif plugin.channels == 1:  # mono model: the channels become a batch
            self.model_channels, self.groups = 1, self.channels
        else:  # stereo model: channel pairs (mono duplicated, an odd last channel too)
            self.model_channels, self.groups = 2, (self.channels + 1) // 2
        plugin.prepare_streams(self.groups)
        self._idle = False  # the last hop had no prompt of this plugin's (it was not called)

        # -- alignment: the stem signal's delay must be whole output samples ---------------
        g = math.gcd(self.model_rate, self.out_rate)
        q = self.model_rate // g
        self.align_pad = (-(self.crossfade + self.plugin_delay)) % q
        stem_delay_model = self.crossfade + self.plugin_delay + self.align_pad
        self.stem_delay = stem_delay_model * self.out_rate // self.model_rate

        self.block = int(cfg.block_samples or max(1, round(hop * self.source_rate / self.model_rate)))
        # the model-domain mix travels to the output rate as C + 1 channels: the stem part
        # of the mix, and the gain the dry input gets (see _finalise)
        #: stems also delivered one by one (``pull`` then sets ``last_stems``), for --stems-out
        self.stem_tap: list[str] = list(mix.stems) if cfg.stem_outputs else []
        self._zch = self.channels + 1 + len(self.stem_tap) * self.channels
        self.last_stems: np.ndarray | None = None
        self.slack = self._simulate_slack()
        budget_hops = plugin.compute_budget_hops if cfg.compute_budget_hops is None else cfg.compute_budget_hops
        self.compute_budget = int(math.ceil(budget_hops * hop * self.out_rate / self.model_rate))
        #: output samples this engine waits beyond its own latency, to line up with the
        #: slowest plugin of a session that has several (see :meth:`align_to`)
        self.align_delay = 0
        # the mix before the master limiter, and the limiter's look-ahead on top
        self._mix_latency = self.stem_delay + self.slack + self.compute_budget
        self.limiter_delay = fx_hooks.limiter_delay(cfg, self.out_rate)
        self.latency_samples = self._mix_latency + self.limiter_delay

        # -- state -----------------------------------------------------------------------
        self.mix = MixState(mix, self.vocabulary, ramp_samples=round(cfg.ramp_ms * self.model_rate / 1000.0))
        # a stem leaving the selection is still computed while it fades out
        self._linger_hops = int(math.ceil((self.mix.ramp_samples + self.crossfade) / hop)) + 1
        self.counters = EngineCounters()
        #: per-stem effects (None: none configured and pyo missing); chains start lazily
        self.fx = fx_hooks.make_rack(self, mix)
        #: latest levels, linear peak and RMS per hop/block: {"input": (peak, rms),
        #: "output": ..., "<stem>": ...}; written by the worker, read by anyone (a dict
        #: swap is atomic, so readers see a whole snapshot)
        self.meters: dict[str, tuple[float, float]] = {}
        self._fade_in = (np.sin(0.5 * np.pi * (np.arange(self.crossfade) + 0.5) / max(self.crossfade, 1)) ** 2).astype(
            np.float32
        )
        self._fade_out = (1.0 - self._fade_in).astype(np.float32)
        self._consecutive_failures = 0
        self._dc = np.zeros(self.channels, np.float32)
        self.reset_stream()

    # ------------------------------------------------------------------------------------
    def reset_stream(self) -> None:
        """Start a fresh stream: empty buffers, sample index 0."""
        self.plugin.reset()
        cfg = self.config
        self._in_rs = StreamResampler(self.source_rate, self.model_rate, self.channels, cfg.resample_quality)
        self._out_rs = StreamResampler(self.model_rate, self.out_rate, self._zch, cfg.resample_quality)
        self._mfifo = IndexedFifo(self.channels, capacity=4 * (self.context + self.hop + self.lookahead) + 4096)
        self._mfifo.push(np.zeros((self.align_pad, self.channels), np.float32))
        self._dry = IndexedFifo(self.channels, capacity=4 * (self.latency_samples + self.block) + 4096)
        self._z = IndexedFifo(self._zch, capacity=4 * (self.slack + self.compute_budget + self.align_delay + self.block) + 4096)
        self._next_submit = 0  # next hop whose window is submitted
        self._next_final = 0  # next hop to finalise
        self._tail: tuple[np.ndarray, tuple[str, ...]] | None = (
            np.zeros((self.crossfade, 0, self.channels), np.float32),
            (),
        )
        self._scheduled: list[tuple[int, MixChange]] = []
        self._last_selected = {p: 0 for p in self.mix.settings.stems}
        self._steady_prompts: tuple[str, ...] | None = None
        self._out_pos = 0  # absolute index of the next output sample
        self._in_pos = 0
        self._limiter, self._tap_delay = fx_hooks.make_limiter(self)
        if getattr(self, "fx", None) is not None:
            self.fx.reset()
        if getattr(self, "_runner", None) is not None:
            self._runner.close()
        skip_cb = None if self.windowed else self.plugin.reset
        if cfg.threaded:
            self._runner = ThreadedRunner(self._compute, skip_stale=True, on_skip=skip_cb, rt_priority=cfg.rt_priority)
        else:
            self._runner = InlineRunner(self._compute, skip_stale=False)

    @property
    def mix_latency(self) -> int:
        """Input to the mix, before the master limiter, in output samples."""
        return self._mix_latency

    def align_to(self, mix_latency: int) -> None:
        """Delay this engine's output to ``mix_latency`` samples (at least its own): the
        stems of several plugins then meet at the output.  Restarts the stream."""
        extra = int(mix_latency) - (self._mix_latency - self.align_delay)
        if extra < 0:
            raise SeparatorError(f"cannot align model '{self.plugin.name}' to {mix_latency} samples: it needs {self._mix_latency}")
        self.align_delay = extra
        self._mix_latency = self.stem_delay + self.slack + self.compute_budget + extra
        self.latency_samples = self._mix_latency + self.limiter_delay
        self.reset_stream()

    def close(self) -> None:
        """Stop the model thread and let the plugin finish (save what it records...)."""
        self._runner.close()
        c = self.counters
        if c.plugin_errors:  # the first of each kind was logged when it happened; now the count
            kinds = ", ".join(f"{k} x{n}" for k, n in c.error_kinds.items())
            log.warning("model '%s' failed %d of %d hops (%s); those hops played dry%s", self.plugin.name,
                        c.plugin_errors, c.hops, kinds, "; it was bypassed" if c.bypassed else "")
        if self.fx is not None:
            self.fx.close()
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
    def compute_stats(self):
        return self._runner.stats

    @property
    def skipped_hops(self) -> int:
        """Stale hops the model thread never computed (their time had passed)."""
        return self._runner.skipped

    def latency_breakdown(self) -> dict[str, float]:
        """Parts of the latency, in milliseconds."""
        to_ms = 1000.0 / self.model_rate
        return {
            "crossfade_ms": self.crossfade * to_ms,
            "model_delay_ms": self.plugin_delay * to_ms,
            "alignment_ms": self.align_pad * to_ms + self.align_delay * 1000.0 / self.out_rate,
            "buffering_ms": self.slack * 1000.0 / self.out_rate,
            "compute_budget_ms": self.compute_budget * 1000.0 / self.out_rate,
            "hop_ms": self.hop * to_ms,
            "lookahead_ms": self.lookahead * to_ms,
            "fx_ms": (self.fx.delay_samples if self.fx is not None else 0) * to_ms,
            "limiter_ms": self.limiter_delay * 1000.0 / self.out_rate,
        }

    # -- the model call ------------------------------------------------------------------
    def _group(self, x: np.ndarray) -> np.ndarray:
        """``(samples, channels)`` -> ``(groups, model_channels, samples)``."""
        xt = np.ascontiguousarray(x.T)
        if self.plugin.channels == 2 and self.channels % 2:  # pair the odd last channel with itself
            xt = np.concatenate([xt, xt[-1:]], axis=0)
        return xt.reshape(self.groups, self.model_channels, -1)

    def _ungroup(self, y: np.ndarray) -> np.ndarray:
        """``(prompts, groups, model_channels, samples)`` -> ``(samples, prompts, channels)``."""
        p, _, _, n = y.shape
        flat = y.reshape(p, -1, n)
        if self.plugin.channels == 2 and self.channels % 2:
            if self.channels == 1:  # mono through a stereo model: average the pair back
                flat = 0.5 * (flat[:, :1] + flat[:, 1:2])
            else:
                flat = flat[:, : self.channels]
        return np.ascontiguousarray(flat.transpose(2, 0, 1))

    def check_prompts(self, names) -> None:
        """Raise SeparatorError for a stem nobody in this session serves."""
        if self.config.vocabulary is None:
            self.plugin.check_prompts([n for n in names if n != REST])
            return
        for n in names:
            if n != REST and n not in self.vocabulary:
                raise SeparatorError(f"no model in this session serves '{n}'; they serve: {' '.join(self.vocabulary)}")

    def _compute(self, job: Job) -> tuple[np.ndarray, tuple[str, ...]]:
        if not job.prompts:  # none of this plugin's stems is playing: it rests
            self._idle = True
            n = self.hop + (self.crossfade if self.windowed else 0)
            return np.zeros((n, 0, self.channels), np.float32), ()
        if self._idle and not self.windowed:  # a stateful plugin back from rest: a fresh stream
            self.plugin.reset()
        self._idle = False
        out = self.plugin.process(self._group(job.window), list(job.prompts))
        out = np.asarray(out, dtype=np.float32)
        if not np.isfinite(out).all():
            raise SeparatorError(f"model '{self.plugin.name}' returned non-finite samples (NaN or Inf)")
        want = self.hop + (self.crossfade if self.windowed else 0)
        p, g, c = len(job.prompts), self.groups, self.model_channels
        if out.ndim != 4 or out.shape[:3] != (p, g, c) or out.shape[3] < want or (
            not self.windowed and out.shape[3] != self.hop
        ):
            raise SeparatorError(
                f"model '{self.plugin.name}' returned shape {out.shape}, expected ({p}, {g}, {c}, "
                f"{'>=' if self.windowed else ''}{want})"
            )
        return self._ungroup(out[..., -want:]), job.prompts

    # -- streaming -----------------------------------------------------------------------
    def _hop_window_bounds(self, hop: int) -> tuple[int, int]:
        start = hop * self.hop - (self.context if self.windowed else 0)
        return start, (hop + 1) * self.hop + self.lookahead

    def push(self, block: np.ndarray) -> None:
        """Feed ``(frames, channels)`` float32 input at the source rate."""
        if not np.isfinite(block).all():
            self.counters.nonfinite_blocks += 1
            block = np.nan_to_num(block, nan=0.0, posinf=0.0, neginf=0.0)
        self._meter("input", block)
        peak = self.meters["input"][0]
        if peak > 4.0:  # beyond any sane level: keep the math bounded
            block = np.clip(block, -4.0, 4.0, dtype=np.float32)
        if peak >= 0.999:
            self.counters.clipped_blocks += 1
        if 0.0 < peak < 1e-30:  # only denormals (or near): they slow float math down a lot
            self.counters.denormal_blocks += 1
            block = np.zeros_like(block)
        elif len(block):
            # a DC offset: the input's mean over about a second (bass averages out in that time)
            self._dc += min(len(block) / self.source_rate, 1.0) * (block.mean(axis=0) - self._dc)
            if np.abs(self._dc).max() > DC_LIMIT:
                self.counters.dc_blocks += 1  # counted only: the models see what came in
        self._dry.push(block)
        self._in_pos += len(block)
        self._mfifo.push(self._in_rs.process(block))
        self._take_changes()
        while True:
            lo, hi = self._hop_window_bounds(self._next_submit)
            if self._mfifo.end < hi:
                break
            if self.counters.bypassed:
                self._next_submit += 1
                continue
            window = self._mfifo.read(lo, hi - lo)
            self._runner.submit(Job(self._next_submit, window, self._job_prompts(self._next_submit)))
            self._next_submit += 1
            self._mfifo.discard_before(self._hop_window_bounds(self._next_submit)[0])
        self._finalise_ready()

    def _take_changes(self) -> None:
        """Stamp queued mix changes with the next hop: they take effect from that hop on,
        so a new prompt is computed from the very hop its gain starts to ramp in."""
        for change in self.mix.take_pending():
            try:
                if change.kind in ("prompts", "toggle_prompt", "replace"):
                    names = (list(change.value) if change.kind == "prompts" else list(change.value.stems)
                             if change.kind == "replace" else [change.stem])
                    self.check_prompts(names)
                elif change.stem is not None:
                    self.check_prompts([change.stem])
                if change.kind == "fx":
                    fx_hooks.check_change(self, change)
                if change.kind not in KINDS:
                    raise ValueError(f"unknown mix change {change.kind!r}")
                copy.deepcopy(self.mix.settings).apply(change)  # refuse bad values here, not mid-hop
            except (SeparatorError, ValueError, TypeError) as exc:
                self.counters.rejected_changes += 1
                log.warning("mix change ignored: %s", exc)
                continue
            self._scheduled.append((self._next_submit, change))
            if change.kind in ("prompts", "toggle_prompt", "replace"):
                self._selection_after(change)

    def _selection_after(self, change: MixChange) -> None:
        probe = MixSettings(stems=list(self._pending_selection()))
        probe.apply(change)
        self._future_selection = probe.stems

    def _pending_selection(self) -> list[str]:
        return getattr(self, "_future_selection", None) or list(self.mix.settings.stems)

    def _job_prompts(self, hop: int) -> tuple[str, ...]:
        """The selection, plus stems that left it recently and are still fading out."""
        m = self.mix
        steady = not self._scheduled and not m.ramping and len(self._last_selected) == len(m.settings.stems)
        if steady and self._steady_prompts is not None:
            return self._steady_prompts  # nothing changes, nothing fades: same as last hop
        selection = self._pending_selection()
        for p in selection:
            self._last_selected[p] = hop
        keep = {p for p, last in self._last_selected.items() if hop - last <= self._linger_hops}
        # and any stem whose gain still differs from rest's (a ramp restarted by a newer change)
        for cur in (m.current, m.target):
            coef = np.abs(cur[: m.rest_row] - cur[m.rest_row]) > 1e-7
            keep.update(self.vocabulary[i] for i in np.nonzero(coef)[0])
        for p in [p for p in self._last_selected if p not in keep]:
            del self._last_selected[p]
        prompts = tuple(p for p in self.vocabulary if p in keep and p in self.serves)
        self._steady_prompts = prompts if steady else None
        return prompts

    def _finalise_ready(self) -> None:
        while self._next_final < self._next_submit and self._next_final in self._runner.results:
            self._finalise(self._next_final, self._runner.take(self._next_final))

    def _contribution(self, stems: np.ndarray, prompts: tuple[str, ...], g: np.ndarray) -> np.ndarray:
        """Stem part of the mix: sum over stems of (gain - rest gain) x stem.

        ``stems`` (n, P, C); ``g`` (rows, n) or (rows, 1).  Since rest = dry - selected
        stems, the whole mix is this plus rest gain x dry (added at the output rate).
        """
        if not prompts:
            return np.zeros((len(stems), self.channels), np.float32)
        rows = [self.mix.index[p] for p in prompts]
        coef = g[rows] - g[self.mix.rest_row]  # (P, n|1)
        if coef.shape[1] == 1:  # constant gains (the usual case): one small matrix product
            return np.einsum("npc,p->nc", stems, coef[:, 0])
        return np.einsum("npc,pn->nc", stems, coef)

    def _pick(self, stems: np.ndarray, prompts: tuple[str, ...], name: str) -> np.ndarray:
        if name in prompts:
            return stems[:, prompts.index(name)]
        return np.zeros((len(stems), self.channels), np.float32)

    def _finalise(self, hop: int, result) -> None:
        """Emit model-domain samples ``[hop*H - X, (hop+1)*H - X)`` to the out resampler,
        already mixed: channels ``[stem part of the mix (C), gain of the dry input]``."""
        H, X, C = self.hop, self.crossfade, self.channels
        # the first X samples still belong to the previous hop (its tail): changes made for
        # this hop start ramping where this hop's own samples start
        g_before = self.mix.gains(X)
        for change in [c for h, c in self._scheduled if h <= hop]:
            self.mix.apply(change)
        self._scheduled = [(h, c) for h, c in self._scheduled if h > hop]
        if self._scheduled == [] and hasattr(self, "_future_selection"):
            del self._future_selection
        g_after = self.mix.gains(H - X)
        if g_before.shape[1] == 1 and g_after.shape[1] == 1 and np.array_equal(g_before, g_after):
            g = g_before
        else:
            g = np.concatenate([np.broadcast_to(g_before, (len(g_before), X)), np.broadcast_to(g_after, (len(g_after), H - X))], axis=1)
        ok = isinstance(result, tuple)
        if result is None:
            self.counters.deadline_misses += 1
            log.debug("deadline miss at hop %d", hop)
            self._note_miss()
        elif not ok and result is not _BYPASSED:
            self._note_failure(result)
        if ok:
            self._consecutive_failures = 0
        self.counters.hops += 1

        def gs(a: int, b: int) -> np.ndarray:
            return g if g.shape[1] == 1 else g[:, a:b]

        tail_prev = self._tail
        if ok:
            stems, prompts = result
            head, body = (stems[:X], stems[X:]) if self.windowed else (None, stems)
            self._meter_stems(body, prompts)
            self._tail = (body[H - X :], prompts)
        else:
            head = body = prompts = None
            self._tail = None

        def assemble(contrib) -> tuple[np.ndarray, np.ndarray]:
            """Crossfade the previous hop's tail with this hop into the emitted chunk.
            ``contrib(stems, prompts, a, b)`` turns stems for chunk samples [a, b) into
            (b - a, C) audio; also returns the wet envelope."""
            part = np.zeros((H, C), np.float32)
            env = np.zeros(H, np.float32)
            if ok:
                # body covers [hop*H, (hop+1)*H): its first H - X samples are emitted now
                part[X:] = contrib(body[: H - X], prompts, X, H)
                env[X:] = 1.0
                if tail_prev is not None:
                    a_tail = contrib(tail_prev[0], tail_prev[1], 0, X)
                    if head is not None:
                        a_head = contrib(head, prompts, 0, X)
                        part[:X] = a_tail * self._fade_out[:, None] + a_head * self._fade_in[:, None]
                    else:
                        part[:X] = a_tail
                    env[:X] = 1.0
                elif head is not None:
                    part[:X] = contrib(head, prompts, 0, X)
                    env[:X] = self._fade_in
                else:  # stateful model back after a miss: fade in over the body's start
                    env[X : 2 * X] = self._fade_in
            elif tail_prev is not None:
                part[:X] = contrib(tail_prev[0], tail_prev[1], 0, X)
                env[:X] = self._fade_out
            return part, env

        part, env = assemble(lambda st, pr, a, b: self._contribution(st, pr, gs(a, b)))
        if self.fx is not None:
            fx_hooks.apply_hop(self, part, g, assemble, prompts, tail_prev)
        P = len(self.vocabulary)
        g_rest, g_wet, g_master = g[P], g[P + 1], g[P + 2]
        w = env * g_wet
        z = np.empty((H, self._zch), np.float32)
        z[:, :C] = (g_master * w)[:, None] * part
        z[:, C] = g_master * (1.0 - w + w * g_rest)
        for i, name in enumerate(self.stem_tap):
            # raw stems for a DAW (no mix gains): silent where the model missed (rest = dry)
            tap, _ = assemble(lambda st, pr, a, b, name=name: self._pick(st, pr, name))
            z[:, C + 1 + i * C : C + 1 + (i + 1) * C] = env[:, None] * tap
        self._z.push(self._out_rs.process(z))
        self._next_final = hop + 1
        self._runner.first_useful_hop = hop + 1

    def _meter_stems(self, body: np.ndarray, prompts: tuple[str, ...]) -> None:
        if not len(body):
            return
        peak = np.abs(body).max(axis=(0, 2))
        rms = np.sqrt(np.einsum("npc,npc->p", body, body) / (body.shape[0] * body.shape[2]))
        meters = dict(self.meters)
        for i, p in enumerate(prompts):
            meters[p] = (float(peak[i]), float(rms[i]))
        self.meters = meters

    def _meter(self, name: str, x: np.ndarray) -> None:
        if not x.size:
            self.meters = {**self.meters, name: (0.0, 0.0)}
        else:
            flat = x.reshape(-1)
            meters = dict(self.meters)
            peak = float(np.abs(flat).max())
            if peak < 1e18:
                meters[name] = (peak, float(np.sqrt(np.dot(flat, flat) / flat.size)))
            else:  # the square would overflow float32: the level is off any scale anyway
                meters[name] = (peak, peak)
            self.meters = meters

    def _note_miss(self) -> None:
        """Tell the user once, with a remedy, when misses are not a one-off (a stall) but
        the model is too slow for the hop."""
        c = self.counters
        if c.overload_advice or c.deadline_misses < OVERLOAD_MISSES or c.deadline_misses < 0.05 * c.hops:
            return
        st = self._runner.stats
        hop_ms = 1000.0 * self.hop / self.model_rate
        c.overload_advice = (
            f"model '{self.plugin.name}' is too slow for the hop: {c.deadline_misses} of {c.hops + 1} hops missed"
            f" (compute p50 {st.percentile_ms(50):.1f} ms for a {hop_ms:.1f} ms hop); those hops play dry. Try a larger"
            " --hop" + (", a smaller --context" if self.windowed else "") + ", or a GPU (--device cuda)"
        )
        log.warning("%s", c.overload_advice)

    def _note_failure(self, exc: BaseException) -> None:
        c = self.counters
        c.plugin_errors += 1
        kind = type(exc).__name__
        first = kind not in c.error_kinds
        c.error_kinds[kind] = c.error_kinds.get(kind, 0) + 1
        c.last_error = f"{kind}: {exc}"
        if first:
            log.error("model '%s' failed on a hop (playing dry): %s", self.plugin.name, c.last_error)
        self._consecutive_failures += 1
        if self._consecutive_failures >= MAX_CONSECUTIVE_FAILURES and not c.bypassed:
            c.bypassed = True
            log.error(
                "model '%s' failed %d hops in a row: bypassing it for the rest of the session",
                self.plugin.name,
                self._consecutive_failures,
            )

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
        ``z`` (frames, C + 1 + taps): the stem part of the mix, the gain of the dry input,
        then the tapped stems; and ``dry`` (frames, C), the input delayed to line up."""
        t = self._out_pos
        behind = self.slack + self.compute_budget + self.align_delay
        need_end = t + frames - behind
        asked = None
        if deadline is not None:
            self.counters.deadline_pulls += 1
        while self._z.end < need_end and self._next_final < self._next_submit:
            hop = self._next_final
            if self._runner.threaded:
                if asked is None:
                    asked = time.monotonic()
                # one wait per stall: while a hop that already missed is still being computed
                # the worker is held up, and waiting again would only drain the output ring
                # block by block down to its reserve; play dry at once until it is back
                if deadline is not None and hop not in self._runner.results and not self._runner.stalled:
                    self._runner.wait_for(hop, deadline)
                result = self._runner.take(hop, missed_at=asked if deadline is None else deadline)
                self._count_deadline(result, asked, deadline)
            else:
                result = self._runner.take(hop)
            self._finalise(hop, result)
        if self.counters.bypassed:
            while self._next_final < self._next_submit:
                self._finalise(self._next_final, _BYPASSED)
        self._runner.drop_before(self._next_final)
        if self._z.end < need_end:
            self.counters.underflows += 1
        zlo = t - behind
        z = self._z.read(zlo, frames)
        if self._z.end < zlo + frames:  # never computed (underflow): play dry there
            z[max(self._z.end - zlo, 0) :, self.channels] = 1.0
            z[max(self._z.end - zlo, 0) :, self.channels + 1 :] = 0.0
        dry = self._dry.read(t - self._mix_latency, frames)
        self._z.discard_before(zlo + frames)
        self._dry.discard_before(t - self._mix_latency + frames)
        self._out_pos += frames
        return z, dry

    def finish_block(self, z: np.ndarray, dry: np.ndarray) -> np.ndarray:
        """Combine :meth:`pull_mix`'s signals into the output block: the stem part plus
        the dry input at its gain, the tapped stems and rest, the master limiter, meters."""
        frames = len(z)
        C = self.channels
        out = z[:, :C] + z[:, C : C + 1] * dry
        if self.stem_tap:
            stems = z[:, C + 1 :].reshape(frames, len(self.stem_tap), C)
            self.last_stems = np.concatenate([stems, (dry - stems.sum(axis=1))[:, None]], axis=1)
        if self._limiter is not None:
            out = self._limiter.process(out)
            if self.last_stems is not None and self.stem_tap:  # stems stay aligned with the output
                flat = self.last_stems.reshape(frames, -1)
                self.last_stems = self._tap_delay.process(flat).reshape(self.last_stems.shape)
        self._meter("output", out)
        return out

    def miss_causes(self) -> dict[str, float | int | None]:
        """Deadline misses by cause and the model thread's timings (see EngineCounters)."""
        c, r = self.counters, self._runner
        return {
            "no_time": c.misses_no_time,
            "late": c.misses_late,
            "late_results": r.late_results,
            "late_by_ms_max": 1000.0 * r.late_by_s_max,
            "deadline_margin_ms_min": c.deadline_margin_ms_min,
            "deadline_pulls": c.deadline_pulls,
            "worker_queue_ms_max": 1000.0 * r.queue_s_max,
            "compute_ms_max": 1000.0 * r.stats.max_s,
        }

    def _count_deadline(self, result: object, asked: float, deadline: float | None) -> None:
        """Sort a miss by its cause, or note how close a result came to missing."""
        c = self.counters
        if result is None:
            if deadline is not None and deadline - asked < self.compute_budget / self.out_rate:
                c.misses_no_time += 1
            else:
                c.misses_late += 1
        elif deadline is not None:
            margin = 1000.0 * (deadline - time.monotonic())
            if c.deadline_margin_ms_min is None or margin < c.deadline_margin_ms_min:
                c.deadline_margin_ms_min = margin

    # -- latency ---------------------------------------------------------------------------
    def _simulate_slack(self) -> int:
        """Run the resamplers and the hop logic on silence; return the largest lag (in
        output samples) of the stem signal behind what the output needs."""
        in_rs = StreamResampler(self.source_rate, self.model_rate, self.channels, self.config.resample_quality)
        out_rs = StreamResampler(self.model_rate, self.out_rate, self._zch, self.config.resample_quality)
        zin = np.zeros((self.block, self.channels), np.float32)
        zhop = np.zeros((self.hop, self._zch), np.float32)
        m_end = self.align_pad
        hop = 0
        z_end = 0
        worst = 0
        blocks = max(64, int(math.ceil(4.0 * self.source_rate / self.block)), 8 * int(math.ceil(self.hop * self.source_rate / self.model_rate / self.block)))
        for n in range(blocks):
            m_end += len(in_rs.process(zin))
            while m_end >= self._hop_window_bounds(hop)[1]:
                z_end += len(out_rs.process(zhop))
                hop += 1
            worst = max(worst, (n + 1) * self.block - z_end)
        return worst


def process_array(engine: Engine, audio: np.ndarray, align: bool = True) -> np.ndarray:
    """Stream ``(frames, channels)`` audio through ``engine`` block by block (the live code
    path, as fast as it runs) and return the output.

    With ``align`` the result is shifted back by the engine's latency (and flushed with
    silence) so that it lines up with ``audio``; without it, output sample ``k`` is the
    mix for input sample ``k - latency_samples``, as live.
    """
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[:, None]
    n, ch = audio.shape
    block = engine.block
    extra = engine.latency_samples if align else 0
    total = n + extra
    padded = np.zeros((-(-total // block) * block, ch), np.float32)
    padded[:n] = audio
    out = np.empty_like(padded)
    for i in range(0, len(padded), block):
        engine.push(padded[i : i + block])
        out[i : i + block] = engine.pull(block)
    return out[extra : extra + n]
