"""The one "did you mean" helper for every unknown name seplive refuses."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

#: how alike a name must be to be suggested (difflib's ratio, 0..1; its default)
CUTOFF = 0.6


def closest(word: object, choices: Iterable[object]) -> str | None:
    """The choice nearest to ``word`` (letter case ignored), or None when none is close."""
    by_lower = {str(c).lower(): str(c) for c in choices}
    near = difflib.get_close_matches(str(word).lower(), list(by_lower), n=1, cutoff=CUTOFF)
    return by_lower[near[0]] if near else None


def did_you_mean(word: object, choices: Iterable[object]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or an empty string."""
    near = closest(word, choices)
    return f" (did you mean '{near}'?)" if near is not None else ""
