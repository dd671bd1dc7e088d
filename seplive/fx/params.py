"""Effect parameters: names, units, ranges, neutral values, and parsing them from TOML
tables, the command line and live controls.

This module needs no DSP library, so presets, the CLI and the controls can check
effect settings even where the ``fx`` extra (pyo) is not installed.

A parameter is addressed as ``<stem>.<param>``; ``param`` is one of :data:`PARAMS`
(dotted for effects with several knobs: ``echo.mix``, ``eq.low``).  Every effect is
off at its neutral value, so a stem with only neutral values costs nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..config import did_you_mean


@dataclass(frozen=True)
class Param:
    """One effect parameter: its range, its neutral (effect off) value, and how a
    ramp moves it (``log`` for frequencies and Q, so a sweep sounds even)."""

    name: str
    unit: str
    lo: float
    hi: float
    neutral: float
    log: bool = False
    help: str = ""

    def clamp(self, v: float) -> float:
        return min(max(float(v), self.lo), self.hi)


#: the chain, in signal order: high-pass -> low-pass -> EQ -> compressor -> echo -> reverb
PARAMS: dict[str, Param] = {
    p.name: p
    for p in (
        Param("highpass", "Hz", 20.0, 20000.0, 20.0, True, "resonant high-pass cutoff (20 = off)"),
        Param("lowpass", "Hz", 20.0, 20000.0, 20000.0, True, "resonant low-pass cutoff (20000 = off)"),
        Param("resonance", "Q", 0.5, 20.0, 0.707, True, "Q of both filters (0.707 = no peak)"),
        Param("eq.low", "dB", -40.0, 12.0, 0.0, False, "low shelf at 250 Hz"),
        Param("eq.mid", "dB", -40.0, 12.0, 0.0, False, "peak at 1 kHz"),
        Param("eq.high", "dB", -40.0, 12.0, 0.0, False, "high shelf at 4 kHz"),
        Param("comp.threshold", "dB", -60.0, 0.0, 0.0, False, "compressor threshold (0 = off)"),
        Param("comp.ratio", ":1", 1.0, 20.0, 4.0, False, "compressor ratio (20 = limiting)"),
        Param("echo.mix", "", 0.0, 1.0, 0.0, False, "echo send level (0 = off)"),
        Param("echo.time", "s", 0.01, 2.0, 0.375, False, "echo delay time"),
        Param("echo.feedback", "", 0.0, 0.95, 0.35, False, "echo feedback"),
        Param("reverb.mix", "", 0.0, 1.0, 0.0, False, "reverb wet/dry balance (0 = off)"),
        Param("reverb.size", "", 0.0, 1.0, 0.5, False, "reverb room size"),
        Param("reverb.damp", "", 0.0, 1.0, 0.5, False, "reverb high damping"),
    )
}
NAMES: tuple[str, ...] = tuple(PARAMS)
#: the effects (stages) and which parameters switch each one on
STAGES: dict[str, tuple[str, ...]] = {
    "highpass": ("highpass",),
    "lowpass": ("lowpass",),
    "eq": ("eq.low", "eq.mid", "eq.high"),
    "comp": ("comp.threshold",),
    "echo": ("echo.mix",),
    "reverb": ("reverb.mix",),
}

#: per-stem settings: stem -> {param: value}; only values that differ from neutral matter
FxSettings = dict[str, dict[str, float]]


def _nearest(word: str, choices) -> str:
    return did_you_mean(word, choices)


def check_param(name: str, value: Any) -> tuple[str, float]:
    """``(canonical name, clamped value)``; raises ValueError with one line naming the
    bad key and the nearest valid one."""
    key = str(name).strip().lower().replace("_", ".").replace("/", ".")
    if key not in PARAMS:
        raise ValueError(f"unknown effect parameter '{name}'{_nearest(key, NAMES)}; parameters: {', '.join(NAMES)}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(str(value))
        except ValueError:
            raise ValueError(f"effect parameter '{key}' takes a number, got {value!r}") from None
    v = float(value)
    if math.isnan(v):
        raise ValueError(f"effect parameter '{key}' is NaN")
    return key, PARAMS[key].clamp(v)


def is_active(params: dict[str, float], stage: str) -> bool:
    """The stage does something with these values (any switching parameter off neutral)."""
    return any(abs(params.get(k, PARAMS[k].neutral) - PARAMS[k].neutral) > 1e-9 for k in STAGES[stage])


def _flatten(table: dict, prefix: str, out: dict[str, Any], where: str) -> None:
    for k, v in table.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict):
            _flatten(v, key, out, where)
        else:
            out[key] = v


def parse_fx_table(mapping: Any, where: str = "fx") -> FxSettings:
    """A TOML/JSON table ``{"drums": {"lowpass": 800, "echo": {"mix": 0.3}}}`` (nested
    tables or dotted keys) -> :data:`FxSettings`.  Stem names are kept as given (the
    model checks them when the session starts).  Raises ValueError (one line)."""
    if not isinstance(mapping, dict):
        raise ValueError(f"{where}: expected a table of stems, like [{where}.drums] lowpass = 800")
    out: FxSettings = {}
    for stem, table in mapping.items():
        if not isinstance(table, dict):
            raise ValueError(f"{where}.{stem}: expected a table of effect parameters, like lowpass = 800")
        flat: dict[str, Any] = {}
        _flatten(table, "", flat, f"{where}.{stem}")
        params = out.setdefault(str(stem).strip().lower(), {})
        for k, v in flat.items():
            try:
                key, val = check_param(k, v)
            except ValueError as exc:
                raise ValueError(f"{where}.{stem}: {exc}") from None
            params[key] = val
    return out


def parse_fx_arg(text: str) -> tuple[str, str, float]:
    """``drums.lowpass=800`` / ``vocals.reverb.mix=0.3`` -> (stem, param, value);
    raises ValueError (one line)."""
    spec, sep, value = str(text).partition("=")
    stem, dot, param = spec.strip().partition(".")
    if not sep or not dot or not stem or not param:
        raise ValueError(f"--fx expects STEM.PARAM=VALUE (e.g. drums.lowpass=800), got '{text}'")
    key, val = check_param(param, value.strip())
    return stem.strip().lower(), key, val


def fx_updates(current: FxSettings, new: FxSettings) -> list[tuple[str, str, float]]:
    """``(stem, param, value)`` changes that take a running mix from ``current`` to
    ``new`` (a preset switch): new values, and neutral values for what ``new`` leaves
    out.  Post each as ``MixChange("fx", (param, value), stem)``; they all ramp."""
    out: list[tuple[str, str, float]] = []
    for stem in dict.fromkeys([*current, *new]):
        old, want = current.get(stem, {}), new.get(stem, {})
        for param in dict.fromkeys([*old, *want]):
            value = want.get(param, PARAMS[param].neutral)
            if old.get(param, PARAMS[param].neutral) != value:
                out.append((stem, param, float(value)))
    return out


def merge_fx(base: FxSettings, stem: str, param: str, value: float) -> None:
    base.setdefault(stem, {})[param] = value


def describe() -> str:
    """The parameter table, for docs and ``--help``."""
    rows = [f"{p.name:16s} {p.unit:3s} {p.lo:g}..{p.hi:g} (off/neutral {p.neutral:g}) {p.help}" for p in PARAMS.values()]
    return "\n".join(rows)
