"""A Session = source + engine + model + mix + sinks: the public API behind the CLI.

>>> from seplive.session import Session, SessionConfig
>>> report = Session(SessionConfig(input="song.wav", output="karaoke.wav",
...                                model="center", mute=["vocals"])).run()   # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import math
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .control.mix import MixSettings
from .models import registry
from .models.base import Separator, SeparatorError
from .models.prompts import REST, canonical
from .stream.engine import Engine, EngineConfig
from .stream.files import FileSink, FileSource

log = logging.getLogger("seplive")


@dataclass
class SessionConfig:
    """Everything one run needs.  Times in ms are converted at the model rate."""

    input: str
    output: str | None = None
    model: str = "center"
    model_options: dict[str, Any] = field(default_factory=dict)
    prompts: list[str] = field(default_factory=list)
    mute: list[str] = field(default_factory=list)
    gains_db: dict[str, float] = field(default_factory=dict)
    hop_samples: int | None = None
    hop_ms: float | None = None
    context_samples: int | None = None
    context_ms: float | None = None
    lookahead_samples: int | None = None
    lookahead_ms: float | None = None
    block_samples: int | None = None
    crossfade_ms: float = 5.0
    compute_budget_hops: float = 1.0
    resample_quality: str = "HQ"
    device: str = "cpu"
    realtime: bool = False
    duration_s: float | None = None
    align: bool = False
    report: str | None = None
    plugin: Separator | None = None  # an already-built plugin (Python API, tests)
    #: live controls (OSC, MIDI...): objects with start(session) and stop(); started
    #: before the first block, stopped after the last, whatever ends the run
    controls: list[Any] = field(default_factory=list)


class Session:
    """Builds the pieces from a :class:`SessionConfig` and runs them until the input
    ends, ``duration_s`` passes, or :meth:`stop` (SIGINT) is called."""

    def __init__(self, config: SessionConfig) -> None:
        self.config = config
        self._stop = threading.Event()
        self.stop_reason = ""
        cfg = config
        self.source = FileSource(cfg.input)
        self.plugin = cfg.plugin or registry.create(cfg.model, **cfg.model_options)
        prompts = [canonical(p) for p in cfg.prompts]
        mute = [canonical(p) for p in cfg.mute]
        gains = {canonical(k): v for k, v in cfg.gains_db.items()}
        for name in [*prompts, *mute, *gains]:
            if name != REST:
                self.plugin.check_prompts([name])
        for name in gains:
            if name != REST and name not in prompts and name not in mute:
                prompts.append(name)
        if not [p for p in [*prompts, *mute] if p != REST]:
            raise SeparatorError("nothing to separate: give --prompts and/or --mute")
        self.mix_settings = MixSettings.from_cli(prompts, mute, gains)
        model_rate = self.plugin.sample_rate or self.source.sample_rate

        def samples(n: int | None, ms: float | None) -> int | None:
            if n is not None:
                return int(n)
            if ms is not None:
                return int(round(ms * model_rate / 1000.0))
            return None

        hop = samples(cfg.hop_samples, cfg.hop_ms)
        if hop is not None and cfg.hop_samples is None:
            self.plugin.bind_rate(model_rate)
            mult = max(int(self.plugin.hop_multiple), 1)
            hop = max(mult, int(math.ceil(hop / mult)) * mult)
        self.engine = Engine(
            self.plugin,
            self.mix_settings,
            EngineConfig(
                source_rate=self.source.sample_rate,
                channels=self.source.channels,
                block_samples=cfg.block_samples,
                hop_samples=hop,
                context_samples=samples(cfg.context_samples, cfg.context_ms),
                lookahead_samples=samples(cfg.lookahead_samples, cfg.lookahead_ms),
                crossfade_ms=cfg.crossfade_ms,
                compute_budget_hops=cfg.compute_budget_hops,
                resample_quality=cfg.resample_quality,
                device=cfg.device,
                threaded=cfg.realtime,
            ),
        )
        self.sink = (
            FileSink(cfg.output, self.source.sample_rate, self.source.channels, self.source.subtype)
            if cfg.output
            else None
        )
        self.frames_in = 0
        self.frames_out = 0
        self.wall_s = 0.0

    def post(self, change) -> None:
        """Send a :class:`seplive.control.mix.MixChange` to the running mix (any thread)."""
        self.engine.mix.post(change)

    def status(self) -> dict[str, Any]:
        """A snapshot of live counters for status views and OSC pushes (any thread)."""
        eng = self.engine
        c = eng.counters
        st = eng.compute_stats
        audio_s = self.frames_in / self.source.sample_rate
        return {
            "latency_ms": 1000.0 * eng.latency_samples / self.source.sample_rate,
            "deadline_misses": c.deadline_misses,
            "xruns": 0,
            "rtf": st.total_s / audio_s if audio_s else 0.0,
            "compute_ms_p50": st.percentile_ms(50),
            "compute_ms_p99": st.percentile_ms(99),
            "meters": dict(eng.meters),
            "prompts": eng.prompts,
        }

    def stop(self, reason: str = "stopped") -> None:
        """Ask the run loop to finish after the current block (thread-safe)."""
        self.stop_reason = self.stop_reason or reason
        self._stop.set()

    def run(self) -> dict[str, Any]:
        """Run to the end; always closes files and returns (and writes) the report."""
        cfg = self.config
        eng = self.engine
        block = eng.block
        rate = self.source.sample_rate
        limit = math.inf if cfg.duration_s is None else int(cfg.duration_s * rate)
        old_handler = None
        if threading.current_thread() is threading.main_thread():
            old_handler = signal.signal(signal.SIGINT, lambda *_: self.stop("interrupted (SIGINT)"))
        skip = eng.latency_samples if cfg.align else 0
        tail = eng.latency_samples if cfg.align else 0
        ok = False
        t0 = time.perf_counter()
        started = []
        try:
            for control in cfg.controls:
                control.start(self)
                started.append(control)
            n = 0
            while not self._stop.is_set():
                want = int(min(block, limit - self.frames_in))
                x = self.source.read(want) if want > 0 else np.zeros((0, self.source.channels), np.float32)
                self.frames_in += len(x)
                exhausted = want <= 0 or len(x) < want
                if exhausted and tail > 0:
                    # input is over: flush the latency with silence so --align output is whole
                    fill = min(block - len(x), tail)
                    x = np.concatenate([x, np.zeros((fill, self.source.channels), np.float32)])
                    tail -= fill
                if len(x) == 0:
                    self.stop_reason = self.stop_reason or (
                        "duration reached" if self.frames_in >= limit else "end of input"
                    )
                    break
                if cfg.realtime:
                    due = t0 + n * block / rate
                    delay = due - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                n += 1
                real = len(x)
                if real < block:
                    x = np.concatenate([x, np.zeros((block - real, x.shape[1]), np.float32)])
                eng.push(x)
                y = eng.pull(block)[:real]
                if skip:
                    cut = min(skip, len(y))
                    y, skip = y[cut:], skip - cut
                if self.sink is not None and len(y):
                    self.sink.write(y)
                self.frames_out += len(y)
            ok = True
        finally:
            self.wall_s = time.perf_counter() - t0
            for control in reversed(started):
                try:
                    control.stop()
                except Exception as exc:  # a control failing to stop must not lose the output
                    log.warning("stopping %s failed: %s", type(control).__name__, exc)
            eng.close()
            self.source.close()
            if self.sink is not None:
                self.sink.close(ok=ok)
            if old_handler is not None:
                signal.signal(signal.SIGINT, old_handler)
        report = self.report()
        if cfg.report:
            Path(cfg.report).write_text(json.dumps(report, indent=2) + "\n")
        return report

    def report(self) -> dict[str, Any]:
        eng = self.engine
        st = eng.compute_stats
        c = eng.counters
        audio_s = self.frames_in / self.source.sample_rate
        return {
            "seplive_version": __version__,
            "input": str(self.config.input),
            "output": self.config.output,
            "model": self.plugin.name,
            "prompts": list(eng.prompts),
            "mix": {
                "gains_db": dict(self.mix_settings.gain_db),
                "muted": sorted(self.mix_settings.mute),
                "solo": sorted(self.mix_settings.solo),
            },
            "sample_rate": self.source.sample_rate,
            "model_sample_rate": eng.model_rate,
            "channels": self.source.channels,
            "block_samples": eng.block,
            "hop_samples": eng.hop,
            "context_samples": eng.context,
            "lookahead_samples": eng.lookahead,
            "crossfade_samples": eng.crossfade,
            "latency_samples": eng.latency_samples,
            "latency_ms": 1000.0 * eng.latency_samples / self.source.sample_rate,
            "latency_breakdown_ms": eng.latency_breakdown(),
            "aligned_output": self.config.align,
            "realtime": self.config.realtime,
            "frames_in": self.frames_in,
            "frames_out": self.frames_out,
            "audio_s": audio_s,
            "wall_s": self.wall_s,
            "hops": c.hops,
            "deadline_misses": c.deadline_misses,
            "skipped_hops": eng._runner.skipped,
            "xruns": 0,
            "underflows": c.underflows,
            "plugin_errors": c.plugin_errors,
            "model_bypassed": c.bypassed,
            "nonfinite_blocks": c.nonfinite_blocks,
            "clipped_samples": self.sink.clipped if self.sink else 0,
            "compute_ms_p50": st.percentile_ms(50),
            "compute_ms_p99": st.percentile_ms(99),
            "compute_ms_max": st.max_s * 1e3,
            "hop_ms": 1000.0 * eng.hop / eng.model_rate,
            "rtf": st.total_s / audio_s if audio_s else 0.0,
            "stop_reason": self.stop_reason,
        }
