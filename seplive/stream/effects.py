"""The effects stage: per-stem effects and the master limiter, owned by the engine.

The mix with effects is ``sum_p g_p fx_p(s_p) - g_rest s_p + g_rest dry``; the mixer
already computes it without effects (``fx_p(s) = s``), so a hop with effects adds
``g_p (fx_p(s_p) - s_p)`` for each stem whose effects are on and audible, where
``s_p`` is the stem's crossfaded signal for the hop (model rate, ``(hop, channels)``):
one continuous stream per stem.  The master limiter works on the output block at the
output rate; its look-ahead (output samples) is part of the latency.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ..fx.chain import FxRack
from ..fx.limiter import Limiter
from ..fx.params import STAGES, is_active
from ..models.base import SeparatorError
from ..models.prompts import REST

if TYPE_CHECKING:
    from .mix import MixChange, MixSettings, MixState
    from .mixer import HopStems

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
    """The master limiter's look-ahead in output samples (0 without a limiter)."""
    if not cfg.limiter:
        return 0
    return Limiter(out_rate, 1, cfg.limiter_ceiling_db, cfg.limiter_lookahead_ms).lookahead


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


def make_rack(cfg, mix: MixSettings, check_prompts: Callable, rate: int, channels: int, hop: int,
              ramp_samples: int) -> FxRack | None:
    """The effect rack at the model ``rate`` (Hz); refuses effects on stems the model
    lacks, and effects without pyo (naming the extra).  Without pyo and without effects:
    None.

    pyo is imported here (~0.2 s, once per process) when effects are configured, or when
    the engine runs live (threaded), where a control may turn one on: importing it later,
    on a thread beside the audio worker, would hold the interpreter that long.  An
    offline engine without effects never imports it."""
    from ..fx.pyo_backend import MISSING, FxUnavailable, installed, load_pyo  # noqa: PLC0415

    for stem in mix.fx:
        if stem == REST:
            raise SeparatorError("effects apply to separated stems, not to 'rest'")
        check_prompts([stem])
    if _uses_fx(mix.fx) or (cfg.threaded and installed()):
        try:
            load_pyo()
        except FxUnavailable:
            if _uses_fx(mix.fx):
                raise SeparatorError(MISSING) from None
            return None
    elif not installed():
        return None
    return FxRack(rate, channels, hop, ramp_samples, mix.fx)


class EffectsStage:
    """Per-stem effects (``rack``, None without pyo) and the master ``limiter`` (None
    unless configured); ``limiter_delay`` is its look-ahead in output samples."""

    def __init__(self, cfg, rack: FxRack | None, out_rate: int, channels: int, taps: int) -> None:
        self._cfg = cfg
        self.rack = rack
        self._out_rate, self._channels, self._taps = out_rate, channels, taps
        self.limiter_delay = limiter_delay(cfg, out_rate)
        self.limiter: Limiter | None = None
        self._tap_delay: FixedDelay | None = None
        self.reset()

    def reset(self) -> None:
        """Fresh limiter (and tap delay); the effect chains forget their tails."""
        cfg = self._cfg
        self.limiter = self._tap_delay = None
        if cfg.limiter:
            self.limiter = Limiter(self._out_rate, self._channels, cfg.limiter_ceiling_db, cfg.limiter_lookahead_ms)
            if self._taps:
                self._tap_delay = FixedDelay(self.limiter.lookahead, (self._taps + 1) * self._channels)
        if self.rack is not None:
            self.rack.reset()

    def check_change(self, change: MixChange) -> None:
        """Refuse an fx change the engine cannot play (raises ValueError)."""
        from ..fx.pyo_backend import MISSING  # noqa: PLC0415

        if change.stem in (None, REST):
            raise ValueError("effects apply to separated stems, not to 'rest'")
        if self.rack is None:
            raise ValueError(MISSING)

    def apply_hop(self, part: np.ndarray, g: np.ndarray, hop_stems: HopStems, mix: MixState, hop: int,
                  crossfade) -> None:
        """Add this hop's effect output to ``part`` ``(hop, channels)`` in place; ``g`` the
        hop's gains (rows, 1 or hop); ``crossfade`` the mixer's method that turns a stem's
        pieces into its hop signal."""
        rack = self.rack
        rack.begin_hop(mix.settings.fx, hop)
        stems = rack.active()
        if not stems:
            return
        present = hop_stems.present()
        for stem in stems:
            row = mix.index.get(stem)
            if row is None or stem not in present:
                continue
            gp = g[row]
            if float(np.max(gp)) <= SILENT_GAIN:
                rack.skip(stem)
                continue
            s, _ = crossfade(*hop_stems.pick(stem))
            y = rack.process(stem, s)
            if y is not None:
                part += (gp[:, None] if len(gp) > 1 else gp[0]) * (y - s)

    def limit(self, out: np.ndarray, stems: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        """The master limiter on ``out`` ``(frames, channels)``; the tapped ``stems``
        ``(frames, taps + 1, channels)`` delayed alike so they stay aligned."""
        if self.limiter is None:
            return out, stems
        out = self.limiter.process(out)
        if stems is not None and self._tap_delay is not None:
            stems = self._tap_delay.process(stems.reshape(len(stems), -1)).reshape(stems.shape)
        return out, stems

    def close(self) -> None:
        if self.rack is not None:
            self.rack.close()


def fx_report(engine) -> dict:
    """Effect counters for a run report: hops each stem's chain ran, was skipped
    (silent stem) or waited for its chain; the limiter's work."""
    rack, lim = engine.fx, getattr(engine, "limiter", None)
    out: dict = {"limiter": lim is not None}
    if lim is not None:
        out["limited_samples"] = lim.limited_samples
    if rack is not None:
        out.update(processed_hops=dict(rack.processed), skipped_hops=dict(rack.skipped),
                   pending_hops=dict(rack.pending), failed=rack.failed)
    return out
