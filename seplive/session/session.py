"""The Session: builds source + engine + model + mix + sinks from a SessionConfig, runs
them (seplive/session/loop.py) and reports (seplive/session/snapshot.py)."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from typing import Any

from ..models.routing import PluginRoute
from ..stream.files import FileSink, FileSource, is_file_spec
from ..stream.lanes import LaneEngine
from ..stream.stalls import StallMeter
from . import build, devices, loop
from .config import SessionConfig
from .snapshot import snapshot

log = logging.getLogger("seplive")


class Session:
    """Builds the pieces from a :class:`SessionConfig` and runs them until the input
    ends, ``duration_s`` passes, or :meth:`stop` (SIGINT) is called."""

    def __init__(self, config: SessionConfig) -> None:
        self.config = config
        self._stop = threading.Event()
        self.stop_reason = ""
        self._plan = devices.DevicePlan()
        self.models: PluginRoute | None = None
        try:
            self._setup(config)
        except BaseException:
            if self._route is not None:  # put the system's audio back as it was
                self._route.close()
            if self.models is not None:
                self.models.close()
            raise

    # -- building ------------------------------------------------------------------------
    def _setup(self, config: SessionConfig) -> None:
        from ..validate import check_config, check_destinations

        config = check_config(config)  # the same checks as flags, presets, SEPLIVE_* (issue #24)
        # every destination checked before anything opens: nothing written over the input
        check_destinations(config, live=not is_file_spec(config.input))
        self.live = not is_file_spec(config.input)
        self.config = cfg = self._devices_chosen(config)
        self.plugin, self.models = build.make_plugin(cfg)
        self.mix_settings = build.make_mix(cfg, self.plugin)
        self.source = (devices.open_source(cfg, self._plan.device_in, self.plugin.sample_rate) if self.live
                       else FileSource(cfg.input))
        self.engine = build.make_engine(self.plugin, self.models, self.mix_settings,
                                        build.engine_config(cfg, self.source, self.live))
        self._open_sinks(cfg)
        self._xruns = devices.XrunCounter()
        self._watcher = None
        self.frames_in = 0
        self.frames_out = 0
        self.wall_s = 0.0
        self.stalls = StallMeter()

    def _devices_chosen(self, cfg: SessionConfig) -> SessionConfig:
        """Resolve the devices; the config with the device block and latency settled."""
        outputs = cfg.all_outputs
        if self.live:
            devices.resolve_devices(cfg, outputs, self._plan)
            return devices.device_settings(cfg, self._plan)
        if any(not is_file_spec(o) for o in outputs):  # a file played to a device (--realtime)
            from ..stream import devices as stream_devices

            self._plan.out_choices = [stream_devices.resolve(o, "output") for o in outputs if not is_file_spec(o)]
            return replace(cfg, device_block=cfg.device_block or 512, device_latency=cfg.device_latency or "high")
        return cfg

    def _open_sinks(self, cfg: SessionConfig) -> None:
        src = self.source
        self.sinks: list = []
        self.stem_sinks: list = []
        self._device_outs: list = []
        try:
            for spec in cfg.all_outputs:
                if is_file_spec(spec):
                    self.sinks.append(FileSink(spec, src.sample_rate, src.channels, src.subtype))
            low = self.low_latency  # the output reserve it chose (blocks), else the sink's own floor
            floor = low["output_reserve_blocks"] * self.engine.block if low else None
            self._device_outs = devices.open_device_sinks(cfg, self._plan.out_choices, src, self.engine.block, floor,
                                                          low.get("trim_tolerance_frames") if low else None)
            self.sinks += self._device_outs
            self.stem_sinks = devices.open_stem_sinks(cfg, devices.stem_names(self.engine.stem_tap) if cfg.stems_out
                                                      else [], src, self.engine.block)
            # the device rings that say how long a hop may wait (a stems-only device counts)
            self._deadline_outs = self._device_outs + [s for s in self.stem_sinks if not isinstance(s, FileSink)]
        except BaseException:
            for sink in self.sinks:
                sink.close(ok=False)
            src.close()
            raise

    @property
    def _route(self):
        """The PulseAudio capture route of a routed loopback run (None: none)."""
        return self._plan.route

    @property
    def _device_in(self):
        return self._plan.device_in

    @property
    def low_latency(self) -> dict[str, Any]:
        """What --low-latency chose: host API, device block, latency, output reserve ({} off)."""
        return self._plan.low_latency

    # -- what it is ----------------------------------------------------------------------
    @property
    def latency_samples(self) -> int:
        """Input to output, sound card included, in source-rate samples."""
        return self.engine.latency_samples + self.device_latency_samples

    @property
    def device_latency_samples(self) -> int:
        """The sound-card part of the latency, in source-rate samples."""
        ms = self.device_latency_ms()
        return int(round(sum(ms.values()) * self.source.sample_rate / 1000.0))

    def device_latency_ms(self) -> dict[str, float]:
        """Live: the input device's, output device's and output ring's latency in ms."""
        if not self.live:
            return {}
        out = self._device_outs[0] if self._device_outs else None
        return {
            "device_in_ms": 1000.0 * self.source.latency_s,
            "device_out_ms": 1000.0 * out.latency_s if out else 0.0,
            "output_buffer_ms": 1000.0 * out.settled_fill / out.device_rate if out else 0.0,
        }

    @property
    def input_description(self) -> str:
        return self._device_in.description if self._device_in else str(self.config.input)

    @property
    def output_descriptions(self) -> list[str]:
        return [d.choice.description if hasattr(d, "choice") else str(d.path) for d in self.sinks]

    @property
    def stem_layout(self) -> dict[str, list[int]]:
        """Stem -> its output channels (1-based) on the --stems-out device."""
        if not self.config.stems_out:
            return {}
        C = self.source.channels
        names = devices.stem_names(self.engine.stem_tap)
        return {name: list(range(i * C + 1, (i + 1) * C + 1)) for i, name in enumerate(names)}

    def served_by(self) -> dict[str, str]:
        """Which plugin computes each stem of the session's vocabulary (stem -> model name)."""
        if isinstance(self.engine, LaneEngine):
            return self.engine.served_by()
        return {p: self.plugin.name for p in self.engine.vocabulary}

    def miss_causes(self) -> dict[str, Any]:
        """Deadline misses by cause, and the timings that tell a stall from a slow model."""
        return {**self.engine.miss_causes(), **self.stalls.report()}

    @property
    def xruns(self) -> int:
        """Device over/underflows counted so far (live)."""
        return self._xruns.count

    def poll_xruns(self, final: bool = False) -> None:
        """Ask the device streams for their over/underflow counts (read when answered)."""
        self._xruns.poll([self.source, *self._device_outs], final)

    # -- reports: views of the one snapshot ----------------------------------------------
    def snapshot(self, level: str = "status") -> dict[str, Any]:
        """The session's state at ``level``: status, live or report (see snapshot.py)."""
        return snapshot(self, level)

    def status(self) -> dict[str, Any]:
        """Live counters for OSC pushes (any thread)."""
        return snapshot(self, "status")

    def live_status(self) -> dict[str, Any]:
        """What a status view shows: :meth:`status` plus the mix, latency breakdown, hop
        budget and last control message (any thread)."""
        return snapshot(self, "live")

    def report(self) -> dict[str, Any]:
        """Everything about the run: settings, latency, counters (the --report JSON)."""
        return snapshot(self, "report")

    # -- running -------------------------------------------------------------------------
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

    def stop(self, reason: str = "stopped") -> None:
        """Ask the run loop to finish after the current block (thread-safe)."""
        self.stop_reason = self.stop_reason or reason
        self._stop.set()

    def run(self) -> dict[str, Any]:
        """Run to the end; always closes files and returns (and writes) the report."""
        return loop.run(self)

    def close_route(self) -> None:
        """Put the system's audio routing back (a run stopped before its loop took over)."""
        if self._route is not None:
            self._route.close()

    def _watch_devices(self) -> None:
        """Start the thread that notices lost devices and reopens them."""
        from ..stream.resilient import DeviceWatcher, _Resilient

        watched = [d for d in [self.source, *self.sinks, *self.stem_sinks] if isinstance(d, _Resilient)]
        if watched:
            self._watcher = DeviceWatcher(watched, before_check=self._route.ensure if self._route is not None else None)
            self._watcher.start()
