"""Real-time scheduling for the live threads (the audio loop and the model threads).

A live session's deadlines are a few milliseconds: a compile, a browser tab or a training
run on the other core can take a core away for longer than that.  Audio programs (JACK and
its clients, PipeWire) therefore run their processing threads under ``SCHED_FIFO``.  seplive
asks for it for the calling thread, at a priority below JACK's own (70-80 by default), and
falls back to the normal scheduler when the system does not allow it (on Linux: root, or a
user with an ``rtprio`` limit, as the ``audio`` group usually has).  The kernel's RT
throttling (``sched_rt_runtime_us``, 95 % of each second) keeps a runaway thread from
freezing the machine.
"""

from __future__ import annotations

import os
import threading

#: SCHED_FIFO priority of seplive's live threads (JACK's own run at 70-80)
DEFAULT_PRIORITY = 50

_lock = threading.Lock()
_result: dict[str, str] = {}


def realtime_thread(priority: int = DEFAULT_PRIORITY) -> str:
    """Put the calling thread under SCHED_FIFO at ``priority`` (0: leave it as it is).

    Returns what the thread got, for the report: ``"SCHED_FIFO 50"``, ``"off"``, or
    ``"normal (...why...)"``.  Never raises."""
    if priority <= 0:
        got = "off"
    elif not hasattr(os, "sched_setscheduler"):
        got = "normal (no SCHED_FIFO on this platform)"
    else:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(int(priority)))
            got = f"SCHED_FIFO {int(priority)}"
        except (PermissionError, OSError) as exc:
            got = f"normal (SCHED_FIFO refused: {exc.strerror or exc}; an rtprio limit, e.g. the audio group, allows it)"
    with _lock:
        _result[threading.current_thread().name] = got
    return got


def normal_thread() -> None:
    """Put the calling thread back under the normal scheduler (after a live run)."""
    if hasattr(os, "sched_setscheduler"):
        try:
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        except OSError:
            pass


def granted() -> dict[str, str]:
    """Thread name -> what :func:`realtime_thread` got, for every thread that asked."""
    with _lock:
        return dict(_result)
