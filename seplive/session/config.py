"""The signals that stop a Session run; :class:`SessionConfig` itself lives in
:mod:`seplive.settings` (the one typed settings object) and is re-exported here."""

from __future__ import annotations

import signal

from ..settings import SessionConfig

__all__ = ["STOP_SIGNALS", "SessionConfig"]

#: the signals that stop a run cleanly, and the stop reason each gives
STOP_SIGNALS = {signal.SIGINT: "interrupted (SIGINT)", signal.SIGTERM: "terminated (SIGTERM)"}
if hasattr(signal, "SIGHUP"):
    STOP_SIGNALS[signal.SIGHUP] = "hung up (SIGHUP)"
