"""The live mix: which stems play, at what gain.

Output = master x (wet x (sum_p g_p x stem_p + g_rest x rest) + (1 - wet) x dry), with
``rest`` = dry minus the selected stems, so all gains at 0 dB give back the (delayed)
input.  Changes come in as :class:`MixChange` messages from any thread and are applied by
the audio worker at block boundaries, with short linear gain ramps so nothing clicks.
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass, field

import numpy as np

from ..models.prompts import REST


def db_to_gain(db: float) -> float:
    return 0.0 if db == -math.inf else 10.0 ** (db / 20.0)


@dataclass
class MixChange:
    """One change to the mix; ``kind`` names the field, ``stem`` the stem where it applies.

    kinds: ``gain_db`` (value dB), ``mute`` / ``solo`` (value bool), ``master_db``,
    ``wet`` (0..1), ``bypass`` (bool).
    """

    kind: str
    value: float | bool
    stem: str | None = None


@dataclass
class MixSettings:
    """Static description of a mix (what the CLI and presets produce)."""

    stems: list[str]
    gain_db: dict[str, float] = field(default_factory=dict)
    mute: set[str] = field(default_factory=set)
    solo: set[str] = field(default_factory=set)
    master_db: float = 0.0
    wet: float = 1.0
    bypass: bool = False

    @classmethod
    def from_cli(
        cls,
        prompts: list[str],
        mute: list[str],
        gains: dict[str, float],
    ) -> MixSettings:
        """``--prompts`` isolates (rest off), ``--mute`` removes (rest on).

        ``rest`` may appear in ``prompts`` (make it audible) or ``mute``.
        """
        stems: list[str] = []
        for p in [*prompts, *mute]:
            if p != REST and p not in stems:
                stems.append(p)
        settings = cls(stems=stems, gain_db=dict(gains))
        isolating = any(p != REST for p in prompts)
        if isolating and REST not in prompts:
            settings.mute.add(REST)
        settings.mute.update(mute)
        return settings

    def linear_gains(self) -> np.ndarray:
        """Gains of ``stems + [rest]`` as linear factors (solo and mute resolved)."""
        names = [*self.stems, REST]
        out = np.empty(len(names), dtype=np.float32)
        for i, name in enumerate(names):
            audible = name not in self.mute and (not self.solo or name in self.solo)
            out[i] = db_to_gain(self.gain_db.get(name, 0.0)) if audible else 0.0
        return out


class MixState:
    """The mix the worker plays, with thread-safe changes and per-sample ramps."""

    def __init__(self, settings: MixSettings, ramp_samples: int) -> None:
        self.settings = settings
        self.ramp_samples = max(int(ramp_samples), 1)
        self._pending: collections.deque[MixChange] = collections.deque()
        self._current = self._targets()
        self._target = self._current.copy()
        self._ramp_left = 0
        self._step = np.zeros_like(self._current)
        self.changes_applied = 0

    # -- from any thread -------------------------------------------------------------
    def post(self, change: MixChange) -> None:
        """Queue a change; deque.append is atomic, so this never blocks the worker."""
        self._pending.append(change)

    # -- worker side -----------------------------------------------------------------
    def _targets(self) -> np.ndarray:
        """[stem gains..., rest gain, wet, master] as linear factors."""
        s = self.settings
        wet = 0.0 if s.bypass else float(np.clip(s.wet, 0.0, 1.0))
        return np.concatenate([s.linear_gains(), [wet, db_to_gain(s.master_db)]]).astype(np.float32)

    def _apply(self, change: MixChange) -> None:
        s = self.settings
        if change.kind == "gain_db":
            s.gain_db[change.stem] = float(change.value)
        elif change.kind == "mute":
            (s.mute.add if change.value else s.mute.discard)(change.stem)
        elif change.kind == "solo":
            (s.solo.add if change.value else s.solo.discard)(change.stem)
        elif change.kind == "master_db":
            s.master_db = float(change.value)
        elif change.kind == "wet":
            s.wet = float(change.value)
        elif change.kind == "bypass":
            s.bypass = bool(change.value)
        else:
            raise ValueError(f"unknown mix change {change.kind!r}")

    def block_gains(self, n: int) -> np.ndarray:
        """Gains for the next ``n`` output samples: ``(n_stems + 3, n)`` or ``(n_stems + 3, 1)``.

        Rows: each stem, rest, wet, master.  A column of shape 1 means constant.
        """
        changed = False
        while self._pending:
            self._apply(self._pending.popleft())
            self.changes_applied += 1
            changed = True
        if changed:
            target = self._targets()
            if not np.array_equal(target, self._target):
                self._target = target
                self._step = (target - self._current) / self.ramp_samples
                self._ramp_left = self.ramp_samples
        if self._ramp_left == 0:
            return self._current[:, None]
        k = min(n, self._ramp_left)
        ramp = self._current[:, None] + self._step[:, None] * np.arange(1, n + 1, dtype=np.float32)[None, :]
        ramp[:, k:] = self._target[:, None]
        self._ramp_left -= k
        self._current = self._target.copy() if self._ramp_left == 0 else ramp[:, k - 1].copy()
        return ramp
