"""TOML files of plain values, read with a size and a nesting cap (issue #24).

Presets, the user config, MIDI maps and training configs are read here: a file over
:data:`MAX_TOML_BYTES` or nested deeper than :data:`MAX_TOML_DEPTH` is refused before
tomllib parses it, and every refusal is a one-line :class:`ConfigError` naming the file.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from .errors import ConfigError

#: TOML files (presets, user config, MIDI maps) larger than this are refused unread: the
#: largest shipped one is 4 KB, and parsing 64 KiB takes tomllib ~0.1 s of the GIL
MAX_TOML_BYTES = 64 * 1024
#: tables and arrays nested deeper than this are refused (before tomllib recurses)
MAX_TOML_DEPTH = 16


def _nesting(text: str) -> int:
    """The deepest ``[``/``{`` nesting outside strings and comments (a cheap upper bound)."""
    depth = best = 0
    quote = ""
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if quote:
            if c == "\\" and quote == '"':
                i += 2
                continue
            if text.startswith(quote, i):
                i += len(quote)
                quote = ""
                continue
        elif c in "\"'":
            quote = c * 3 if text.startswith(c * 3, i) else c
            i += len(quote)
            continue
        elif c == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        elif c in "[{":
            depth += 1
            best = max(best, depth)
        elif c in "]}":
            depth = max(0, depth - 1)
        elif c == "\n":
            # a table header's brackets close on its line; unbalanced text is tomllib's to refuse
            pass
        i += 1
    return best


def _depth(value: Any, limit: int) -> int:
    stack = [(value, 1)]
    best = 0
    while stack:
        v, d = stack.pop()
        best = max(best, d)
        if best > limit:
            return best
        if isinstance(v, dict):
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, d + 1) for x in v)
    return best


def loads_toml(text: str, where: str, max_depth: int = MAX_TOML_DEPTH) -> dict[str, Any]:
    """Parse TOML text with a nesting cap; ``ValueError`` (``ConfigError``) names ``where``."""
    if _nesting(text) > max_depth + 2:
        raise ConfigError(f"{where}: nested more than {max_depth} levels deep")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{where}: nested more than {max_depth} levels deep") from None
    if _depth(data, max_depth + 1) > max_depth + 1:
        raise ConfigError(f"{where}: nested more than {max_depth} levels deep")
    return data


def read_toml(path: str | Path, max_bytes: int = MAX_TOML_BYTES, max_depth: int = MAX_TOML_DEPTH) -> dict[str, Any]:
    """Read a TOML file of plain values with a size and a nesting cap (one-line errors)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise ConfigError(f"{path}: {size} bytes is too large for a settings file (at most {max_bytes})")
        with open(path, "rb") as f:
            raw = f.read(max_bytes + 1)
        if len(raw) > max_bytes:
            raise ConfigError(f"{path}: too large for a settings file (at most {max_bytes} bytes)")
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    return loads_toml(text, str(path), max_depth)
