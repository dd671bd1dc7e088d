"""The sound-card side of a Session: which devices, routing, feedback guard, streams.

Device blocks in frames, PortAudio latency as "high", "low" or seconds, rates in Hz.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..models.prompts import REST
from ..stream.devices import DeviceError
from ..stream.files import FileSink, is_file_spec
from .config import SessionConfig

log = logging.getLogger("seplive")


@dataclass
class DevicePlan:
    """The devices a live run opens: the input, the device outputs, the PulseAudio route
    (None: none) and what ``--low-latency`` chose ({} without it)."""

    device_in: Any = None
    out_choices: list = field(default_factory=list)
    route: Any = None
    low_latency: dict[str, Any] = field(default_factory=dict)


def _is_loopback(cfg: SessionConfig) -> bool:
    return cfg.input.strip().lower() == "loopback"


def _resolve_all(cfg: SessionConfig, outputs: list[str], plan: DevicePlan) -> None:
    from ..stream import devices

    try:
        plan.device_in = devices.resolve(cfg.input, "input")
        plan.out_choices = [devices.resolve(o, "output") for o in outputs if not is_file_spec(o)]
    except devices.DeviceError:
        # PortAudio lists devices once, when it starts: look again before giving up
        devices.refresh()
        plan.device_in = devices.resolve(cfg.input, "input")
        plan.out_choices = [devices.resolve(o, "output") for o in outputs if not is_file_spec(o)]


def resolve_devices(cfg: SessionConfig, outputs: list[str], plan: DevicePlan) -> None:
    """Fill ``plan`` with the input and output devices; route loopback through a capture
    sink where it would play into itself; refuse any other feedback."""
    from ..stream import devices

    if sys.platform.startswith("linux") and devices.pulse_info() is not None:
        # a capture sink left by a killed seplive: repaired before anything is resolved
        # against it (refused when its seplive still runs and this one would route too)
        routing = cfg.route and not cfg.allow_feedback and _is_loopback(cfg)
        devices.repair_stale_route(refuse_if_alive=routing)
    _resolve_all(cfg, outputs, plan)
    if not cfg.allow_feedback and cfg.route and feeds_back(cfg, plan) and _is_loopback(cfg):
        # the usual desktop case: capture what plays and play it back to the same sink;
        # put seplive between the applications and the speakers instead
        route = plan.route = devices.PulseRoute()
        log.warning("loopback: %s", route.describe())
        plan.device_in = devices._via_pulse("input", f"{route.SINK}.monitor",
                                            f"loopback: what applications play (routed into '{route.SINK}')")
        plan.out_choices = [
            devices._via_pulse("output", route.speakers, f"PulseAudio sink '{route.speakers}'")
            if out.pulse_sink == route.speakers else out
            for out in plan.out_choices
        ]
    if not cfg.allow_feedback:
        _refuse_feedback(cfg, plan)
    log.info("input: %s", plan.device_in.description)


def _refuse_feedback(cfg: SessionConfig, plan: DevicePlan) -> None:
    din = plan.device_in
    for out in plan.out_choices:
        same_sink = din.pulse_sink is not None and din.pulse_sink == out.pulse_sink
        same_device = not din.env and not out.env and out.index == din.index and _is_loopback(cfg)
        if same_sink or same_device:
            what = f"sink '{out.pulse_sink}'" if same_sink else f"device '{out.name}'"
            raise DeviceError(
                f"the input captures {what}, which is also the output: that would feed back. Play the source into"
                " another sink (e.g. pactl load-module module-null-sink sink_name=seplive_in, and pick it in your"
                " player), choose --output YOUR_SPEAKERS, or pass --allow-feedback"
            )


def feeds_back(cfg: SessionConfig, plan: DevicePlan) -> bool:
    """Would an output play into what the input captures?"""
    din = plan.device_in
    for out in plan.out_choices:
        if din.pulse_sink is not None and din.pulse_sink == out.pulse_sink:
            return True
        if not din.env and not out.env and out.index == din.index and _is_loopback(cfg):
            return True
    return False


def device_settings(cfg: SessionConfig, plan: DevicePlan) -> SessionConfig:
    """Device block (frames) and PortAudio latency from the flags or, with ``low_latency``,
    the smallest that are safe on the host API in use (said once, kept in the plan)."""
    if not cfg.low_latency:
        return replace(cfg, device_block=cfg.device_block or 512, device_latency=cfg.device_latency or "high")
    hostapi = plan.device_in.hostapi
    jack = "JACK" in hostapi
    block = cfg.device_block or (128 if jack else 256)
    # JACK calls every client once per period, in step: the output ring needs one block
    # of reserve and its fill is steady to a few frames; other host APIs pull in gulps
    reserve = 1 if jack else 2
    plan.low_latency = {"host_api": hostapi, "device_block": block, "device_latency": cfg.device_latency or "low",
                        "output_reserve_blocks": reserve, "trim_tolerance_frames": 32 if jack else None}
    log.warning("low latency on %s: device blocks of %d frames, PortAudio latency %s, an output reserve of %d"
                " block%s", hostapi, block, plan.low_latency["device_latency"], reserve, "" if reserve == 1 else "s")
    return replace(cfg, device_block=block, device_latency=plan.low_latency["device_latency"])


def open_source(cfg: SessionConfig, choice: Any, model_rate: int | None):
    """The input device stream, reopened when a lost device is back (stream/resilient.py);
    at ``cfg.rate``, else the model's rate, else 48 kHz."""
    from ..stream.audio_io import DeviceSource
    from ..stream.resilient import ResilientSource

    rate = cfg.rate or model_rate or 48000
    channels = cfg.channels or max(1, min(2, choice.channels))
    return ResilientSource(choice, lambda: DeviceSource(choice, channels=channels, sample_rate=rate,
                                                        blocksize=cfg.device_block, latency=cfg.device_latency))


def open_device_sinks(cfg: SessionConfig, choices: list, source: Any, block: int, floor: int | None,
                      tolerance: int | None = None) -> list:
    """One resilient output stream per device choice, at the source's rate and channels;
    ``floor``: the output ring's floor in frames, ``tolerance``: how far above it the fill
    may settle before it is trimmed (None: the sink's defaults)."""
    from ..stream.audio_io import DeviceSink
    from ..stream.resilient import ResilientSink

    sinks = []
    for choice in choices:
        def opener(choice=choice):
            return DeviceSink(choice, channels=source.channels, sample_rate=source.sample_rate,
                              blocksize=block, latency=cfg.device_latency, floor_frames=floor,
                              trim_tolerance=tolerance)

        sinks.append(ResilientSink(choice, opener))
    return sinks


def stem_names(stem_tap: Any) -> list[str]:
    """The stems sent to ``--stems-out``, in channel order: the engine's tap, then rest."""
    return [*stem_tap, REST]


def open_stem_sinks(cfg: SessionConfig, names: list[str], source: Any, block: int) -> list:
    """``--stems-out``: one float wav per stem in a folder, or one multichannel device."""
    if not cfg.stems_out:
        return []
    C, rate = source.channels, source.sample_rate
    folder = Path(cfg.stems_out)
    if folder.is_dir() or cfg.stems_out.endswith(("/", "\\")):
        folder.mkdir(parents=True, exist_ok=True)
        return [FileSink(folder / f"{name}.wav", rate, C, "FLOAT") for name in names]
    from ..stream import devices
    from ..stream.audio_io import DeviceSink

    choice = devices.resolve(cfg.stems_out, "output")
    need = len(names) * C
    if choice.channels < need:
        raise DeviceError(f"--stems-out {choice.name} has {choice.channels} output channels; {len(names)} stems"
                          f" of {C} channels need {need}")
    return [DeviceSink(choice, channels=need, sample_rate=rate, blocksize=block, latency=cfg.device_latency)]


class XrunCounter:
    """Adds up rtmixer's over/underflow counts: asked for now, read when answered."""

    def __init__(self) -> None:
        self.count = 0
        self._pending: list = []

    def poll(self, streams: list, final: bool = False) -> None:
        still = []
        for stream, action in self._pending:
            if action in stream._stream.actions and not final:
                still.append((stream, action))
                continue
            st = action.stats
            self.count += int(st.input_overflows + st.input_underflows + st.output_underflows + st.output_overflows)
        self._pending = still
        if final:
            return
        for stream in streams:
            try:
                self._pending.append((stream, stream.stats()))
            except Exception as exc:  # a stream that died cannot answer
                log.debug("no stats from %s: %s", stream.path, exc)
