"""Hop scheduling: mix changes stamped to hops, and which prompts each hop computes.

A change posted from any thread is checked when the worker takes it (a bad one is
counted and dropped) and stamped with the next hop to be submitted: it takes effect from
that hop on, so a new prompt is computed from the very hop its gain starts to ramp in.
A stem that leaves the selection is still computed for ``linger_hops`` hops while it
fades out.  Gains come out per model-rate sample of a hop (see :meth:`HopScheduler.hop_gains`).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable

import numpy as np

from ..models.base import SeparatorError
from .counters import EngineCounters
from .mix import KINDS, MixChange, MixSettings, MixState

log = logging.getLogger("seplive.engine")

#: change kinds that change the selection
_SELECTION = ("prompts", "toggle_prompt", "replace")


class HopScheduler:
    """Schedules ``mix`` changes by hop; ``serves``: the prompts this engine's plugin
    computes; ``check_prompts`` / ``check_fx`` refuse a change (raise)."""

    def __init__(self, mix: MixState, serves: frozenset[str], linger_hops: int, counters: EngineCounters,
                 check_prompts: Callable, check_fx: Callable) -> None:
        self.mix = mix
        self.vocabulary = mix.vocabulary
        self.serves = serves
        self.linger_hops = linger_hops
        self._counters = counters
        self._check_prompts, self._check_fx = check_prompts, check_fx
        self.reset()

    def reset(self) -> None:
        self._scheduled: list[tuple[int, MixChange]] = []
        self._last_selected = {p: 0 for p in self.mix.settings.stems}
        self._steady_prompts: tuple[str, ...] | None = None
        self._future_selection: list[str] | None = None

    def take_changes(self, next_hop: int) -> None:
        """Check the queued changes and stamp the good ones with ``next_hop``."""
        for change in self.mix.take_pending():
            try:
                self._check(change)
            except (SeparatorError, ValueError, TypeError) as exc:
                self._counters.rejected_changes += 1
                log.warning("mix change ignored: %s", exc)
                continue
            self._scheduled.append((next_hop, change))
            if change.kind in _SELECTION:
                probe = MixSettings(stems=list(self._pending_selection()))
                probe.apply(change)
                self._future_selection = probe.stems

    def _check(self, change: MixChange) -> None:
        if change.kind in _SELECTION:
            names = (list(change.value) if change.kind == "prompts" else list(change.value.stems)
                     if change.kind == "replace" else [change.stem])
            self._check_prompts(names)
        elif change.stem is not None:
            self._check_prompts([change.stem])
        if change.kind == "fx":
            self._check_fx(change)
        if change.kind not in KINDS:
            raise ValueError(f"unknown mix change {change.kind!r}")
        copy.deepcopy(self.mix.settings).apply(change)  # refuse bad values here, not mid-hop

    def _pending_selection(self) -> list[str]:
        return self._future_selection or list(self.mix.settings.stems)

    def job_prompts(self, hop: int) -> tuple[str, ...]:
        """The prompts hop ``hop`` computes: the selection, plus stems that left it
        recently and are still fading out, in vocabulary order, of those served."""
        m = self.mix
        steady = not self._scheduled and not m.ramping and len(self._last_selected) == len(m.settings.stems)
        if steady and self._steady_prompts is not None:
            return self._steady_prompts  # nothing changes, nothing fades: same as last hop
        for p in self._pending_selection():
            self._last_selected[p] = hop
        keep = {p for p, last in self._last_selected.items() if hop - last <= self.linger_hops}
        # and any stem whose gain still differs from rest's (a ramp restarted by a newer change)
        for cur in (m.current, m.target):
            coef = np.abs(cur[: m.rest_row] - cur[m.rest_row]) > 1e-7
            keep.update(self.vocabulary[i] for i in np.nonzero(coef)[0])
        for p in [p for p in self._last_selected if p not in keep]:
            del self._last_selected[p]
        prompts = tuple(p for p in self.vocabulary if p in keep and p in self.serves)
        self._steady_prompts = prompts if steady else None
        return prompts

    def hop_gains(self, hop: int, hop_len: int, crossfade: int) -> np.ndarray:
        """Apply the changes due at ``hop`` and return its gains, ``(rows, hop_len)`` or
        ``(rows, 1)`` when constant.  The first ``crossfade`` samples still belong to the
        previous hop (its tail): the changes start ramping where this hop's own samples start."""
        X = crossfade
        g_before = self.mix.gains(X)
        for change in [c for h, c in self._scheduled if h <= hop]:
            self.mix.apply(change)
        self._scheduled = [(h, c) for h, c in self._scheduled if h > hop]
        if not self._scheduled:
            self._future_selection = None
        g_after = self.mix.gains(hop_len - X)
        if g_before.shape[1] == 1 and g_after.shape[1] == 1 and np.array_equal(g_before, g_after):
            return g_before
        return np.concatenate([np.broadcast_to(g_before, (len(g_before), X)),
                               np.broadcast_to(g_after, (len(g_after), hop_len - X))], axis=1)
