"""Devices that may go away mid-set: the session keeps running and reconnects by itself.

What a lost device looks like depends on the system:

* PulseAudio (reached through ALSA's ``pulse`` plugin with ``PULSE_SINK``/``PULSE_SOURCE``):
  when the named sink or source disappears, PulseAudio silently *moves* the stream to its
  fallback device and PortAudio never reports an error.  Captured audio then comes from
  the wrong device (often the very sink seplive plays to: feedback), and playback goes
  to other speakers.  So a named Pulse device is watched by name (``pactl``), and when
  the name vanishes its stream is closed as if it had failed.
* Anything else (an ALSA card, JACK): the stream stops delivering or stops being active.

A :class:`ResilientSource` then delivers silence, paced by the wall clock (the device's
clock is gone), and a :class:`ResilientSink` drops what it is given; both count the
loss.  A watcher thread (never the audio worker) reopens the device when it is back, and
the worker picks the new stream up at its next block.  The session never ends because a
device went away.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from . import devices
from .devices import DeviceChoice

log = logging.getLogger("seplive.audio")

#: how often the watcher looks at the devices (seconds)
WATCH_INTERVAL_S = 0.25
#: how often a lost device is tried again (seconds)
RETRY_INTERVAL_S = 0.5
#: a live input that delivers nothing for this long is lost (seconds)
INPUT_TIMEOUT_S = 2.0
#: a reopened input must deliver within this to count as back (seconds)
TRIAL_TIMEOUT_S = 0.3


class _NoStream:
    """Stands in for a closed PortAudio stream (rtmixer's ``actions`` set)."""

    actions: frozenset = frozenset()


class _Resilient:
    """What sources and sinks share: the current stream, loss bookkeeping, reopening."""

    kind = ""

    def __init__(self, choice: DeviceChoice, opener: Callable[[], Any], first: Any | None = None) -> None:
        self.choice = choice
        self._opener = opener
        self._lock = threading.Lock()
        self._inner = first if first is not None else opener()
        self._template = self._inner
        self.path = self._inner.path
        #: what messages call it (the user's words: "PulseAudio sink 'x'", a device name)
        self.name = choice.description or self.path
        self.losses = 0
        self.reconnects = 0
        self.lost_s = 0.0
        self._lost_at: float | None = None
        self._lost_reason = ""
        self._next_try = 0.0
        self.events: list[str] = []

    # -- state ---------------------------------------------------------------------------
    @property
    def lost(self) -> bool:
        return self._lost_at is not None

    @property
    def _stream(self):
        inner = self._inner
        return inner._stream if inner is not None else _NoStream()

    def stats(self):
        inner = self._inner
        if inner is None:
            raise RuntimeError(f"{self.kind} {self.path} is lost")
        return inner.stats()

    def _pulse_name(self) -> str | None:
        return self.choice.env.get("PULSE_SOURCE") or self.choice.env.get("PULSE_SINK")

    def present(self, names: dict[str, list[str]] | None = None) -> bool | None:
        """Whether the named PulseAudio device exists (None: not a Pulse device, or no
        answer from the server; the stream's own state decides then)."""
        name = self._pulse_name()
        if name is None:
            return None
        kind = "sources" if "PULSE_SOURCE" in self.choice.env else "sinks"
        listed = names.get(kind) if names is not None else devices.pulse_names(kind)
        if not listed:  # the server did not answer (busy, or gone): the stream's own state decides
            return None
        return name in listed

    def mark_lost(self, reason: str) -> None:
        """Called by the worker or the watcher: close the stream, start counting."""
        with self._lock:
            if self._lost_at is not None:
                return
            self._lost_at = time.monotonic()
            self._lost_reason = reason
            self.losses += 1
            inner, self._inner = self._inner, None
            self._next_try = self._lost_at + RETRY_INTERVAL_S
            if inner is not None:
                self._retire(inner)
        msg = f"{self.kind} lost: {self.name}: {reason}; {self._while_lost}; reconnecting when it is back"
        self.events.append(msg)
        log.warning("%s", msg)
        if inner is not None:
            try:
                inner.close(ok=False) if self.kind == "output" else inner.close()
            except Exception as exc:  # a vanished device may refuse to close
                log.debug("closing lost %s: %s", self.kind, exc)

    def try_reopen(self, now: float, present: bool | None) -> bool:
        """Watcher thread: reopen a lost device once it is present again.  An input is
        only *back* once the new stream delivers audio (see :meth:`_confirm`)."""
        if self._lost_at is None or self._inner is not None or now < self._next_try or present is False:
            return False
        self._next_try = now + RETRY_INTERVAL_S
        try:
            new = self._opener()
        except Exception as exc:  # still gone, or busy: try again later
            log.debug("reopening %s %s: %s", self.kind, self.path, exc)
            return False
        with self._lock:
            self._inner = new
        if self.kind == "output":
            self._confirm()
        return True

    def _confirm(self) -> None:
        """The reopened stream works: the device is back."""
        with self._lock:
            if self._lost_at is None:
                return
            gone = time.monotonic() - self._lost_at
            self.lost_s += gone
            self._lost_at = None
            self.reconnects += 1
        msg = f"{self.kind} back: {self.name} after {gone:.1f} s"
        self.events.append(msg)
        log.warning("%s", msg)

    def _drop_trial(self) -> None:
        """A reopened stream that does not work after all: close it, try again later."""
        with self._lock:
            inner, self._inner = self._inner, None
            self._next_try = time.monotonic() + RETRY_INTERVAL_S
            if inner is not None:
                self._retire(inner)
        if inner is not None:
            try:
                inner.close(ok=False) if self.kind == "output" else inner.close()
            except Exception as exc:
                log.debug("closing %s on trial: %s", self.kind, exc)

    def _retire(self, inner: Any) -> None:
        """Keep the counters of a stream that is being replaced."""

    def check(self, names: dict[str, list[str]] | None) -> None:
        """Watcher thread: notice a loss the worker cannot see, reopen when back."""
        here = self.present(names)
        inner = self._inner
        if inner is not None and self._lost_at is not None:  # on trial after a reopen
            if here is False:
                self._drop_trial()
        elif inner is not None:
            if here is False:
                self.mark_lost("it disappeared (PulseAudio moved the stream to another device)")
            elif getattr(inner, "_action", True) is not None and not getattr(inner._stream, "active", True):
                self.mark_lost("the stream stopped (device error)")
        else:
            self.try_reopen(time.monotonic(), here)

    _while_lost = ""


class ResilientSource(_Resilient):
    """A :class:`~seplive.stream.audio_io.DeviceSource` that outlives its device."""

    kind = "input"
    _while_lost = "feeding silence"

    def __init__(self, choice: DeviceChoice, opener: Callable[[], Any], first: Any | None = None) -> None:
        super().__init__(choice, opener, first)
        t = self._template
        self.sample_rate = t.sample_rate
        self.channels = t.channels
        self.blocksize = t.blocksize
        self.frames = -1
        self.subtype = t.subtype
        self.latency_s = t.latency_s
        self.max_backlog = t.max_backlog
        self.position = 0
        self._skipped_before = 0
        self._clock: float | None = None  # wall-clock pacing while lost

    def _retire(self, inner: Any) -> None:
        self._skipped_before += inner.skipped_frames

    @property
    def skipped_frames(self) -> int:
        inner = self._inner
        return self._skipped_before + (inner.skipped_frames if inner is not None else 0)

    @property
    def backlog(self) -> int:
        inner = self._inner
        return inner.backlog if inner is not None else 0

    def read(self, frames: int) -> np.ndarray:
        inner = self._inner
        if inner is not None:
            trial = self._lost_at is not None
            try:
                block = inner.read(frames, timeout=TRIAL_TIMEOUT_S if trial else INPUT_TIMEOUT_S)
            except Exception as exc:  # TimeoutError, or a stream closed or failed under us
                if trial:
                    self._drop_trial()
                elif inner is self._inner:
                    self.mark_lost(f"no audio for {INPUT_TIMEOUT_S:.1f} s" if isinstance(exc, TimeoutError)
                                   else f"stream error: {exc}")
            else:
                if trial:
                    self._confirm()
                self._clock = None
                self.position += frames
                return block
        # lost: silence at the stream's rate, paced by the wall clock
        now = time.monotonic()
        if self._clock is None or now - self._clock > 0.5:
            self._clock = now
        self._clock += frames / self.sample_rate
        if self._clock > now:
            time.sleep(self._clock - now)
        self.position += frames
        return np.zeros((frames, self.channels), np.float32)

    def close(self) -> None:
        with self._lock:
            inner, self._inner = self._inner, None
        if inner is not None:
            inner.close()


class ResilientSink(_Resilient):
    """A :class:`~seplive.stream.audio_io.DeviceSink` that outlives its device."""

    kind = "output"
    _while_lost = "dropping its audio (files and other outputs go on)"

    def __init__(self, choice: DeviceChoice, opener: Callable[[], Any], first: Any | None = None) -> None:
        super().__init__(choice, opener, first)
        t = self._template
        self.channels = t.channels
        self.stream_rate = t.stream_rate
        self.device_rate = t.device_rate
        self.latency_s = t.latency_s
        self.target = t.target
        self.frames = 0
        self.dropped_while_lost = 0
        self._counts = {"drift_corrections": 0, "underflow_restarts": 0, "dropped_frames": 0, "trimmed_frames": 0, "clipped": 0}
        self._last_fill: float | None = None

    def _sum(self, key: str) -> int:
        inner = self._inner
        return self._counts[key] + (getattr(inner, key) if inner is not None else 0)

    drift_corrections = property(lambda self: self._sum("drift_corrections"))
    underflow_restarts = property(lambda self: self._sum("underflow_restarts"))
    dropped_frames = property(lambda self: self._sum("dropped_frames"))
    trimmed_frames = property(lambda self: self._sum("trimmed_frames"))
    clipped = property(lambda self: self._sum("clipped"))

    @property
    def queued(self) -> int:
        inner = self._inner
        # lost: nothing waits on a device, so the model keeps its usual time (no misses)
        return inner.queued if inner is not None else self.target

    @property
    def settled_fill(self) -> float:
        inner = self._inner
        if inner is not None:
            return inner.settled_fill
        # closed or lost: the last stream's own figure (the report is made after close)
        return self._last_fill if self._last_fill is not None else float(self.target)

    def write(self, block: np.ndarray) -> None:
        failed = None
        with self._lock:
            inner = self._inner
            if inner is None:
                self.dropped_while_lost += len(block)
            else:
                try:
                    inner.write(block)
                except Exception as exc:  # PortAudio refused: the device went away under us
                    failed = exc
        if failed is not None:
            self.mark_lost(f"stream error: {failed}")
        self.frames += len(block)

    def _retire(self, inner: Any) -> None:
        for key in self._counts:
            self._counts[key] += getattr(inner, key)
        self._last_fill = inner.settled_fill

    def close(self, ok: bool = True) -> None:
        with self._lock:
            inner, self._inner = self._inner, None
            if inner is not None:
                self._retire(inner)
        if inner is not None:
            inner.close(ok=ok)


class DeviceWatcher:
    """A thread that checks every watched device each ``interval`` seconds."""

    def __init__(self, watched: list[_Resilient], interval: float = WATCH_INTERVAL_S, before_check=None) -> None:
        self.watched = watched
        self.interval = interval
        #: called with the PulseAudio names before each round (the routing re-creates its
        #: capture sink there, so the input it feeds comes back like any returning device)
        self.before_check = before_check
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="seplive-devices", daemon=True)

    def start(self) -> None:
        if self.watched:
            self._thread.start()

    def _loop(self) -> None:
        pulse = any(w._pulse_name() for w in self.watched)
        while not self._stop.wait(self.interval):
            names = None
            if pulse:
                names = {kind: devices.pulse_names(kind) for kind in ("sinks", "sources")}
            if self.before_check is not None:
                try:
                    if self.before_check(names) and pulse:
                        names = {kind: devices.pulse_names(kind) for kind in ("sinks", "sources")}
                except Exception as exc:
                    log.warning("%s", exc)
            for w in self.watched:
                try:
                    w.check(names)
                except Exception as exc:  # the watcher must outlive anything a device does
                    log.debug("watching %s: %s", w.path, exc)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)

    def report(self) -> dict[str, Any]:
        return {
            "device_losses": sum(w.losses for w in self.watched),
            "device_reconnects": sum(w.reconnects for w in self.watched),
            "device_lost_s": round(sum(w.lost_s + (time.monotonic() - w._lost_at if w._lost_at else 0.0)
                                       for w in self.watched), 3),
            "device_events": [e for w in self.watched for e in w.events][-20:],
        }
