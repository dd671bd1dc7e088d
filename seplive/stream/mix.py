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

from ..fx.params import check_param
from ..models.prompts import REST


def db_to_gain(db: float) -> float:
    return 0.0 if db == -math.inf else 10.0 ** (db / 20.0)


@dataclass
class MixChange:
    """One change to the mix; ``kind`` names what changes, ``stem`` where it applies.

    kinds: ``gain_db`` (value dB), ``mute`` / ``solo`` (value bool), ``master_db``,
    ``wet`` (0..1), ``bypass`` (bool), ``prompts`` (value: the list of selected stems),
    ``toggle_prompt`` (stem: add it to or remove it from the selection), ``fx`` (value:
    ``(param, number)``, an effect parameter of the stem, see :mod:`seplive.fx.params`),
    ``replace`` (value: a whole :class:`MixSettings`, applied at once: a preset loaded live).
    """

    kind: str
    value: object = None
    stem: str | None = None


KINDS = ("gain_db", "mute", "solo", "master_db", "wet", "bypass", "prompts", "toggle_prompt", "fx", "replace")


@dataclass
class MixSettings:
    """Static description of a mix (what the CLI and presets produce).

    ``stems`` is the selection: the stems the model computes and the mix addresses by
    name.  Stems outside it are part of ``rest``.
    """

    stems: list[str]
    gain_db: dict[str, float] = field(default_factory=dict)
    mute: set[str] = field(default_factory=set)
    solo: set[str] = field(default_factory=set)
    master_db: float = 0.0
    wet: float = 1.0
    bypass: bool = False
    #: per-stem effect parameters: stem -> {param: value} (see seplive.fx.params)
    fx: dict[str, dict[str, float]] = field(default_factory=dict)

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

    def gain(self, name: str) -> float:
        """Linear gain of a selected stem or ``rest``, mute and solo resolved."""
        audible = name not in self.mute and (not self.solo or name in self.solo)
        return db_to_gain(self.gain_db.get(name, 0.0)) if audible else 0.0

    def apply(self, change: MixChange) -> None:
        """Apply one change; raises ValueError for an unknown kind or a bad value."""
        k, v = change.kind, change.value
        if k == "gain_db":
            db = float(v)
            if math.isnan(db):
                raise ValueError("gain is NaN")
            self.gain_db[change.stem] = max(-120.0, min(24.0, db))
        elif k == "mute":
            (self.mute.add if v else self.mute.discard)(change.stem)
        elif k == "solo":
            (self.solo.add if v else self.solo.discard)(change.stem)
        elif k == "master_db":
            db = float(v)
            if math.isnan(db):
                raise ValueError("master gain is NaN")
            self.master_db = max(-120.0, min(24.0, db))
        elif k == "wet":
            w = float(v)
            if math.isnan(w):
                raise ValueError("wet is NaN")
            self.wet = min(max(w, 0.0), 1.0)
        elif k == "bypass":
            self.bypass = bool(v)
        elif k == "prompts":
            names = [str(p) for p in v]
            self.stems = [p for i, p in enumerate(names) if p != REST and p not in names[:i]]
        elif k == "replace":
            if not isinstance(v, MixSettings):
                raise TypeError("replace takes a MixSettings")
            self.stems = [p for p in dict.fromkeys(v.stems) if p != REST]
            self.gain_db = {p: max(-120.0, min(24.0, float(db))) for p, db in v.gain_db.items()}
            self.mute, self.solo = set(v.mute), set(v.solo)
            self.master_db = max(-120.0, min(24.0, float(v.master_db)))
            self.wet = min(max(float(v.wet), 0.0), 1.0)
        elif k == "toggle_prompt":
            if change.stem in self.stems:
                self.stems.remove(change.stem)
            else:
                self.stems.append(change.stem)
        elif k == "fx":
            if not isinstance(v, (tuple, list)) or len(v) != 2:
                raise ValueError("an fx change is (parameter, value)")
            key, val = check_param(v[0], v[1])
            self.fx.setdefault(str(change.stem), {})[key] = val
        else:
            raise ValueError(f"unknown mix change {k!r}")


class MixState:
    """The gains the worker plays, one row per stem of the model's vocabulary.

    Rows: every vocabulary stem, then ``rest``, ``wet``, ``master``.  A stem outside the
    selection follows ``rest`` (its sound is part of rest).  Target changes turn into
    linear per-sample ramps of ``ramp_samples``.  Changes posted from any thread wait in
    a queue until the worker takes them (``deque`` appends are atomic: no locks).
    """

    def __init__(self, settings: MixSettings, vocabulary: list[str], ramp_samples: int) -> None:
        self.settings = settings
        self.vocabulary = list(vocabulary)
        self.index = {name: i for i, name in enumerate(self.vocabulary)}
        self.rest_row = len(self.vocabulary)
        self.ramp_samples = max(int(ramp_samples), 1)
        self._pending: collections.deque[MixChange] = collections.deque()
        self._current = self._targets()
        self._target = self._current.copy()
        self._ramp_left = 0
        self._step = np.zeros_like(self._current)
        self._dirty = False
        self.changes_applied = 0

    # -- from any thread -------------------------------------------------------------
    def post(self, change: MixChange) -> None:
        self._pending.append(change)

    # -- worker side -----------------------------------------------------------------
    def take_pending(self) -> list[MixChange]:
        out = []
        while self._pending:
            out.append(self._pending.popleft())
        return out

    def apply(self, change: MixChange) -> None:
        self.settings.apply(change)
        self.changes_applied += 1
        self._dirty = True

    def _targets(self) -> np.ndarray:
        s = self.settings
        rest = s.gain(REST)
        rows = [s.gain(n) if n in s.stems else rest for n in self.vocabulary]
        wet = 0.0 if s.bypass else float(np.clip(s.wet, 0.0, 1.0))
        return np.array([*rows, rest, wet, db_to_gain(s.master_db)], dtype=np.float32)

    @property
    def current(self) -> np.ndarray:
        """Gains at the end of the last block handed out."""
        return self._current

    @property
    def ramping(self) -> bool:
        """A ramp is under way, or a change waits to start one."""
        return self._ramp_left > 0 or self._dirty

    @property
    def target(self) -> np.ndarray:
        """Where the ramps are heading."""
        return self._target

    def gains(self, n: int) -> np.ndarray:
        """Gains for the next ``n`` samples: ``(rows, n)``, or ``(rows, 1)`` when constant."""
        if self._dirty:
            self._dirty = False
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
