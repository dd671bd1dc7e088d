"""The one snapshot of a Session that every report reads: the OSC state pushes and
:meth:`Session.status` (level "status"), the terminal view and the JSON status log
(:meth:`Session.live_status`, level "live") and the ``--report`` JSON (level "report").

Each level adds keys to the one before; a key means the same at every level, except
``input``/``outputs``: the view shows the devices' descriptions, the report the names given.  Times in ms
(``*_ms``) or seconds (``*_s``), lengths in samples (``*_samples``) at the source rate
unless named for the model, gains in dB.  Reads counters only: any thread may call it.
"""

from __future__ import annotations

import time
from typing import Any

from .. import __version__
from ..models.prompts import REST
from ..stream.effects import fx_report
from ..stream.files import FileSink
from ..stream.lanes import LaneEngine
from ..stream.priority import granted

LEVELS = ("status", "live", "report")


def snapshot(session: Any, level: str = "status") -> dict[str, Any]:
    """The session's state at ``level`` (one of LEVELS)."""
    if level not in LEVELS:
        raise ValueError(f"snapshot level {level!r}: one of {', '.join(LEVELS)}")
    out = _counters(session)
    if level == "status":
        return out
    out.update(_view(session))
    if level == "live":
        return out
    del out["meters"]
    return {**out, **_run(session), "stop_reason": session.stop_reason}


def _counters(s: Any) -> dict[str, Any]:
    """Live counters: latency, misses, xruns, load, meters, stems and who serves them."""
    eng = s.engine
    st = eng.compute_stats
    served = s.served_by()
    audio_s = s.frames_in / s.source.sample_rate
    return {
        "latency_ms": 1000.0 * s.latency_samples / s.source.sample_rate,
        "deadline_misses": eng.counters.deadline_misses,
        "misses": s.miss_causes(),
        "xruns": s.xruns,
        "rtf": st.total_s / audio_s if audio_s else 0.0,
        "compute_ms_p50": st.percentile_ms(50),
        "compute_ms_p99": st.percentile_ms(99),
        "meters": dict(eng.meters),
        "prompts": list(eng.prompts),
        "models": {p: served[p] for p in eng.prompts if p in served},
    }


def _view(s: Any) -> dict[str, Any]:
    """What a status view adds: the mix, the latency breakdown, the hop budget, the last
    control message and the devices lost."""
    eng = s.engine
    mix = eng.mix.settings
    watched = s._watcher.watched if s._watcher is not None else []
    last = getattr(s, "last_control", None)
    return {
        "devices_lost": [f"{w.kind} {w.name}" for w in watched if w.lost],
        "model": s.plugin.name,
        "preset": s.config.preset,
        "input": s.input_description,
        "outputs": s.output_descriptions,
        "hop_ms": 1000.0 * eng.hop / eng.model_rate,
        "budget_ms": 1000.0 * eng.compute_budget / eng.out_rate,
        "latency_breakdown_ms": {**eng.latency_breakdown(), **s.device_latency_ms()},
        "gains_db": {p: (None if (p in mix.mute or (mix.solo and p not in mix.solo)) else mix.gain_db.get(p, 0.0))
                     for p in [*mix.stems, REST]},
        "master_db": mix.master_db,
        "wet": mix.wet,
        "bypass": mix.bypass or eng.counters.bypassed,
        "plugin_errors": eng.counters.plugin_errors,
        "nonfinite_blocks": eng.counters.nonfinite_blocks,
        "audio_s": s.frames_in / s.source.sample_rate,
        "last_control": None if last is None else
        {"ago_s": time.monotonic() - last[0], "origin": last[1], "message": last[2]},
    }


def _run(s: Any) -> dict[str, Any]:
    """What the --report adds: the settings, the windowing, the devices, the counters."""
    eng, cfg = s.engine, s.config
    outputs = cfg.all_outputs
    return {
        "seplive_version": __version__,
        "input": str(cfg.input),
        "output": outputs[0] if outputs else None,
        "outputs": outputs,
        "mix": {
            "gains_db": dict(s.mix_settings.gain_db),
            "muted": sorted(s.mix_settings.mute),
            "solo": sorted(s.mix_settings.solo),
            "fx": {k: dict(v) for k, v in s.mix_settings.fx.items()},
        },
        "fx": fx_report(eng.main if isinstance(eng, LaneEngine) else eng),
        "thread_scheduling": granted() if s.live else {},
        "low_latency": s.low_latency,
        "lanes": eng.lane_report() if isinstance(eng, LaneEngine) else [],
        **_windowing(s),
        **_devices(s),
        "aligned_output": cfg.align,
        "realtime": cfg.realtime,
        "frames_in": s.frames_in,
        "frames_out": s.frames_out,
        "wall_s": s.wall_s,
        **_engine_counters(s),
    }


def _windowing(s: Any) -> dict[str, Any]:
    eng = s.engine
    return {
        "sample_rate": s.source.sample_rate,
        "model_sample_rate": eng.model_rate,
        "channels": s.source.channels,
        "block_samples": eng.block,
        "hop_samples": eng.hop,
        "context_samples": eng.context,
        "lookahead_samples": eng.lookahead,
        "crossfade_samples": eng.crossfade,
        "latency_samples": s.latency_samples,
        "engine_latency_samples": eng.latency_samples,
    }


def _devices(s: Any) -> dict[str, Any]:
    outs = s._device_outs
    return {
        "input_device": s._device_in.description if s._device_in else None,
        "output_devices": [d.choice.description for d in outs],
        "output_files": [str(k.path) for k in s.sinks if isinstance(k, FileSink)],
        "input_skipped_frames": getattr(s.source, "skipped_frames", 0),
        "input_truncated": bool(getattr(s.source, "truncated", False)),
        "route_recreated": s._route.recreated if s._route is not None else 0,
        "stems_out": s.config.stems_out,
        "stem_layout": s.stem_layout,
        "output_drift_corrections": sum(d.drift_corrections for d in outs),
        "output_restarts": sum(d.underflow_restarts for d in outs),
        "output_trimmed_frames": sum(d.trimmed_frames for d in outs),
        **(s._watcher.report() if s._watcher is not None else {}),
    }


def _engine_counters(s: Any) -> dict[str, Any]:
    eng = s.engine
    c = eng.counters
    return {
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
        "clipped_samples": sum(getattr(k, "clipped", 0) for k in s.sinks),
        "compute_ms_max": eng.compute_stats.max_s * 1e3,
    }
