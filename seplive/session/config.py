"""What one Session run needs (:class:`SessionConfig`) and the signals that stop it.

Window lengths are model-rate samples (``hop_samples``) or milliseconds (``hop_ms``),
handed untouched to EngineConfig, which converts ms at the model's rate; gains in dB;
durations in seconds.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from typing import Any

from ..models.base import Separator
from ..settings import RunSettings
from ..stream.priority import DEFAULT_PRIORITY


@dataclass
class SessionConfig:
    """Everything one run needs (the Python API; the command line builds it from
    :class:`seplive.settings.RunSettings` by :meth:`from_settings`).  Times in ms are
    converted at the model rate by the engine."""

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


    @classmethod
    def from_settings(cls, s: RunSettings, controls: list[Any] | None = None) -> SessionConfig:
        """The config of the layered command-line settings (the one place it is built from
        them); ``controls`` are the opened OSC/MIDI controls."""
        d, w, m = s.devices, s.window, s.mix
        return cls(
            input=s.input, outputs=list(s.outputs), rate=d.rate, channels=d.channels,
            device_block=d.device_block, device_latency=d.device_latency, low_latency=d.low_latency,
            rt_priority=d.rt_priority, allow_feedback=d.allow_feedback, route=d.route, stems_out=d.stems_out,
            controls=list(controls or []), model=s.model, models=dict(s.models),
            model_options=dict(s.model_options), prompts=list(m.prompts), mute=list(m.mute),
            gains_db=dict(m.gains_db), master_db=m.master_db, wet=m.wet, fx=dict(m.fx), limiter=m.limiter,
            hop_samples=w.hop, hop_ms=w.hop_ms, context_samples=w.context, context_ms=w.context_ms,
            lookahead_samples=w.lookahead, lookahead_ms=w.lookahead_ms, block_samples=s.block,
            crossfade_ms=s.crossfade_ms, compute_budget_hops=s.compute_budget,
            resample_quality=s.resample_quality, device=s.device, realtime=s.realtime,
            duration_s=s.duration_s, align=s.align, report=s.report, preset=s.preset,
        )  # fmt: skip

    @property
    def all_outputs(self) -> list[str]:
        """``output`` and ``outputs`` together, the empty ones left out."""
        return [o for o in [self.output, *self.outputs] if o]


#: the signals that stop a run cleanly, and the stop reason each gives
STOP_SIGNALS = {signal.SIGINT: "interrupted (SIGINT)", signal.SIGTERM: "terminated (SIGTERM)"}
if hasattr(signal, "SIGHUP"):
    STOP_SIGNALS[signal.SIGHUP] = "hung up (SIGHUP)"
