"""What a live control (OSC, MIDI) can change in a running Session, and reading it back.

A :class:`Target` names one parameter of the mix: ``stem.vocals.gain``, ``stem.2.mute``,
``prompts.toggle.drums``, ``master.gain_db``, ``wet``, ``bypass``, ``preset.next``...
A :class:`MixController` turns values for targets into :class:`MixChange` messages for a
running :class:`~seplive.session.Session` and reads the current values back for
feedback (LEDs, OSC subscribers).  Both transports share it, so a target means the same
thing whether it comes from a fader or a network message.

Stems are addressed by name (aliases allowed: ``voice`` -> ``speech``) or by 1-based
index into :meth:`MixController.stems`: the model's prompt vocabulary in its own order,
then ``rest``.  So ``stem.1`` is ``vocals`` with the ``center`` model and ``speech`` with
TUSS, and the same controller map works with every model.

Nothing here runs on the audio worker: the controller only posts changes (a lock-free
queue append) and reads the settings the worker plays.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..config import did_you_mean
from ..fx.params import PARAMS as FX_SPECS
from ..fx.params import check_param
from ..models.prompts import ALIASES, PROMPTS, REST, canonical
from ..stream.mix import MixChange, MixSettings, db_to_gain

log = logging.getLogger("seplive.control")

#: gains at or below this many dB are silence (the mix clamps to -120 dB)
SILENCE_DB = -120.0

#: parameters of a stem, as written in targets and OSC addresses
STEM_PARAMS = ("gain", "gain_db", "mute", "solo", "select")
#: targets that take a number, those that take on/off, those that just fire
CONTINUOUS = ("gain", "gain_db", "master_gain", "master_gain_db", "wet")
BOOLEAN = ("mute", "solo", "select", "bypass")
TRIGGER = ("preset",)

#: every stem name a file may use without a warning (custom checkpoints may add more)
KNOWN_STEMS = (*PROMPTS, REST, "query")

#: a preset callback: ``on_preset(action, name)`` with action ``load`` / ``next`` /
#: ``prev`` (``name`` only for ``load``); it returns a short message or None and raises
#: ValueError for an unknown preset
PresetCallback = Callable[[str, "str | None"], "str | None"]


class ControlError(ValueError):
    """A control asked for something this session cannot do (unknown stem, bad value)."""


def one_line(text: str, limit: int = 400) -> str:
    """``text`` with control characters escaped (no line breaks, no terminal codes) and
    cut at ``limit`` characters: for messages that quote what a file or a sender said."""
    out = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))
    return out if len(out) <= limit else out[: limit - 3] + "..."


def suggest(word: str, choices: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or an empty string."""
    return did_you_mean(word, choices)


@dataclass(frozen=True)
class Target:
    """One thing a control can change.

    ``param`` is one of :data:`CONTINUOUS`, :data:`BOOLEAN` or :data:`TRIGGER`, or
    ``fx.<effect parameter>`` (continuous, see :mod:`seplive.fx.params`); ``stem``
    (a name, or a 1-based index as a string) is set for stem parameters; ``preset`` is
    ``next``, ``prev`` or ``load:<name>`` for preset targets.
    """

    param: str
    stem: str | None = None
    preset: str | None = None

    @property
    def is_continuous(self) -> bool:
        return self.param in CONTINUOUS or self.is_fx

    @property
    def is_fx(self) -> bool:
        """An effect parameter of a stem (``fx.drums.lowpass``)."""
        return self.param.startswith("fx.")

    @property
    def fx_param(self) -> str:
        return self.param.removeprefix("fx.")

    @property
    def is_boolean(self) -> bool:
        return self.param in BOOLEAN

    @property
    def is_trigger(self) -> bool:
        return self.param in TRIGGER

    @property
    def is_db(self) -> bool:
        """Its value is in dB (``gain_db``, ``master_gain_db``)."""
        return self.param.endswith("_db")

    @property
    def is_gain(self) -> bool:
        """A gain (stem or master), linear or dB."""
        return self.param in ("gain", "gain_db", "master_gain", "master_gain_db")

    def __str__(self) -> str:
        if self.stem is not None:
            if self.is_fx:
                return f"fx.{self.stem}.{self.fx_param}"
            if self.param == "select":
                return f"prompts.toggle.{self.stem}"
            return f"stem.{self.stem}.{self.param}"
        if self.param.startswith("master_"):
            return "master." + self.param.removeprefix("master_")
        if self.param == "preset":
            return "preset." + (self.preset or "").replace(":", ".", 1)
        return self.param


TARGET_FORMS = (
    "stem.<name|index>.gain",
    "stem.<name|index>.gain_db",
    "stem.<name|index>.mute",
    "stem.<name|index>.solo",
    "stem.<name|index>.select",
    "prompts.toggle.<name|index>",
    "fx.<name|index>.<effect parameter>",
    "master.gain",
    "master.gain_db",
    "wet",
    "bypass",
    "preset.next",
    "preset.prev",
    "preset.load.<name>",
)


def check_stem_name(name: str) -> str:
    """Canonical stem key for a file or message: a 1-based index (as a string) or a name.

    Names close to a known one but not equal (``vocls``) are refused with a suggestion;
    other identifiers pass (a custom checkpoint may know them) and are checked against the
    model when the control starts.  Raises :class:`ControlError`.
    """
    text = str(name).strip()
    if text.isascii() and text.isdigit():
        if int(text) < 1:
            raise ControlError(f"stem index {text} is out of range (stems count from 1)")
        return str(int(text))
    key = canonical(text)
    if key in KNOWN_STEMS:
        return key
    if not key or not key.replace("_", "").replace("-", "").isalnum():
        raise ControlError(f"'{text}' is not a stem name{suggest(key, KNOWN_STEMS)}")
    hint = suggest(key, [*KNOWN_STEMS, *ALIASES])
    if hint:
        raise ControlError(f"unknown stem '{text}'{hint}")
    return key


def parse_target(text: str) -> Target:
    """Parse a target string (see :data:`TARGET_FORMS`); raises :class:`ControlError`
    with the nearest valid form when it is not one."""
    if not isinstance(text, str):
        raise ControlError(f"a target is a string like 'stem.vocals.gain', not {type(text).__name__}")
    parts = text.strip().split(".")
    head = parts[0].lower()
    n = len(parts)
    if head == "stem" and n == 3:
        param = parts[2].lower()
        if param not in STEM_PARAMS:
            raise ControlError(f"target '{text}': unknown stem parameter '{parts[2]}'{suggest(param, STEM_PARAMS)}")
        return Target(param, check_stem_name(parts[1]))
    if head == "fx" and n >= 3:
        name = ".".join(parts[2:]).lower()
        try:
            name = check_param(name, FX_SPECS[name].neutral if name in FX_SPECS else 0.0)[0]
        except ValueError as exc:
            raise ControlError(f"target '{text}': {exc}") from None
        return Target("fx." + name, check_stem_name(parts[1]))
    if head == "prompts" and n == 3 and parts[1].lower() == "toggle":
        return Target("select", check_stem_name(parts[2]))
    if head == "master" and n == 2:
        param = parts[1].lower()
        if param not in ("gain", "gain_db"):
            raise ControlError(f"target '{text}': master has 'gain' and 'gain_db'{suggest(param, ('gain', 'gain_db'))}")
        return Target("master_" + param)
    if head in ("wet", "bypass") and n == 1:
        return Target(head)
    if head == "preset" and n == 2 and parts[1].lower() in ("next", "prev"):
        return Target("preset", preset=parts[1].lower())
    if head == "preset" and n >= 3 and parts[1].lower() == "load" and all(parts[2:]):
        return Target("preset", preset="load:" + ".".join(parts[2:]))
    raise ControlError(f"unknown target '{text}'{suggest(text, TARGET_FORMS)}; targets are: {', '.join(TARGET_FORMS)}")


class RateLimitedLog:
    """At most one log line per ``key`` per ``interval_s`` seconds; the next line says
    how many were suppressed.  Keeps a hostile sender from filling the log."""

    def __init__(self, logger: logging.Logger, interval_s: float = 1.0) -> None:
        self.logger = logger
        self.interval_s = interval_s
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self.count = 0

    def __call__(self, key: str, msg: str, *args: Any, level: int = logging.WARNING) -> None:
        self.count += 1
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self.interval_s:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return
        if len(self._last) > 256:  # keys come from the network: keep the table small
            self._last.clear()
            self._suppressed.clear()
        self._last[key] = now
        skipped = self._suppressed.pop(key, 0)
        if skipped:
            msg += " (%d similar lines suppressed)"
            args = (*args, skipped)
        self.logger.log(level, msg, *args)


def settings_snapshot(s: MixSettings) -> MixSettings:
    """A copy of the settings the worker plays, safe to take from any thread (each
    container is copied by one C-level call, which the worker cannot interleave)."""
    return MixSettings(
        stems=list(s.stems),
        gain_db=dict(s.gain_db),
        mute=set(s.mute),
        solo=set(s.solo),
        master_db=float(s.master_db),
        wet=float(s.wet),
        bypass=bool(s.bypass),
        fx={k: dict(v) for k, v in list(s.fx.items())},
    )


def gain_db_of(linear: float) -> float:
    """Linear amplitude -> dB, silence as :data:`SILENCE_DB`."""
    return SILENCE_DB if linear <= 10.0 ** (SILENCE_DB / 20.0) else max(SILENCE_DB, 20.0 * math.log10(linear))


class MixController:
    """Posts changes to a running session's mix and reads its state back (any thread).

    Changes reach the mix at the next hop boundary, so for a short while after posting
    one the settings the worker plays are stale; the controller keeps its own copy with
    its changes applied ("shadow") for ``shadow_s`` seconds (or until the worker has
    caught up), so that a toggle pressed twice quickly flips twice, and LEDs do not
    flicker back.
    """

    def __init__(self, session: Any, origin: str = "control") -> None:
        self.session = session
        #: who sends the changes (shown in the status view): "OSC", "MIDI"...
        self.origin = origin
        engine = session.engine
        self.vocabulary: list[str] = list(dict.fromkeys(session.plugin.prompts))
        hop_s = engine.hop / engine.model_rate
        budget_s = engine.compute_budget / engine.out_rate
        #: how long our own view of changes is trusted over the worker's (seconds)
        self.shadow_s = 0.25 + 4.0 * (hop_s + budget_s)
        self._shadow: MixSettings | None = None
        self._shadow_until = 0.0
        self._lock = threading.Lock()

    # -- names -----------------------------------------------------------------------
    @property
    def stems(self) -> list[str]:
        """Addressable stems in index order: the model's vocabulary, then ``rest``."""
        return [*self.vocabulary, REST]

    def resolve_stem(self, key: str | int) -> str:
        """A stem name for a name, an alias or a 1-based index; raises :class:`ControlError`."""
        text = str(key).strip()
        stems = self.stems
        if text.lstrip("-").isascii() and text.lstrip("-").isdigit():
            i = int(text)
            if 1 <= i <= len(stems):
                return stems[i - 1]
            raise ControlError(f"stem {i} is out of range: this model has stems 1-{len(stems)} ({' '.join(stems)})")
        name = canonical(text)
        if name in stems:
            return name
        raise ControlError(
            f"model '{self.session.plugin.name}' has no stem '{text}'{suggest(name, stems)}; it has: {' '.join(stems)}"
        )

    def resolve(self, target: Target) -> Target:
        """The target with its stem resolved to a name of this model (index -> name)."""
        if target.stem is None:
            return target
        stem = self.resolve_stem(target.stem)
        if target.param == "select" and stem == REST:
            raise ControlError("'rest' is always there: it cannot be selected or deselected")
        if target.is_fx and stem == REST:
            raise ControlError("effects apply to separated stems, not to 'rest'")
        return Target(target.param, stem, target.preset)

    # -- reading -------------------------------------------------------------------------
    def settings(self) -> MixSettings:
        """The mix as it is (or is about to be, after our own pending changes)."""
        truth = settings_snapshot(self.session.engine.mix.settings)
        with self._lock:
            if self._shadow is not None:
                if time.monotonic() < self._shadow_until and truth != self._shadow:
                    return settings_snapshot(self._shadow)
                self._shadow = None
        return truth

    @staticmethod
    def read(settings: MixSettings, target: Target) -> float | bool | None:
        """Current value of a resolved target in ``settings``: linear gain, dB, 0..1
        (wet), or a bool; None for triggers."""
        p, stem = target.param, target.stem
        if target.is_fx:
            name = target.fx_param
            return float(settings.fx.get(stem, {}).get(name, FX_SPECS[name].neutral))
        if p == "gain":
            return db_to_gain(settings.gain_db.get(stem, 0.0))
        if p == "gain_db":
            return float(settings.gain_db.get(stem, 0.0))
        if p == "mute":
            return stem in settings.mute
        if p == "solo":
            return stem in settings.solo
        if p == "select":
            return stem in settings.stems
        if p == "master_gain":
            return db_to_gain(settings.master_db)
        if p == "master_gain_db":
            return float(settings.master_db)
        if p == "wet":
            return float(settings.wet)
        if p == "bypass":
            return bool(settings.bypass)
        return None

    def value(self, target: Target) -> float | bool | None:
        """Current value of a resolved target (see :meth:`read`)."""
        return self.read(self.settings(), target)

    # -- writing -------------------------------------------------------------------------
    def post(self, change: MixChange) -> None:
        """Validate ``change`` against the current mix, post it, and remember it."""
        with self._lock:
            base = self._shadow if self._shadow is not None and time.monotonic() < self._shadow_until else None
            probe = settings_snapshot(base if base is not None else self.session.engine.mix.settings)
            try:
                probe.apply(change)
            except (ValueError, TypeError) as exc:
                raise ControlError(str(exc)) from None
            self._shadow = probe
            self._shadow_until = time.monotonic() + self.shadow_s
        self.session.post(change, origin=self.origin)

    def set(self, target: Target, value: float | bool) -> None:
        """Set a resolved continuous or boolean target.

        Units: ``gain`` / ``master_gain`` linear amplitude (>= 0), ``gain_db`` /
        ``master_gain_db`` dB, ``wet`` 0..1; booleans for the rest.  A stem outside the
        selection that gets a gain, a mute or a solo is added to the selection first (a
        fader for the drums should move the drums).  Raises :class:`ControlError`.
        """
        p, stem = target.param, target.stem
        if target.is_fx:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ControlError(f"{target} takes a number, not {type(value).__name__}")
            if not math.isfinite(float(value)):
                raise ControlError(f"{target}: {value} is not a usable value")
            if self.settings().gain(REST) > 0:  # heard inside rest: separate it (sounds the same)
                self._ensure_selected(stem)
            self.post(MixChange("fx", (target.fx_param, float(value)), stem))
            return
        if p in CONTINUOUS:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ControlError(f"{target} takes a number, not {type(value).__name__}")
            v = float(value)
            if math.isnan(v) or (math.isinf(v) and not (target.is_db and v < 0)):
                raise ControlError(f"{target}: {v} is not a usable value")
            if p in ("gain", "master_gain"):
                if v < 0:
                    raise ControlError(f"{target}: a linear gain is >= 0, got {v}")
                v = gain_db_of(v)
            if target.is_gain:
                v = max(SILENCE_DB, v)
        else:
            v = bool(value)
        if p in ("gain", "gain_db"):
            self._ensure_selected(stem)
            self.post(MixChange("gain_db", v, stem))
        elif p in ("mute", "solo"):
            if v:
                self._ensure_selected(stem)
            self.post(MixChange(p, v, stem))
        elif p == "select":
            if v != (stem in self.settings().stems):
                self.post(MixChange("toggle_prompt", None, stem))
        elif p in ("master_gain", "master_gain_db"):
            self.post(MixChange("master_db", v))
        elif p == "wet":
            self.post(MixChange("wet", min(max(v, 0.0), 1.0)))
        elif p == "bypass":
            self.post(MixChange("bypass", v))
        else:
            raise ControlError(f"{target} cannot be set")

    def toggle(self, target: Target) -> bool:
        """Flip a resolved boolean target; returns the new value."""
        new = not bool(self.value(target))
        self.set(target, new)
        return new

    def set_prompts(self, names: Sequence[str]) -> list[str]:
        """Replace the selection (names, aliases or indices); returns it."""
        stems: list[str] = []
        for n in names:
            s = self.resolve_stem(n)
            if s != REST and s not in stems:
                stems.append(s)
        if not stems:
            raise ControlError("give at least one stem to select (rest is always there)")
        self.post(MixChange("prompts", stems))
        return stems

    def _ensure_selected(self, stem: str | None) -> None:
        if stem is not None and stem != REST and stem not in self.settings().stems:
            self.post(MixChange("toggle_prompt", None, stem))
