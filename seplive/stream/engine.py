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
* a compute budget of ``compute_budget_hops`` hops, the time the model gets per hop live.

A hop whose result is not there when the output needs it (deadline miss), or whose plugin
raised or returned the wrong shape, plays the delayed dry input instead, crossfaded in and
out over the crossfade length; it is counted, and stale hops are skipped so latency never
grows.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np

from ..control.mix import MixSettings, MixState
from ..models.base import Separator, SeparatorError
from .fifo import IndexedFifo
from .resample import StreamResampler
from .runner import InlineRunner, Job, ThreadedRunner

log = logging.getLogger("seplive.engine")

#: after this many consecutive failing hops the model is bypassed for the session
MAX_CONSECUTIVE_FAILURES = 50


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
    crossfade_ms: float = 5.0
    #: model time granted per hop live, in hops (part of the latency)
    compute_budget_hops: float = 1.0
    resample_quality: str = "HQ"
    ramp_ms: float = 10.0
    device: str = "cpu"
    #: run the model on its own thread with deadlines (live and --realtime)
    threaded: bool = False


@dataclass
class EngineCounters:
    hops: int = 0
    deadline_misses: int = 0
    skipped_hops: int = 0
    plugin_errors: int = 0
    underflows: int = 0
    nonfinite_blocks: int = 0
    bypassed: bool = False
    last_error: str = ""
    error_kinds: dict[str, int] = field(default_factory=dict)


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
        for stem in mix.stems:
            plugin.check_prompts([stem])
        if not mix.stems:
            raise SeparatorError("no stems selected: give --prompts or --mute")
        self.prompts = list(mix.stems)

        # -- windowing -------------------------------------------------------------------
        hop = int(cfg.hop_samples or plugin.default_hop_samples)
        mult = max(int(plugin.hop_multiple), 1)
        if hop % mult:
            raise SeparatorError(
                f"hop {hop} samples is not a multiple of {mult}, which model '{plugin.name}' needs"
            )
        self.hop = hop
        self.crossfade = min(hop // 2, int(round(cfg.crossfade_ms * self.model_rate / 1000.0)))
        self.windowed = bool(plugin.windowed)
        if self.windowed:
            ctx = plugin.context_samples if cfg.context_samples is None else int(cfg.context_samples)
            la = plugin.lookahead_samples if cfg.lookahead_samples is None else int(cfg.lookahead_samples)
            if ctx < 0 or la < 0:
                raise SeparatorError("context and lookahead must be >= 0 samples")
            # the overlap crossfade needs at least `crossfade` samples of past context
            ctx = max(ctx, self.crossfade)
            ctx = -(-ctx // mult) * mult
            la = -(-la // mult) * mult
            plugin.context_samples = ctx
            plugin.lookahead_samples = la
        else:
            if cfg.context_samples:
                log.info("model '%s' is stateful: --context is ignored", plugin.name)
            if cfg.lookahead_samples:
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

        # -- alignment: the stem signal's delay must be whole output samples ---------------
        g = math.gcd(self.model_rate, self.out_rate)
        q = self.model_rate // g
        self.align_pad = (-(self.crossfade + self.plugin_delay)) % q
        stem_delay_model = self.crossfade + self.plugin_delay + self.align_pad
        self.stem_delay = stem_delay_model * self.out_rate // self.model_rate

        self.block = int(cfg.block_samples or max(1, round(hop * self.source_rate / self.model_rate)))
        n_stems = len(self.prompts)
        self._zch = n_stems * self.channels + 1  # stems + the wet envelope
        self.slack = self._simulate_slack()
        self.compute_budget = int(math.ceil(cfg.compute_budget_hops * hop * self.out_rate / self.model_rate))
        self.latency_samples = self.stem_delay + self.slack + self.compute_budget

        # -- state -----------------------------------------------------------------------
        self.mix = MixState(mix, ramp_samples=round(cfg.ramp_ms * self.out_rate / 1000.0))
        self.counters = EngineCounters()
        self._fade_in = (np.sin(0.5 * np.pi * (np.arange(self.crossfade) + 0.5) / max(self.crossfade, 1)) ** 2).astype(
            np.float32
        )
        self._fade_out = (1.0 - self._fade_in).astype(np.float32)
        self._consecutive_failures = 0
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
        self._z = IndexedFifo(self._zch, capacity=4 * (self.slack + self.compute_budget + self.block) + 4096)
        self._next_submit = 0  # next hop whose window is submitted
        self._next_final = 0  # next hop to finalise
        self._tail: np.ndarray | None = np.zeros((self.crossfade, len(self.prompts), self.channels), np.float32)
        self._out_pos = 0  # absolute index of the next output sample
        self._in_pos = 0
        if getattr(self, "_runner", None) is not None:
            self._runner.close()
        skip_cb = None if self.windowed else self.plugin.reset
        if cfg.threaded:
            self._runner = ThreadedRunner(self._compute, skip_stale=True, on_skip=skip_cb)
        else:
            self._runner = InlineRunner(self._compute, skip_stale=False)

    def close(self) -> None:
        self._runner.close()

    # -- introspection -------------------------------------------------------------------
    @property
    def compute_stats(self):
        return self._runner.stats

    def latency_breakdown(self) -> dict[str, float]:
        """Parts of the latency, in milliseconds."""
        to_ms = 1000.0 / self.model_rate
        return {
            "crossfade_ms": self.crossfade * to_ms,
            "model_delay_ms": self.plugin_delay * to_ms,
            "alignment_ms": self.align_pad * to_ms,
            "buffering_ms": self.slack * 1000.0 / self.out_rate,
            "compute_budget_ms": self.compute_budget * 1000.0 / self.out_rate,
            "hop_ms": self.hop * to_ms,
            "lookahead_ms": self.lookahead * to_ms,
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

    def _compute(self, window: np.ndarray) -> np.ndarray:
        out = self.plugin.process(self._group(window), self.prompts)
        out = np.asarray(out, dtype=np.float32)
        want = self.hop + (self.crossfade if self.windowed else 0)
        p, g, c = len(self.prompts), self.groups, self.model_channels
        if out.ndim != 4 or out.shape[:3] != (p, g, c) or out.shape[3] < want or (
            not self.windowed and out.shape[3] != self.hop
        ):
            raise SeparatorError(
                f"model '{self.plugin.name}' returned shape {out.shape}, expected ({p}, {g}, {c}, "
                f"{'>=' if self.windowed else ''}{want})"
            )
        return self._ungroup(out[..., -want:])

    # -- streaming -----------------------------------------------------------------------
    def _hop_window_bounds(self, hop: int) -> tuple[int, int]:
        start = hop * self.hop - (self.context if self.windowed else 0)
        return start, (hop + 1) * self.hop + self.lookahead

    def push(self, block: np.ndarray) -> None:
        """Feed ``(frames, channels)`` float32 input at the source rate."""
        if not np.isfinite(block).all():
            self.counters.nonfinite_blocks += 1
            block = np.nan_to_num(block, nan=0.0, posinf=0.0, neginf=0.0)
        block = np.clip(block, -4.0, 4.0, dtype=np.float32) if np.abs(block).max(initial=0.0) > 4.0 else block
        self._dry.push(block)
        self._in_pos += len(block)
        self._mfifo.push(self._in_rs.process(block))
        while True:
            lo, hi = self._hop_window_bounds(self._next_submit)
            if self._mfifo.end < hi:
                break
            if self.counters.bypassed:
                self._next_submit += 1
                continue
            window = self._mfifo.read(lo, hi - lo)
            self._runner.submit(Job(self._next_submit, window))
            self._next_submit += 1
            self._mfifo.discard_before(self._hop_window_bounds(self._next_submit)[0])
        self._finalise_ready()

    def _finalise_ready(self) -> None:
        while self._next_final < self._next_submit and self._next_final in self._runner.results:
            self._finalise(self._next_final, self._runner.take(self._next_final))

    def _finalise(self, hop: int, result) -> None:
        """Emit model-domain samples ``[hop*H - X, (hop+1)*H - X)`` to the out resampler."""
        H, X = self.hop, self.crossfade
        P, C = len(self.prompts), self.channels
        ok = isinstance(result, np.ndarray)
        if result is None:
            self.counters.deadline_misses += 1
        elif not ok:
            self._note_failure(result)
        if ok:
            self._consecutive_failures = 0
        self.counters.hops += 1
        chunk = np.zeros((H, P, C), np.float32)
        env = np.zeros(H, np.float32)
        tail_prev = self._tail
        if ok:
            head, body = (result[:X], result[X:]) if self.windowed else (None, result)
            # body covers [hop*H, (hop+1)*H): its first H - X samples are emitted now
            chunk[X:] = body[: H - X]
            env[X:] = 1.0
            if tail_prev is not None:
                if head is not None:
                    chunk[:X] = tail_prev * self._fade_out[:, None, None] + head * self._fade_in[:, None, None]
                else:
                    chunk[:X] = tail_prev
                env[:X] = 1.0
            elif head is not None:
                chunk[:X] = head
                env[:X] = self._fade_in
            else:  # stateful model back after a miss: fade in over the body's start
                env[X : 2 * X] = self._fade_in
            self._tail = body[H - X :] if X else np.zeros((0, P, C), np.float32)
        else:
            if tail_prev is not None:
                chunk[:X] = tail_prev
                env[:X] = self._fade_out
            self._tail = None
        z = np.empty((H, self._zch), np.float32)
        z[:, :-1] = chunk.reshape(H, P * C)
        z[:, -1] = env
        self._z.push(self._out_rs.process(z))
        self._next_final = hop + 1

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

    def pull(self, frames: int) -> np.ndarray:
        """Return the next ``(frames, channels)`` output block."""
        t = self._out_pos
        need_end = t + frames - self.slack - self.compute_budget
        # deadline: every hop the output needs now and has not got is played dry
        while self._z.end < need_end and self._next_final < self._next_submit:
            self._finalise(self._next_final, self._runner.take(self._next_final))
        if self.counters.bypassed:
            while self._next_final < self._next_submit:
                self._finalise(self._next_final, RuntimeError("bypassed"))
        self._runner.drop_before(self._next_final)
        if self._z.end < need_end:
            self.counters.underflows += 1
        zlo = t - self.slack - self.compute_budget
        z = self._z.read(zlo, frames)
        dry = self._dry.read(t - self.latency_samples, frames)
        self._z.discard_before(zlo + frames)
        self._dry.discard_before(t - self.latency_samples + frames)
        self._out_pos += frames
        return self._mix(z, dry)

    def _mix(self, z: np.ndarray, dry: np.ndarray) -> np.ndarray:
        n = len(dry)
        P, C = len(self.prompts), self.channels
        stems = z[:, :-1].reshape(n, P, C)
        env = np.clip(z[:, -1], 0.0, 1.0)
        g = self.mix.block_gains(n)  # (P + 3, n or 1): stems, rest, wet, master
        g_stems = g[:P].T[:, :, None]  # (n|1, P, 1)
        g_rest, g_wet, g_master = g[P][:, None], g[P + 1][:, None], g[P + 2][:, None]
        selected = stems.sum(axis=1)
        wet = (stems * g_stems).sum(axis=1) + g_rest * (dry - selected)
        w = env[:, None] * g_wet
        return g_master * (dry + w * (wet - dry))

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
