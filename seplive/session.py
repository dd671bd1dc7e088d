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
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .models import registry
from .models.base import Separator, SeparatorError
from .models.prompts import REST, canonical
from .models.routing import PluginRoute
from .stream.devices import DeviceError
from .stream.effects import fx_report, select_fx_stems
from .stream.engine import Engine, EngineConfig
from .stream.files import FileSink, FileSource, is_file_spec
from .stream.lanes import LaneEngine
from .stream.mix import MixSettings
from .stream.priority import DEFAULT_PRIORITY, granted, normal_thread, realtime_thread
from .stream.stalls import StallMeter

log = logging.getLogger("seplive")


@dataclass
class SessionConfig:
    """Everything one run needs.  Times in ms are converted at the model rate."""

    #: an audio file, or a device: default/mic, loopback, an index, a name (see stream/devices.py)
    input: str
    #: an audio file or a device; more outputs (play and record) in ``outputs``
    output: str | None = None
    outputs: list[str] = field(default_factory=list)
    #: device streams: rate (default: the model's, else 48 kHz), channels, frames per block
    rate: int | None = None
    channels: int | None = None
    #: frames per device block (None: 512, or with ``low_latency`` the host API's smallest safe)
    device_block: int | None = None
    #: PortAudio latency for device streams: "high", "low" or seconds
    #: None: "high", or "low" with ``low_latency``
    device_latency: float | str | None = None
    #: the smallest safe device buffers for the host API in use: JACK's period (128 frames)
    #: or 256 frames elsewhere, PortAudio's low latency, two blocks of output reserve
    low_latency: bool = False
    #: live: SCHED_FIFO priority of the audio loop and the model threads (0: normal scheduling)
    rt_priority: int = DEFAULT_PRIORITY
    allow_feedback: bool = False
    #: Linux: when ``loopback`` would capture the very sink the output plays to, create a
    #: capture sink, move the applications onto it and play to the real one (restored at the end)
    route: bool = True
    #: every selected stem and rest on its own channels: a multichannel device (for a DAW),
    #: or a folder that gets one file per stem
    stems_out: str | None = None
    model: str = "native"
    #: prompts served by other plugins than ``model``: {prompt: name, or names in order of
    #: preference (the first that can be built here)} (see seplive.models.routing)
    models: dict[str, str | list[str]] = field(default_factory=dict)
    #: options of ``model``; ``NAME.key`` ones go to plugin NAME
    model_options: dict[str, Any] = field(default_factory=dict)
    prompts: list[str] = field(default_factory=list)
    mute: list[str] = field(default_factory=list)
    gains_db: dict[str, float] = field(default_factory=dict)
    master_db: float = 0.0
    wet: float = 1.0
    #: the session preset this configuration came from (reported only)
    preset: str | None = None
    #: per-stem effects, {stem: {param: value}} (see seplive.fx.params; --fx, [fx] in presets)
    fx: dict[str, dict[str, float]] = field(default_factory=dict)
    #: master look-ahead limiter on the output (adds its look-ahead to the latency)
    limiter: bool = False
    hop_samples: int | None = None
    hop_ms: float | None = None
    context_samples: int | None = None
    context_ms: float | None = None
    lookahead_samples: int | None = None
    lookahead_ms: float | None = None
    block_samples: int | None = None
    #: None: the engine's defaults (5 ms windowed, 2 ms stateful) and the plugin's budget
    crossfade_ms: float | None = None
    compute_budget_hops: float | None = None
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


#: the signals that stop a run cleanly, and the stop reason each gives
STOP_SIGNALS = {signal.SIGINT: "interrupted (SIGINT)", signal.SIGTERM: "terminated (SIGTERM)"}
if hasattr(signal, "SIGHUP"):
    STOP_SIGNALS[signal.SIGHUP] = "hung up (SIGHUP)"


class Session:
    """Builds the pieces from a :class:`SessionConfig` and runs them until the input
    ends, ``duration_s`` passes, or :meth:`stop` (SIGINT) is called."""

    def __init__(self, config: SessionConfig) -> None:
        self.config = config
        self._stop = threading.Event()
        self.stop_reason = ""
        self._route = None
        self.models: PluginRoute | None = None
        try:
            self._setup(config)
        except BaseException:
            if self._route is not None:  # put the system's audio back as it was
                self._route.close()
            if self.models is not None:
                self.models.close()
            raise

    def _setup(self, config: SessionConfig) -> None:
        from .validate import check_config, check_destinations

        cfg = config
        check_config(cfg)  # the same checks as flags, presets, SEPLIVE_* (issue #24)
        # every destination checked before anything opens: nothing written over the input
        check_destinations(cfg, live=not is_file_spec(cfg.input))
        self._device_in = None
        self._device_outs: list = []
        outputs = [o for o in [cfg.output, *cfg.outputs] if o]
        self.live = not is_file_spec(cfg.input)
        self.low_latency: dict[str, Any] = {}
        self._device_out_choices: list = []
        if self.live:
            self._resolve_devices(cfg, outputs)
            cfg = self.config = self._device_settings(cfg)
        elif any(not is_file_spec(o) for o in outputs):  # a file played to a device (--realtime)
            from .stream import devices

            self._device_out_choices = [devices.resolve(o, "output") for o in outputs if not is_file_spec(o)]
            cfg = self.config = replace(cfg, device_block=cfg.device_block or 512,
                                        device_latency=cfg.device_latency or "high")
        try:
            if cfg.plugin is not None:
                self.plugin = cfg.plugin
            elif cfg.models:
                self.models = PluginRoute(cfg.model, cfg.models, cfg.model_options)
                for note in self.models.notes:
                    log.warning("model for %s", note)
                self.plugin = self.models.single or self.models
            else:
                self.plugin = registry.create(cfg.model, **cfg.model_options)
        except TypeError as exc:  # an option the plugin does not take
            raise SeparatorError(f"model '{cfg.model}': {exc}") from None
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
        self.mix_settings.master_db = float(cfg.master_db)
        self.mix_settings.wet = float(cfg.wet)
        self.mix_settings.fx = {canonical(k): dict(v) for k, v in cfg.fx.items()}
        select_fx_stems(self.mix_settings)
        self.source = self._open_source(cfg) if self.live else FileSource(cfg.input)
        lanes = self.models.lanes if self.models is not None and self.models.single is None else None
        engine_config = EngineConfig(
            source_rate=self.source.sample_rate,
            channels=self.source.channels,
            block_samples=cfg.block_samples or (cfg.device_block if self.live else None),
            hop_samples=cfg.hop_samples,
            hop_ms=cfg.hop_ms,
            context_samples=cfg.context_samples,
            context_ms=cfg.context_ms,
            lookahead_samples=cfg.lookahead_samples,
            lookahead_ms=cfg.lookahead_ms,
            crossfade_ms=cfg.crossfade_ms,
            compute_budget_hops=cfg.compute_budget_hops,
            resample_quality=cfg.resample_quality,
            device=cfg.device,
            threaded=cfg.realtime or self.live,
            rt_priority=cfg.rt_priority if self.live else 0,
            stem_outputs=bool(cfg.stems_out),
            limiter=cfg.limiter,
        )
        if lanes:  # a plugin per prompt: one engine each, aligned (--hop and windows: the first's)
            self.engine = LaneEngine(lanes, self.mix_settings, engine_config)
        else:
            self.engine = Engine(self.plugin, self.mix_settings, engine_config)
        self.sinks: list = []
        self.stem_sinks: list = []
        try:
            for spec in outputs:
                if is_file_spec(spec):
                    self.sinks.append(FileSink(spec, self.source.sample_rate, self.source.channels, self.source.subtype))
            self._open_device_sinks(cfg)
            self.stem_sinks = self._open_stem_sinks(cfg)
            # the device rings that say how long a hop may wait (a stems-only device counts)
            self._deadline_outs = self._device_outs + [s for s in self.stem_sinks if not isinstance(s, FileSink)]
        except BaseException:
            for sink in self.sinks:
                sink.close(ok=False)
            self.source.close()
            raise
        self.xruns = 0
        self._watcher = None
        self._stats_actions: list = []
        self.frames_in = 0
        self.frames_out = 0
        self.wall_s = 0.0
        self.stalls = StallMeter()

    @property
    def latency_samples(self) -> int:
        """Input to output, sound card included, in source-rate samples."""
        return self.engine.latency_samples + self.device_latency_samples

    @property
    def input_description(self) -> str:
        return self._device_in.description if self._device_in else str(self.config.input)

    @property
    def output_descriptions(self) -> list[str]:
        return [d.choice.description if hasattr(d, "choice") else str(d.path) for d in self.sinks]

    def post(self, change, origin: str | None = None) -> None:
        """Send a :class:`seplive.stream.mix.MixChange` to the running mix (any thread).

        ``origin`` (OSC, MIDI...) is shown with the change in the status view."""
        self.engine.mix.post(change)
        what = change.kind + (f" {change.stem}" if change.stem else "")
        value = change.value
        if isinstance(value, float):
            value = f"{value:.3g}"
        elif isinstance(value, list | tuple):
            value = " ".join(map(str, value))
        self.last_control = (time.monotonic(), origin or "API", f"{what} {value}" if value is not None else what)

    def served_by(self) -> dict[str, str]:
        """Which plugin computes each stem of the session's vocabulary (stem -> model name)."""
        if isinstance(self.engine, LaneEngine):
            return self.engine.served_by()
        return {p: self.plugin.name for p in self.engine.vocabulary}

    def status(self) -> dict[str, Any]:
        """A snapshot of live counters for status views and OSC pushes (any thread)."""
        eng = self.engine
        c = eng.counters
        st = eng.compute_stats
        served = self.served_by()
        audio_s = self.frames_in / self.source.sample_rate
        return {
            "latency_ms": 1000.0 * self.latency_samples / self.source.sample_rate,
            "deadline_misses": c.deadline_misses,
            "misses": self.miss_causes(),
            "xruns": self.xruns,
            "rtf": st.total_s / audio_s if audio_s else 0.0,
            "compute_ms_p50": st.percentile_ms(50),
            "compute_ms_p99": st.percentile_ms(99),
            "meters": dict(eng.meters),
            "prompts": list(eng.prompts),
            "models": {p: served[p] for p in eng.prompts if p in served},
        }

    def miss_causes(self) -> dict[str, Any]:
        """Deadline misses by cause, and the timings that tell a stall from a slow model."""
        return {**self.engine.miss_causes(), **self.stalls.report()}

    def live_status(self) -> dict[str, Any]:
        """:meth:`status` plus what a status view shows: the mix, the latency breakdown, the
        hop budget and the last control message.  Reads counters only (any thread)."""
        eng = self.engine
        out = self.status()
        settings = eng.mix.settings
        watched = self._watcher.watched if self._watcher is not None else []
        out["devices_lost"] = [f"{w.kind} {w.name}" for w in watched if w.lost]
        out.update(
            model=self.plugin.name,
            preset=self.config.preset,
            input=self.input_description,
            outputs=self.output_descriptions,
            hop_ms=1000.0 * eng.hop / eng.model_rate,
            budget_ms=1000.0 * eng.compute_budget / eng.out_rate,
            latency_breakdown_ms={**eng.latency_breakdown(), **self._device_latency_ms()},
            gains_db={p: (None if (p in settings.mute or (settings.solo and p not in settings.solo))
                          else settings.gain_db.get(p, 0.0)) for p in [*settings.stems, REST]},
            master_db=settings.master_db,
            wet=settings.wet,
            bypass=settings.bypass or eng.counters.bypassed,
            plugin_errors=eng.counters.plugin_errors,
            nonfinite_blocks=eng.counters.nonfinite_blocks,
            audio_s=self.frames_in / self.source.sample_rate,
            last_control=None,
        )
        last = getattr(self, "last_control", None)
        if last is not None:
            out["last_control"] = {"ago_s": time.monotonic() - last[0], "origin": last[1], "message": last[2]}
        return out

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
        # every way of stopping runs the same shutdown below (issue #24): SIGINT, SIGTERM and
        # SIGHUP (the terminal closed) only ask the loop to stop; routing, files, the report follow
        old_handlers = {}
        if threading.current_thread() is threading.main_thread():
            for sig, why in STOP_SIGNALS.items():
                old_handlers[sig] = signal.signal(sig, lambda *_, why=why: self.stop(why))
        skip = eng.latency_samples if cfg.align else 0
        tail = eng.latency_samples if cfg.align else 0
        ok = False
        started = []
        t0 = time.perf_counter()
        try:
            for control in cfg.controls:
                control.start(self)
                started.append(control)
            # the collector's full passes, out of the way of the audio (freeze before the clock starts)
            self.stalls.start(freeze=self.live or cfg.realtime)
            t0 = time.perf_counter()  # the clock starts after the controls: a slow start must not burst
            if self._route is not None:
                self._route.engage()
            self._watch_devices()
            if self.live and cfg.rt_priority:
                realtime_thread(cfg.rt_priority)
            n = 0
            while not self._stop.is_set():
                want = int(min(block, limit - self.frames_in))
                x = self.source.read(want) if want > 0 else np.zeros((0, self.source.channels), np.float32)
                t_in = self.stalls.block_in()
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
                y = eng.pull(block, self._deadline(block))[:real]
                if skip:
                    cut = min(skip, len(y))
                    y, skip = y[cut:], skip - cut
                if len(y):
                    for sink in self.sinks:
                        sink.write(y)
                    if self.stem_sinks:
                        self._write_stems(eng.last_stems[real - len(y) : real])
                self.frames_out += len(y)
                if self.live and n % 64 == 0:
                    self._poll_xruns()
                self.stalls.block_out(t_in)
            ok = True
        except BaseException as exc:  # a fatal error: the same shutdown, and the report says why
            if not isinstance(exc, KeyboardInterrupt | SystemExit):
                self.stop_reason = self.stop_reason or f"error: {type(exc).__name__}: {exc}"
            raise
        finally:
            self.wall_s = time.perf_counter() - t0
            self._shutdown(started, ok, old_handlers)
        return self.report_written

    def _shutdown(self, started: list, ok: bool, old_handlers: dict) -> None:
        """The one shutdown every stop runs (end of input, a signal, a fatal error): each step
        runs even if one before it failed; the routing is put back last but surely."""
        eng = self.engine

        def step(what: str, fn, *args) -> None:
            try:
                fn(*args)
            except Exception as exc:  # one failing step must not skip the others
                log.warning("shutdown: %s failed: %s", what, exc)

        step("collector", self.stalls.stop)
        if self._watcher is not None:
            step("device watcher", self._watcher.stop)
        for control in reversed(started):
            step(f"stopping {type(control).__name__}", control.stop)
        step("engine", eng.close)
        step("input", self.source.close)
        for sink in self.sinks + self.stem_sinks:
            step(f"closing {getattr(sink, 'path', sink)}", sink.close, ok)
        if self.live:
            step("xrun counts", self._poll_xruns, True)
        if self._route is not None:
            step("restoring the routing", self._route.close)
        for sig, old in old_handlers.items():
            signal.signal(sig, old)
        if self.live and self.config.rt_priority:
            step("scheduling back to normal", normal_thread)
        self.report_written = {}
        try:
            self.report_written = self.report()
            if self.config.report:
                Path(self.config.report).write_text(json.dumps(self.report_written, indent=2) + "\n")
        except Exception as exc:
            if ok:
                raise
            log.warning("shutdown: the report could not be written: %s", exc)

    def _deadline(self, block: int) -> float | None:
        """Live: the model may take until the output would run dry (keeping two blocks in
        reserve); files: no waiting (inline) or the pacing clock's own budget.

        Also when the input is behind (a burst from the device, or the loop was held up):
        the output ring still holds what it holds, so waiting for a result that is a
        moment away costs nothing, while giving up at once would play a hop dry that had
        time.  Catching up is the input's business (it skips what is older than its
        backlog limit), and the output's reserve says when waiting would be too late."""
        outs = self._deadline_outs
        if not outs:
            return None
        now = time.monotonic()
        if getattr(self.source, "backlog", 0) > getattr(self.source, "max_backlog", 0) // 2 > 0:
            self.stalls.behind_blocks += 1
        # what waits in our ring, less two blocks in reserve (what the device itself holds
        # is not counted: PortAudio's figure for it is only an estimate); a moment at least,
        # so a result a thread switch away is not missed
        queued = min(d.queued / d.device_rate for d in outs)
        return now + max(0.002, queued - 2.0 * block / self.source.sample_rate)

    # -- stems out -----------------------------------------------------------------------
    @property
    def stem_layout(self) -> dict[str, list[int]]:
        """Stem -> its output channels (1-based) on the --stems-out device."""
        if not self.config.stems_out:
            return {}
        C = self.source.channels
        names = [*self.engine.stem_tap, REST]
        return {name: list(range(i * C + 1, (i + 1) * C + 1)) for i, name in enumerate(names)}

    def _open_stem_sinks(self, cfg: SessionConfig) -> list:
        if not cfg.stems_out:
            return []
        names = [*self.engine.stem_tap, REST]
        C, rate = self.source.channels, self.source.sample_rate
        folder = Path(cfg.stems_out)
        if folder.is_dir() or cfg.stems_out.endswith(("/", "\\")):
            folder.mkdir(parents=True, exist_ok=True)
            return [FileSink(folder / f"{name}.wav", rate, C, "FLOAT") for name in names]
        from .stream import devices
        from .stream.audio_io import DeviceSink

        choice = devices.resolve(cfg.stems_out, "output")
        need = len(names) * C
        if choice.channels < need:
            raise DeviceError(f"--stems-out {choice.name} has {choice.channels} output channels; {len(names)} stems"
                              f" of {C} channels need {need}")
        return [DeviceSink(choice, channels=need, sample_rate=rate, blocksize=self.engine.block, latency=cfg.device_latency)]

    def _write_stems(self, stems: np.ndarray) -> None:
        """``stems`` (frames, stems + rest, channels), aligned with the main output."""
        frames = len(stems)
        if len(self.stem_sinks) == 1 and not isinstance(self.stem_sinks[0], FileSink):
            self.stem_sinks[0].write(np.ascontiguousarray(stems.reshape(frames, -1)))
        else:
            for i, sink in enumerate(self.stem_sinks):
                sink.write(np.ascontiguousarray(stems[:, i]))

    # -- devices ---------------------------------------------------------------------------
    def _resolve_devices(self, cfg: SessionConfig, outputs: list[str]) -> None:
        from .stream import devices

        if sys.platform.startswith("linux") and devices.pulse_info() is not None:
            # a capture sink left by a killed seplive: repaired before anything is resolved
            # against it (refused when its seplive still runs and this one would route too)
            routing = cfg.route and not cfg.allow_feedback and cfg.input.strip().lower() == "loopback"
            devices.repair_stale_route(refuse_if_alive=routing)
        try:
            self._device_in = devices.resolve(cfg.input, "input")
            self._device_out_choices = [devices.resolve(o, "output") for o in outputs if not is_file_spec(o)]
        except devices.DeviceError:
            # PortAudio lists devices once, when it starts: look again before giving up
            devices.refresh()
            self._device_in = devices.resolve(cfg.input, "input")
            self._device_out_choices = [devices.resolve(o, "output") for o in outputs if not is_file_spec(o)]
        if not cfg.allow_feedback and cfg.route and self._feedback(cfg) and cfg.input.strip().lower() == "loopback":
            # the usual desktop case: capture what plays and play it back to the same sink;
            # put seplive between the applications and the speakers instead
            self._route = devices.PulseRoute()
            log.warning("loopback: %s", self._route.describe())
            self._device_in = devices._via_pulse("input", f"{self._route.SINK}.monitor",
                                                 f"loopback: what applications play (routed into '{self._route.SINK}')")
            self._device_out_choices = [
                devices._via_pulse("output", self._route.speakers, f"PulseAudio sink '{self._route.speakers}'")
                if out.pulse_sink == self._route.speakers else out
                for out in self._device_out_choices
            ]
        if not cfg.allow_feedback:
            for out in self._device_out_choices:
                same_sink = self._device_in.pulse_sink is not None and self._device_in.pulse_sink == out.pulse_sink
                same_device = not self._device_in.env and not out.env and out.index == self._device_in.index and (
                    cfg.input.strip().lower() == "loopback"
                )
                if same_sink or same_device:
                    what = f"sink '{out.pulse_sink}'" if same_sink else f"device '{out.name}'"
                    raise DeviceError(
                        f"the input captures {what}, which is also the output: that would feed back. Play the source into"
                        " another sink (e.g. pactl load-module module-null-sink sink_name=seplive_in, and pick it in your"
                        " player), choose --output YOUR_SPEAKERS, or pass --allow-feedback"
                    )
        log.info("input: %s", self._device_in.description)

    def _device_settings(self, cfg: SessionConfig) -> SessionConfig:
        """Device block, PortAudio latency and output reserve, from the flags or, with
        ``low_latency``, the smallest that are safe on the host API in use (said once)."""
        if not cfg.low_latency:
            return replace(cfg, device_block=cfg.device_block or 512, device_latency=cfg.device_latency or "high")
        jack = "JACK" in self._device_in.hostapi
        block = cfg.device_block or (128 if jack else 256)
        self.low_latency = {"host_api": self._device_in.hostapi, "device_block": block,
                            "device_latency": cfg.device_latency or "low", "output_reserve_blocks": 2}
        log.warning("low latency on %s: device blocks of %d frames, PortAudio latency %s, an output reserve of 2"
                    " blocks", self._device_in.hostapi, block, self.low_latency["device_latency"])
        return replace(cfg, device_block=block, device_latency=self.low_latency["device_latency"])

    def _feedback(self, cfg: SessionConfig) -> bool:
        """Would an output play into what the input captures?"""
        din = self._device_in
        for out in self._device_out_choices:
            if din.pulse_sink is not None and din.pulse_sink == out.pulse_sink:
                return True
            if not din.env and not out.env and out.index == din.index and cfg.input.strip().lower() == "loopback":
                return True
        return False

    def _open_source(self, cfg: SessionConfig):
        from .stream.audio_io import DeviceSource
        from .stream.resilient import ResilientSource

        choice = self._device_in
        rate = cfg.rate or self.plugin.sample_rate or 48000
        channels = cfg.channels or max(1, min(2, choice.channels))
        # a device that goes away mid-set is reopened when it is back (stream/resilient.py)
        return ResilientSource(choice, lambda: DeviceSource(choice, channels=channels, sample_rate=rate,
                                                            blocksize=cfg.device_block, latency=cfg.device_latency))

    def _open_device_sinks(self, cfg: SessionConfig) -> None:
        if not self._device_out_choices:
            return
        from .stream.audio_io import DeviceSink
        from .stream.resilient import ResilientSink

        for choice in self._device_out_choices:
            def opener(choice=choice):
                return DeviceSink(choice, channels=self.source.channels, sample_rate=self.source.sample_rate,
                                  blocksize=self.engine.block, latency=cfg.device_latency, floor_frames=self._floor())

            sink = ResilientSink(choice, opener)
            self.sinks.append(sink)
            self._device_outs.append(sink)

    def _watch_devices(self) -> None:
        """Start the thread that notices lost devices and reopens them."""
        from .stream.resilient import DeviceWatcher, _Resilient

        watched = [d for d in [self.source, *self.sinks, *self.stem_sinks] if isinstance(d, _Resilient)]
        if watched:
            self._watcher = DeviceWatcher(watched, before_check=self._route.ensure if self._route is not None else None)
            self._watcher.start()

    def _floor(self) -> int | None:
        """Output ring floor (frames): two blocks with low latency, else the sink's default."""
        return 2 * self.engine.block if self.low_latency else None

    def _device_latency_ms(self) -> dict[str, float]:
        if not self.live:
            return {}
        out = self._device_outs[0] if self._device_outs else None
        return {
            "device_in_ms": 1000.0 * self.source.latency_s,
            "device_out_ms": 1000.0 * out.latency_s if out else 0.0,
            "output_buffer_ms": 1000.0 * out.settled_fill / out.device_rate if out else 0.0,
        }

    @property
    def device_latency_samples(self) -> int:
        """The sound-card part of the latency, in source-rate samples."""
        ms = self._device_latency_ms()
        return int(round(sum(ms.values()) * self.source.sample_rate / 1000.0))

    def _poll_xruns(self, final: bool = False) -> None:
        """Add up rtmixer's over/underflow counts (asked for now, read when answered)."""
        streams = [self.source, *self._device_outs]
        still = []
        for stream, action in self._stats_actions:
            if action in stream._stream.actions and not final:
                still.append((stream, action))
                continue
            st = action.stats
            self.xruns += int(st.input_overflows + st.input_underflows + st.output_underflows + st.output_overflows)
        self._stats_actions = still
        if not final:
            for stream in streams:
                try:
                    self._stats_actions.append((stream, stream.stats()))
                except Exception as exc:  # a stream that died cannot answer
                    log.debug("no stats from %s: %s", stream.path, exc)

    def report(self) -> dict[str, Any]:
        """Everything about the run: settings, latency, counters (the --report JSON)."""
        eng = self.engine
        st = eng.compute_stats
        c = eng.counters
        live = self.status()
        del live["meters"]
        return {
            "seplive_version": __version__,
            "input": str(self.config.input),
            "output": self.config.output or next((o for o in self.config.outputs if o), None),
            "outputs": [o for o in [self.config.output, *self.config.outputs] if o],
            "model": self.plugin.name,
            "mix": {
                "gains_db": dict(self.mix_settings.gain_db),
                "muted": sorted(self.mix_settings.mute),
                "solo": sorted(self.mix_settings.solo),
                "fx": {k: dict(v) for k, v in self.mix_settings.fx.items()},
            },
            "fx": fx_report(eng.main if isinstance(eng, LaneEngine) else eng),
            "thread_scheduling": granted() if self.live else {},
            "low_latency": self.low_latency,
            "lanes": eng.lane_report() if isinstance(eng, LaneEngine) else [],
            "sample_rate": self.source.sample_rate,
            "model_sample_rate": eng.model_rate,
            "channels": self.source.channels,
            "block_samples": eng.block,
            "hop_samples": eng.hop,
            "hop_ms": 1000.0 * eng.hop / eng.model_rate,
            "context_samples": eng.context,
            "lookahead_samples": eng.lookahead,
            "crossfade_samples": eng.crossfade,
            "latency_samples": self.latency_samples,
            "engine_latency_samples": eng.latency_samples,
            "latency_breakdown_ms": {**eng.latency_breakdown(), **self._device_latency_ms()},
            "input_device": self._device_in.description if self._device_in else None,
            "output_devices": [d.choice.description for d in self._device_outs],
            "output_files": [str(k.path) for k in self.sinks if isinstance(k, FileSink)],
            "input_skipped_frames": getattr(self.source, "skipped_frames", 0),
            "input_truncated": bool(getattr(self.source, "truncated", False)),
            "route_recreated": self._route.recreated if self._route is not None else 0,
            "stems_out": self.config.stems_out,
            "stem_layout": self.stem_layout,
            "output_drift_corrections": sum(d.drift_corrections for d in self._device_outs),
            "output_restarts": sum(d.underflow_restarts for d in self._device_outs),
            "output_trimmed_frames": sum(d.trimmed_frames for d in self._device_outs),
            **(self._watcher.report() if self._watcher is not None else {}),
            "aligned_output": self.config.align,
            "realtime": self.config.realtime,
            "frames_in": self.frames_in,
            "frames_out": self.frames_out,
            "audio_s": self.frames_in / self.source.sample_rate,
            "wall_s": self.wall_s,
            "hops": c.hops,
            "skipped_hops": eng.skipped_hops,
            "underflows": c.underflows,
            "plugin_errors": c.plugin_errors,
            "model_bypassed": c.bypassed,
            "nonfinite_blocks": c.nonfinite_blocks,
            "clipped_blocks": c.clipped_blocks,
            "denormal_blocks": c.denormal_blocks,
            "dc_blocks": c.dc_blocks,
            "error_kinds": dict(c.error_kinds),
            "overload_advice": c.overload_advice,
            "rejected_changes": c.rejected_changes,
            "clipped_samples": sum(getattr(k, "clipped", 0) for k in self.sinks),
            "compute_ms_max": st.max_s * 1e3,
            **live,  # latency_ms, deadline_misses, xruns, rtf, compute_ms_p50/p99, prompts
            "stop_reason": self.stop_reason,
        }
