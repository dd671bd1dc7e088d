"""The engine's hooks into effects and the limiter, kept out of the engine module.

The mix with effects is ``sum_p g_p fx_p(s_p) - g_rest s_p + g_rest dry``; the engine
already computes it without effects (``fx_p(s) = s``), so a hop with effects adds
``g_p (fx_p(s_p) - s_p)`` for each stem whose effects are on and audible, where
``s_p`` is the stem's crossfaded signal for the hop: one continuous stream per stem.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from ..models.base import SeparatorError
from ..models.prompts import REST
from .chain import FxRack
from .limiter import Limiter
from .params import STAGES, is_active

if TYPE_CHECKING:
    from ..control.mix import MixChange, MixSettings
    from ..stream.engine import Engine

log = logging.getLogger("seplive.fx")

#: a stem gain at or below this (-120 dB, the mix's floor) is silence: its chain is skipped
SILENT_GAIN = 1e-6


class FixedDelay:
    """Delays ``(n, channels)`` blocks by a whole number of samples."""

    def __init__(self, delay: int, channels: int) -> None:
        self._buf = np.zeros((delay, channels), np.float32)

    def process(self, x: np.ndarray) -> np.ndarray:
        xd = np.concatenate([self._buf, x])
        self._buf = xd[len(x) :].copy()
        return xd[: len(x)]


def limiter_delay(cfg, out_rate: int) -> int:
    if not cfg.limiter:
        return 0
    return Limiter(out_rate, 1, cfg.limiter_ceiling_db, cfg.limiter_lookahead_ms).lookahead


def make_limiter(engine: Engine) -> tuple[Limiter | None, FixedDelay | None]:
    cfg = engine.config
    if not cfg.limiter:
        return None, None
    lim = Limiter(engine.out_rate, engine.channels, cfg.limiter_ceiling_db, cfg.limiter_lookahead_ms)
    taps = FixedDelay(lim.lookahead, (len(engine.stem_tap) + 1) * engine.channels) if engine.stem_tap else None
    return lim, taps


def _uses_fx(fx: dict[str, dict[str, float]]) -> bool:
    return any(is_active(params, s) for params in fx.values() for s in STAGES)


def select_fx_stems(mix: MixSettings) -> None:
    """Stems with effects must be separated for the effects to act: add those heard as
    part of rest to the selection (the mix sounds the same, now with the effect).  A
    stem not heard at all (isolating other stems) is left out, with a warning."""
    for stem in mix.fx:
        if stem in mix.stems or stem == REST or not _uses_fx({stem: mix.fx[stem]}):
            continue
        if mix.gain(REST) > 0:
            mix.stems.append(stem)
        else:
            log.warning("'%s' is not playing (rest is muted): its effects do nothing until it is selected", stem)


def make_rack(engine: Engine, mix: MixSettings) -> FxRack | None:
    """The engine's effect rack; refuses effects on stems the model lacks, and effects
    without pyo (naming the extra).  Without pyo and without effects: None.

    pyo is imported here (~0.2 s, once per process) when effects are configured, or when
    the engine runs live (threaded), where a control may turn one on: importing it later,
    on a thread beside the audio worker, would hold the interpreter that long.  An
    offline engine without effects never imports it."""
    from .pyo_backend import MISSING, FxUnavailable, installed, load_pyo  # noqa: PLC0415

    for stem in mix.fx:
        if stem == REST:
            raise SeparatorError("effects apply to separated stems, not to 'rest'")
        engine.check_prompts([stem])
    if _uses_fx(mix.fx) or (engine.config.threaded and installed()):
        try:
            load_pyo()
        except FxUnavailable:
            if _uses_fx(mix.fx):
                raise SeparatorError(MISSING) from None
            return None
    elif not installed():
        return None
    return FxRack(engine.model_rate, engine.channels, engine.hop, engine.mix.ramp_samples, mix.fx)


def check_change(engine: Engine, change: MixChange) -> None:
    """Refuse an fx change the engine cannot play (raises ValueError)."""
    from .pyo_backend import MISSING  # noqa: PLC0415

    if change.stem in (None, REST):
        raise ValueError("effects apply to separated stems, not to 'rest'")
    if engine.fx is None:
        raise ValueError(MISSING)


def apply_hop(engine: Engine, part: np.ndarray, g: np.ndarray, assemble, prompts, tail_prev) -> None:
    """Add this hop's effect output to ``part`` (H, C) in place."""
    rack = engine.fx
    rack.begin_hop(engine.mix.settings.fx, engine.hop)
    stems = rack.active()
    if not stems:
        return
    present = set(prompts or ()) | set(tail_prev[1] if tail_prev is not None else ())
    for stem in stems:
        row = engine.mix.index.get(stem)
        if row is None or stem not in present:
            continue
        gp = g[row]
        if float(np.max(gp)) <= SILENT_GAIN:
            rack.skip(stem)
            continue
        s, _ = assemble(lambda st, pr, a, b, name=stem: engine._pick(st, pr, name))
        y = rack.process(stem, s)
        if y is not None:
            part += (gp[:, None] if len(gp) > 1 else gp[0]) * (y - s)


def fx_report(engine: Engine) -> dict:
    """Effect counters for a run report: hops each stem's chain ran, was skipped
    (silent stem) or waited for its chain; the limiter's work."""
    rack, lim = engine.fx, getattr(engine, "_limiter", None)
    out: dict = {"limiter": lim is not None}
    if lim is not None:
        out["limited_samples"] = lim.limited_samples
    if rack is not None:
        out.update(processed_hops=dict(rack.processed), skipped_hops=dict(rack.skipped),
                   pending_hops=dict(rack.pending), failed=rack.failed)
    return out
