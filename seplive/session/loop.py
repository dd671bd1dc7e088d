"""Running a built Session: the block loop (source -> engine -> sinks), the output
deadlines, and the one shutdown every way of stopping runs.  Blocks in source-rate frames,
times in seconds of ``time.monotonic``/``perf_counter``."""

from __future__ import annotations

import json
import logging
import math
import signal
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..stream.files import FileSink
from ..stream.priority import normal_thread, realtime_thread
from .config import STOP_SIGNALS

log = logging.getLogger("seplive")


def run(s: Any) -> dict[str, Any]:
    """Run ``s`` to the end; always closes everything and returns (and writes) the report."""
    # every way of stopping runs the same shutdown below (issue #24): SIGINT, SIGTERM and
    # SIGHUP (the terminal closed) only ask the loop to stop; routing, files, the report follow
    old_handlers = {}
    if threading.current_thread() is threading.main_thread():
        for sig, why in STOP_SIGNALS.items():
            old_handlers[sig] = signal.signal(sig, lambda *_, why=why: s.stop(why))
    ok = False
    started: list = []
    t0 = time.perf_counter()
    try:
        for control in s.config.controls:
            control.start(s)
            started.append(control)
        # the collector's full passes, out of the way of the audio (freeze before the clock starts)
        s.stalls.start(freeze=s.live or s.config.realtime)
        t0 = time.perf_counter()  # the clock starts after the controls: a slow start must not burst
        if s._route is not None:
            s._route.engage()
        s._watch_devices()
        if s.live and s.config.rt_priority:
            got = realtime_thread(s.config.rt_priority)
            if got.startswith("normal"):  # a busy machine can then take the core for a hop or more
                log.warning("real-time scheduling: %s; the audio and model threads run under the normal "
                            "scheduler", got.removeprefix("normal (").removesuffix(")"))
        _loop(s, t0)
        ok = True
    except BaseException as exc:  # a fatal error: the same shutdown, and the report says why
        if not isinstance(exc, KeyboardInterrupt | SystemExit):
            s.stop_reason = s.stop_reason or f"error: {type(exc).__name__}: {exc}"
        raise
    finally:
        s.wall_s = time.perf_counter() - t0
        shutdown(s, started, ok, old_handlers)
    return s.report_written


def _next_block(s: Any, block: int, limit: float, tail: int) -> tuple[np.ndarray, int]:
    """The next input block (short at the end), with ``tail`` frames of silence after the
    input with --align; returns it and the tail still to flush."""
    want = int(min(block, limit - s.frames_in))
    x = s.source.read(want) if want > 0 else np.zeros((0, s.source.channels), np.float32)
    s.frames_in += len(x)
    if (want <= 0 or len(x) < want) and tail > 0:
        # input is over: flush the latency with silence so --align output is whole
        fill = min(block - len(x), tail)
        x = np.concatenate([x, np.zeros((fill, s.source.channels), np.float32)])
        tail -= fill
    return x, tail


def _loop(s: Any, t0: float) -> None:
    cfg, eng = s.config, s.engine
    block, rate = eng.block, s.source.sample_rate
    limit = math.inf if cfg.duration_s is None else int(cfg.duration_s * rate)
    skip = tail = eng.latency_samples if cfg.align else 0
    n = 0
    while not s._stop.is_set():
        x, tail = _next_block(s, block, limit, tail)
        t_in = s.stalls.block_in()
        if len(x) == 0:
            s.stop_reason = s.stop_reason or ("duration reached" if s.frames_in >= limit else "end of input")
            break
        if cfg.realtime:
            delay = t0 + n * block / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        n += 1
        real = len(x)
        if real < block:
            x = np.concatenate([x, np.zeros((block - real, x.shape[1]), np.float32)])
        eng.push(x)
        y = eng.pull(block, deadline(s, block))[:real]
        if skip:
            cut = min(skip, len(y))
            y, skip = y[cut:], skip - cut
        if len(y):
            for sink in s.sinks:
                sink.write(y)
            if s.stem_sinks:
                _write_stems(s.stem_sinks, eng.last_stems[real - len(y) : real])
        s.frames_out += len(y)
        if s.live and n % 64 == 0:
            s.poll_xruns()
        s.stalls.block_out(t_in)


def _write_stems(sinks: list, stems: np.ndarray) -> None:
    """``stems`` (frames, stems + rest, channels), aligned with the main output."""
    frames = len(stems)
    if len(sinks) == 1 and not isinstance(sinks[0], FileSink):
        sinks[0].write(np.ascontiguousarray(stems.reshape(frames, -1)))
    else:
        for i, sink in enumerate(sinks):
            sink.write(np.ascontiguousarray(stems[:, i]))


def deadline(s: Any, block: int) -> float | None:
    """Live: the model may take until the output would run dry (keeping two blocks in
    reserve); files: no waiting (inline) or the pacing clock's own budget.

    Also when the input is behind (a burst from the device, or the loop was held up):
    the output ring still holds what it holds, so waiting for a result that is a
    moment away costs nothing, while giving up at once would play a hop dry that had
    time.  Catching up is the input's business (it skips what is older than its
    backlog limit), and the output's reserve says when waiting would be too late."""
    outs = s._deadline_outs
    if not outs:
        return None
    now = time.monotonic()
    if getattr(s.source, "backlog", 0) > getattr(s.source, "max_backlog", 0) // 2 > 0:
        s.stalls.behind_blocks += 1
    # what waits in our ring, less two blocks in reserve (what the device itself holds
    # is not counted: PortAudio's figure for it is only an estimate); a moment at least,
    # so a result a thread switch away is not missed
    queued = min(d.queued / d.device_rate for d in outs)
    return now + max(0.002, queued - 2.0 * block / s.source.sample_rate)


def shutdown(s: Any, started: list, ok: bool, old_handlers: dict) -> None:
    """The one shutdown every stop runs (end of input, a signal, a fatal error): each step
    runs even if one before it failed; the routing is put back last but surely."""

    def step(what: str, fn, *args) -> None:
        try:
            fn(*args)
        except Exception as exc:  # one failing step must not skip the others
            log.warning("shutdown: %s failed: %s", what, exc)

    step("collector", s.stalls.stop)
    if s._watcher is not None:
        step("device watcher", s._watcher.stop)
    for control in reversed(started):
        step(f"stopping {type(control).__name__}", control.stop)
    step("engine", s.engine.close)
    step("input", s.source.close)
    for sink in s.sinks + s.stem_sinks:
        step(f"closing {getattr(sink, 'path', sink)}", sink.close, ok)
    if s.live:
        step("xrun counts", s.poll_xruns, True)
    if s._route is not None:
        step("restoring the routing", s._route.close)
    for sig, old in old_handlers.items():
        signal.signal(sig, old)
    if s.live and s.config.rt_priority:
        step("scheduling back to normal", normal_thread)
    _write_report(s, ok)


def _write_report(s: Any, ok: bool) -> None:
    s.report_written = {}
    try:
        s.report_written = s.report()
        if s.config.report:
            Path(s.config.report).write_text(json.dumps(s.report_written, indent=2) + "\n")
    except Exception as exc:
        if ok:
            raise
        log.warning("shutdown: the report could not be written: %s", exc)
