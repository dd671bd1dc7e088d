"""A Session = source + engine + model + mix + sinks: the public API behind the CLI.

config.py says what a run needs, build.py and devices.py build it, loop.py runs it,
snapshot.py reports it.

>>> from seplive.session import Session, SessionConfig
>>> report = Session(SessionConfig(input="song.wav", output="karaoke.wav",
...                                model="center", mute=["vocals"])).run()   # doctest: +SKIP
"""

from __future__ import annotations

from .config import STOP_SIGNALS, SessionConfig
from .session import Session

__all__ = ["Session", "SessionConfig", "STOP_SIGNALS"]
