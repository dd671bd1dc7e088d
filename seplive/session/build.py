"""Building a Session's model side: the plugin (or a plugin per prompt), the starting mix
and the engine.  Gains in dB; window lengths passed untouched (samples or ms)."""

from __future__ import annotations

import logging
from typing import Any

from ..models import registry
from ..models.base import Separator, SeparatorError
from ..models.prompts import REST, canonical
from ..models.routing import PluginRoute
from ..stream.effects import select_fx_stems
from ..stream.engine import Engine, EngineConfig
from ..stream.lanes import LaneEngine
from ..stream.mix import MixSettings
from .config import SessionConfig

log = logging.getLogger("seplive")


def make_plugin(cfg: SessionConfig) -> tuple[Separator, PluginRoute | None]:
    """The plugin that serves the stems, and the route when other plugins serve some."""
    try:
        if cfg.plugin is not None:
            return cfg.plugin, None
        if cfg.models:
            route = PluginRoute(cfg.model, cfg.models, cfg.model_options)
            for note in route.notes:
                log.warning("model for %s", note)
            return route.single or route, route
        return registry.create(cfg.model, **cfg.model_options), None
    except TypeError as exc:  # an option the plugin does not take
        raise SeparatorError(f"model '{cfg.model}': {exc}") from None


def make_mix(cfg: SessionConfig, plugin: Separator) -> MixSettings:
    """The starting mix: every named stem checked against the plugin; a stem given only a
    gain is played."""
    prompts = [canonical(p) for p in cfg.prompts]
    mute = [canonical(p) for p in cfg.mute]
    gains = {canonical(k): v for k, v in cfg.gains_db.items()}
    for name in [*prompts, *mute, *gains]:
        if name != REST:
            plugin.check_prompts([name])
    for name in gains:
        if name != REST and name not in prompts and name not in mute:
            prompts.append(name)
    if not [p for p in [*prompts, *mute] if p != REST]:
        raise SeparatorError("nothing to separate: give --prompts and/or --mute")
    mix = MixSettings.from_cli(prompts, mute, gains)
    mix.master_db = float(cfg.master_db)
    mix.wet = float(cfg.wet)
    mix.fx = {canonical(k): dict(v) for k, v in cfg.fx.items()}
    select_fx_stems(mix)
    return mix


def engine_config(cfg: SessionConfig, source: Any, live: bool) -> EngineConfig:
    """The engine's config: the window lengths exactly as given (EngineConfig converts ms
    at the model's rate), threads and deadlines live or paced."""
    return EngineConfig(
        source_rate=source.sample_rate,
        channels=source.channels,
        block_samples=cfg.block_samples or (cfg.device_block if live else None),
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
        threaded=cfg.realtime or live,
        rt_priority=cfg.rt_priority if live else 0,
        stem_outputs=bool(cfg.stems_out),
        limiter=cfg.limiter,
    )


def make_engine(plugin: Separator, route: PluginRoute | None, mix: MixSettings, config: EngineConfig) -> Engine | LaneEngine:
    """One engine, or with a plugin per prompt one engine each, aligned (--hop and windows:
    the first's)."""
    lanes = route.lanes if route is not None and route.single is None else None
    if lanes:
        return LaneEngine(lanes, mix, config)
    return Engine(plugin, mix, config)
