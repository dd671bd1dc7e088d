"""Typed field checkers: ``check(value, where) -> the checked value``.

``where`` names the value in messages, ``file: section.key`` (see :func:`located`); a
refusal is a :class:`~seplive.config.errors.ConfigError` of one line, ``where: what``.
Numbers are plain floats or ints in the unit the caller's key names (dB, ms, samples).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .errors import ConfigError
from .suggest import did_you_mean

#: a field checker: (value, where) -> the checked value, or ConfigError
Check = Callable[[Any, str], Any]

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def located(source: str, path: str) -> str:
    """``file: section.key`` (either part may be empty) for the ``where`` of a message."""
    return ": ".join(p for p in (source, path) if p)


def kind_of(v: Any) -> str:
    """What a TOML value is, in words (``a table``, ``a string``...), for messages."""
    return {dict: "a table", list: "an array", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number"}.get(type(v), type(v).__name__)


def check_keys(table: Mapping[str, Any], allowed: Iterable[str], source: str, prefix: str = "") -> None:
    """Refuse the first key of ``table`` not in ``allowed``: ``source: prefix.key: unknown key
    'prefix.key'`` with the nearest allowed one (or the list of them)."""
    allowed = list(allowed)
    for key in table:
        if key not in allowed:
            hint = did_you_mean(key, allowed) or f" (valid: {', '.join(allowed)})"
            raise ConfigError(f"{located(source, prefix + key)}: unknown key {prefix + key!r}{hint}")


def table(v: Any, where: str, like: str = "") -> dict[str, Any]:
    """A TOML table (``like`` shows an example in the message)."""
    if not isinstance(v, dict):
        raise ConfigError(f"{where}: expected a table{like}, got {kind_of(v)}")
    return v


def text(v: Any, where: str) -> str:
    """Non-empty text, stripped."""
    if not isinstance(v, str) or not v.strip():
        raise ConfigError(f"{where}: expected a text value, got {v!r}")
    return v.strip()


def text_list(v: Any, where: str) -> list[str]:
    """A non-empty list of texts; a text value is split at commas (``"a,b"``)."""
    if isinstance(v, str):
        v = [s for s in v.split(",") if s.strip()]
    if not isinstance(v, list) or not v:
        raise ConfigError(f"{where}: expected a list of names, got {v!r}")
    return [text(x, where) for x in v]


def boolean(v: Any, where: str) -> bool:
    """``true`` or ``false`` (a TOML boolean)."""
    if not isinstance(v, bool):
        raise ConfigError(f"{where}: expected true or false, got {v!r}")
    return v


def boolean_text(v: Any, where: str) -> bool:
    """A boolean, or its words (1/0, true/false, yes/no, on/off) as text."""
    if isinstance(v, str) and v.strip().lower() in _TRUE + _FALSE:
        return v.strip().lower() in _TRUE
    return boolean(v, where)


def choice(*choices: str, what: str = "value") -> Check:
    """A checker of one of ``choices`` (exact case), naming the nearest when it is not."""
    def check(v: Any, where: str) -> str:
        s = v.strip() if isinstance(v, str) else v
        if s not in choices:
            raise ConfigError(f"{where}: unknown {what} {s!r}{did_you_mean(s, choices)}; use one of {', '.join(choices)}")
        return s

    return check


def number(lo: float = -math.inf, hi: float = math.inf, *, integer: bool = False, lo_open: bool = False,
           units: bool = False, note: str = "") -> Check:
    """A checker of finite numbers in [lo, hi] (``lo_open``: (lo, hi]); ``integer``: whole
    numbers, returned as int, ranges shown as ``lo-hi``; ``units``: text such as ``"-6 dB"``
    or ``"20ms"`` is read as its number (environment variables); ``note`` ends range errors."""
    def check(v: Any, where: str) -> float:
        if units and isinstance(v, str):
            try:
                v = float(v.strip().lower().removesuffix("db").removesuffix("ms"))
            except ValueError:
                raise ConfigError(f"{where}: expected a number, got {v!r}") from None
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise ConfigError(f"{where}: expected {'an integer' if integer else 'a finite number'}, got {v!r}")
        if integer:
            if float(v) != int(v):
                raise ConfigError(f"{where}: expected an integer, got {v!r}")
            v = int(v)
        if v < lo or v > hi or (lo_open and v == lo):
            span = f"{lo:g}-{hi:g}" if integer else f"{'(' if lo_open else '['}{lo:g}, {hi:g}]"
            raise ConfigError(f"{where}: {v:g} is out of range {span}{note}")
        return v

    return check


def host_port(v: Any, where: str, allow_zero: bool = True) -> tuple[str, int]:
    """``[HOST:]PORT`` -> (host, port), the port in 0..65535 (1.. without ``allow_zero``);
    no host is 127.0.0.1."""
    if isinstance(v, int) and not isinstance(v, bool):
        v = str(v)
    if not isinstance(v, str) or not v.strip():
        raise ConfigError(f"{where}: expected [HOST:]PORT, got {v!r}")
    host, _, p = v.strip().rpartition(":")
    if not p.isdigit():
        raise ConfigError(f"{where}: expected [HOST:]PORT, got {v!r}")
    n, low = int(p), 0 if allow_zero else 1
    if not low <= n <= 65535:
        raise ConfigError(f"{where}: port {n} is out of range [{low}, 65535]")
    return host.strip("[]") or "127.0.0.1", n
