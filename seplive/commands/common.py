"""What several subcommands share: the windowing flags (the same names and units in run
and eval) and one-line output to the terminal."""

from __future__ import annotations

import sys
from typing import Any

#: the window lengths: flag name, what it is (each in model-rate samples, or with -ms in ms)
WINDOW_FLAGS = (
    ("hop", "new samples per model call"),
    ("context", "past samples a windowed model sees"),
    ("lookahead", "future samples it waits for (adds latency)"),
)


def add_windowing(group: Any, default_note: str = "") -> None:
    """``--hop/--context/--lookahead SAMPLES`` (model-rate samples) and ``--hop-ms`` ...
    ``MS`` (milliseconds, converted at the model's rate), one of each pair."""
    for name, what in WINDOW_FLAGS:
        g = group.add_mutually_exclusive_group()
        g.add_argument(f"--{name}", type=int, metavar="SAMPLES", help=what + default_note)
        g.add_argument(f"--{name}-ms", type=float, metavar="MS", help=f"the {name} in milliseconds")


def printable(text: object) -> str:
    """Control characters (ANSI escapes, newlines) shown escaped, never sent to the terminal."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def say(text: str) -> None:
    """A line to stderr that never fails the run (after SIGHUP the terminal may be gone)."""
    try:
        print(text, file=sys.stderr)
    except (OSError, ValueError):
        pass
